/**
 * `portcullis check`, and how `portcullis` refuses to start, as users run them: a real process, its exit
 * code and what it prints.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createPrivateKey, KeyObject, webcrypto, X509Certificate } from 'node:crypto'
import { existsSync, statSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { runCheck } from '../../src/cli/check.js'
import { displayPath } from '../../src/config/file-paths.js'
import { ConfigError, type ConfigIssue } from '../../src/config/issues.js'
import { printProblems } from '../../src/cli/problems.js'
import { RUN_CLI, runPortcullis, spawnPortcullis } from '../helpers/cli.js'

const INTERNAL_ERROR_IMPORT = fileURLToPath(new URL('../helpers/internal-error-import.mjs', import.meta.url))
import { eventually } from '../helpers/gateway.js'
import { createTestCA, issueTestCert, makeTestPki, type TestPki } from '../helpers/pki.js'
import { peculiarX509 } from '../../src/tls/peculiar.js'

interface Outcome {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

function portcullis(...args: string[]): Promise<Outcome> {
  return portcullisWithEnv({}, ...args)
}

function portcullisWithEnv(env: Record<string, string>, ...args: string[]): Promise<Outcome> {
  return portcullisAs({ env }, ...args)
}

/** Run with `env` added, as user `uid` (and its group) and in folder `cwd` when given. */
async function portcullisAs({ env = {}, uid, cwd }: { env?: Record<string, string>; uid?: number; cwd?: string }, ...args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [...RUN_CLI, ...args], {
      env: { ...process.env, ...env },
      ...(cwd !== undefined && { cwd }),
      ...(uid !== undefined && { uid, gid: uid }),
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string }
    return { code, stdout, stderr }
  }
}

/** Each case with what `run` resolved with for it, the runs all at once: a process of portcullis takes a second or more to start. */
function runEach<C, R>(cases: readonly C[], run: (each: C) => Promise<R>): Promise<[C, R][]> {
  return Promise.all(cases.map(async (each) => [each, await run(each)] as [C, R]))
}

/**
 * `portcullis check FILE` without a process of its own: the function the command runs, its exit code
 * and its lines as the command prints them. For the tests whose subject is the report, not the command
 * line: a process each cost the suite some 25 s, and more than a minute on a busy machine, where the
 * 120 s that --test-timeout gives each test file as a whole ran out.
 */
async function checkInProcess(file: string): Promise<Outcome> {
  let stdout = ''
  let stderr = ''
  const code = await runCheck(file, (line) => (stdout += `${line}\n`), (line) => (stderr += `${line}\n`))
  return { code, stdout, stderr }
}

describe('portcullis check', () => {
  let pki: TestPki
  const good = () => `listen:
  https: 127.0.0.1:8443
routes:
  - host: a.test
    tls:
      cert: srv.crt
      key: srv.key
      clientCAs: caAB.crt
    upstream:
      url: https://127.0.0.1:9443
      ca: caS.crt
      timeouts:
        connect: 2s
`
  /** `portcullis check FILE`, run as a user runs it. */
  const command = (file: string) => portcullis('check', file)
  const check = async (name: string, yaml: string, run: (file: string) => Promise<Outcome> = checkInProcess) => {
    const file = join(pki.dir, `${name}.yaml`)
    await writeFile(file, yaml)
    return { file, ...(await run(file)) }
  }

  before(async () => {
    pki = await makeTestPki()
    const garbled = '-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n'
    await writeFile(join(pki.dir, 'garbled.crl'), garbled)
    await writeFile(join(pki.dir, 'good-then-garbled.crl'), pki.crlRootEmpty.pem + garbled)
    await writeFile(join(pki.dir, 'caS-and-expired.crt'), pki.caS.cert + pki.caExpired.cert)
    await writeFile(join(pki.dir, 'srv-and-expired.crt'), pki.srv.cert + pki.caExpired.cert)
    await writeFile(join(pki.dir, 'ca-then-srv.crt'), pki.caS.cert + pki.srv.cert)
    await writeFile(join(pki.dir, 'caS-and-cut.crt'), pki.caS.cert + pki.caExpired.cert.slice(0, 200))
    await writeFile(join(pki.dir, 'root-and-int.crt'), pki.root.cert + pki.int.cert)
    await writeFile(join(pki.dir, 'caA-and-key.pem'), pki.caA.cert + pki.caA.key)
    // No extensions at all, as `openssl x509 -req -signkey` makes a root (a version 1 certificate).
    await writeFile(join(pki.dir, 'v1-ca.crt'), (await createTestCA({ commonName: 'V1 CA', basicConstraints: 'none', keyUsage: [] })).cert)
    const encrypted = createPrivateKey(pki.srv.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' })
    await writeFile(join(pki.dir, 'srv-encrypted.key'), encrypted)
    await writeFile(join(pki.dir, 'cliA-encrypted.key'), createPrivateKey(pki.cliA.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }))
    await writeFile(join(pki.dir, 'srv.der'), new X509Certificate(pki.srv.cert).raw)
    await writeFile(join(pki.dir, 'root-crl.der'), Buffer.from(pki.crlRootEmpty.pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'))
    // Reading a FIFO blocks until a writer comes: it must be refused, not read.
    await promisify(execFile)('mkfifo', [join(pki.dir, 'pipe.crt')])
    // RSA-768: OpenSSL's default security level refuses keys under 1024 bits ("ee key too small"), and
    // portcullis' own check any RSA key under 2048, before OpenSSL sees it.
    const rsa768 = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 768, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
    const keys = (await webcrypto.subtle.generateKey(rsa768, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
    const validity = { notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 3_600_000) }
    const weak = await peculiarX509().X509CertificateGenerator.createSelfSigned({ name: 'CN=weak', keys, signingAlgorithm: rsa768, ...validity })
    await writeFile(join(pki.dir, 'rsa768.crt'), weak.toString('pem'))
    const request = await peculiarX509().Pkcs10CertificateRequestGenerator.create({ name: 'CN=a.test', keys, signingAlgorithm: rsa768 })
    await writeFile(join(pki.dir, 'srv.csr'), request.toString('pem'))
    await writeFile(join(pki.dir, 'rsa768.key'), KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }))
    await symlink('loop-b.crt', join(pki.dir, 'loop-a.crt'))
    await symlink('loop-a.crt', join(pki.dir, 'loop-b.crt'))
  })
  after(() => pki.cleanup())

  it('exits 0 on a good config', async () => {
    const result = await check('good', good(), command)
    assert.equal(result.code, 0, result.stderr)
  })

  it('checks the file of the directory npm was run from, run as `npm run portcullis -- check routes.yaml`', async () => {
    // Two routes: the checkout's own routes.yaml has one.
    await writeFile(join(pki.dir, 'routes.yaml'), good() + good().split('routes:\n')[1]!.replace('a.test', 'b.test'))
    const checkout = new URL('../..', import.meta.url).pathname
    const { stdout } = await promisify(execFile)('npm', ['--prefix', checkout, 'run', '-s', 'portcullis', '--', 'check', 'routes.yaml'], { cwd: pki.dir })
    assert.equal(stdout, 'routes.yaml: ok (2 routes)\n')
  })

  // The files that would hang or exhaust the test process were they read are checked by the command
  // ('cli'), in a process of its own.
  const cases: [string, (yaml: string) => string, RegExp, 'cli'?][] = [
    ['broken YAML', (y) => y.replace('  https: 127.0.0.1:8443', '  https: [127.0.0.1:8443'), /:\d+:\d+/],
    ['an alias without its anchor as a key', (y) => y.replace('    tls:\n', '    *nope : x\n    tls:\n'), /:5:5 routes\[0\]: invalid YAML: \*nope is an alias, and no &nope anchor comes before it$/m],
    ['an unquoted wildcard host (a YAML alias)', (y) => y.replace('host: a.test', 'host: *.a.test'), /:4:11 routes\[0\]\.host: invalid YAML: \*\.a\.test is an alias.*must be quoted: "\*\.a\.test"/],
    ['an unknown key', (y) => y.replace('      connect: 2s', '      conect: 2s'), /:13:\d+ routes\[0\]\.upstream\.timeouts\.conect: unknown key/],
    ['a missing file', (y) => y.replace('ca: caS.crt', 'ca: missing.crt'), /:11:11 routes\[0\]\.upstream\.ca.*missing\.crt/],
    // catalogue IM-06
    ['a leaf certificate in a CA bundle', (y) => y.replace('clientCAs: caAB.crt', 'clientCAs: cliA.crt'), /:8:18 routes\[0\]\.tls\.clientCAs.*cliA\.crt.*not a CA/i],
    ['a self-signed certificate whose basicConstraints say it is no CA, in a CA bundle (catalogue IM-06)', (y) => y.replace('clientCAs: caAB.crt', 'clientCAs: notCa.crt'), /:8:18 routes\[0\]\.tls\.clientCAs: .*notCa\.crt holds a certificate that is not a CA \(CN=Not a CA\)$/m],
    ['a CA certificate without basicConstraints, in a CA bundle, with how to issue it again', (y) => y.replace('clientCAs: caAB.crt', 'clientCAs: v1-ca.crt'), /:8:18 routes\[0\]\.tls\.clientCAs: .*v1-ca\.crt holds a certificate that is not a CA \(CN=V1 CA\): it has no basicConstraints extension, and a CA's must say cA=true \(RFC 5280 4\.2\.1\.9\); issue it again on the same key with one, as openssl req -x509 -key … -addext "basicConstraints=critical,CA:TRUE" or openssl x509 -req … -extfile <\(printf "basicConstraints=critical,CA:TRUE"\) writes it$/m],
    ['a key that does not match its certificate', (y) => y.replace('key: srv.key', 'key: cliA.key'), /:7:12 routes\[0\]\.tls\.key: .*cliA\.key is not the private key of .*srv\.crt: they are of different pairs; name the key the certificate was issued for/],
    // Node 20 serves it, Node 24 refuses it with OpenSSL's code alone (ee key too small), as clients at security level 2 do.
    ['an RSA key of 1024 bits', (y) => y.replace('cert: srv.crt', 'cert: weakRsa.crt').replace('key: srv.key', 'key: weakRsa.key'), /:7:12 routes\[0\]\.tls\.key: .*weakRsa\.key is an RSA key of 1024 bits, under 2048: make a new key and certificate/],
    ['a chain written leaf last', (y) => y.replace('cert: srv.crt', 'cert: ca-then-srv.crt'), /:7:12 routes\[0\]\.tls\.key: .*srv\.key is not the private key of .*ca-then-srv\.crt \(it is the key of certificate 2 in that file, CN=[^:]+: put it first, then its intermediates\)/],
    // catalogue UM-03: no passphrase setting (README, tls.key)
    ['an encrypted key', (y) => y.replace('key: srv.key', 'key: srv-encrypted.key'), /:7:12 routes\[0\]\.tls\.key: .*srv-encrypted\.key holds no readable private key \(it is encrypted/],
    ['a bad duration', (y) => y.replace('connect: 2s', 'connect: 2 seconds'), /:13:18 routes\[0\]\.upstream\.timeouts\.connect/],
    // OpenSSL verifies up to a self-signed root of the bundle: one of intermediates alone verifies nothing.
    ['a CA bundle of intermediates only', (y) => y.replace('clientCAs: caAB.crt', 'clientCAs: int.crt'), /:8:18 routes\[0\]\.tls\.clientCAs: .*int\.crt holds no root CA \(a self-signed one\), only intermediates: no chain verifies without its root; add the root CA to the file$/m],
    ['a CA bundle of expired CAs only', (y) => y.replace('ca: caS.crt', 'ca: caExpired.crt'), /:11:11 routes\[0\]\.upstream\.ca: .*caExpired\.crt holds only expired CA certificates/],
    ['a bad URL', (y) => y.replace('url: https://127.0.0.1:9443', 'url: htps//nowhere'), /:10:12 routes\[0\]\.upstream\.url/],
    ['a CRL OpenSSL cannot parse', (y) => y.replace('clientCAs: caAB.crt', 'clientCAs: caAB.crt\n      crl: garbled.crl'), /:9:12 routes\[0\]\.tls\.crl: .*garbled\.crl holds a CRL that cannot be parsed/],
    ['a CRL list with a bad entry', (y) => y.replace('clientCAs: caAB.crt', 'clientCAs: caAB.crt\n      crl: [garbled.crl]'), /:9:13 routes\[0\]\.tls\.crl\[0\]: .*garbled\.crl holds a CRL/],
    ['a FIFO where a certificate belongs, without hanging', (y) => y.replace('cert: srv.crt', 'cert: pipe.crt'), /:6:13 routes\[0\]\.tls\.cert: cannot read .*pipe\.crt: not a regular file/, 'cli'],
    // The CA before the cut was read, and the cut one lost without a word.
    ['a CA bundle cut short', (y) => y.replace('ca: caS.crt', 'ca: caS-and-cut.crt'), /:11:11 routes\[0\]\.upstream\.ca: .*caS-and-cut\.crt holds a -----BEGIN CERTIFICATE----- line without its -----END CERTIFICATE----- line: the file is cut short$/m],
    // Said without a byte of the key: the regexps end at the end of the line.
    ['a private key where the certificate belongs', (y) => y.replace('cert: srv.crt', 'cert: srv.key'), /:6:13 routes\[0\]\.tls\.cert: \S*srv\.key holds a private key, not a certificate$/m],
    ['a certificate where the key belongs', (y) => y.replace('key: srv.key', 'key: srv.crt'), /:7:12 routes\[0\]\.tls\.key: \S*srv\.crt holds a certificate, not a private key$/m],
    ['a private key where the upstream client certificate belongs', (y) => y.replace('ca: caS.crt', 'ca: caS.crt\n      cert: cliA.key\n      key: cliA.key'), /:12:13 routes\[0\]\.upstream\.cert: \S*cliA\.key holds a private key, not a certificate$/m],
    ['a DER certificate', (y) => y.replace('cert: srv.crt', 'cert: srv.der'), /:6:13 routes\[0\]\.tls\.cert: .*srv\.der holds no PEM certificate; if it is DER, convert it: openssl x509 -inform DER/],
    // A CA's distribution point serves its CRL in DER (RFC 5280 4.2.1.13): what the CRL alerts' runbook fetches.
    ['a DER CRL', (y) => y.replace('ca: caS.crt', 'ca: root.crt\n      crl: root-crl.der'), /:12:12 routes\[0\]\.upstream\.crl: .*root-crl\.der holds no PEM CRL; if it is DER, convert it: openssl crl -inform DER -in \S*root-crl\.der -out crl\.pem$/m],
    // openssl req -new writes server.csr beside the key, and the CA's server.crt lands beside it.
    ['a certificate request where the certificate belongs', (y) => y.replace('cert: srv.crt', 'cert: srv.csr'), /:6:13 routes\[0\]\.tls\.cert: \S*srv\.csr holds no PEM certificate; it is a certificate signing request \(CSR\): name the certificate the CA signed from it$/m],
    ['a certificate request where the key belongs', (y) => y.replace('key: srv.key', 'key: srv.csr'), /:7:12 routes\[0\]\.tls\.key: \S*srv\.csr holds no readable private key; it is a certificate signing request \(CSR\): name the private key it was made with$/m],
    ['a device where a CA bundle belongs', (y) => y.replace('ca: caS.crt', 'ca: /dev/zero'), /:11:11 routes\[0\]\.upstream\.ca: cannot read \/dev\/zero: not a regular file/, 'cli'],
    ['a folder where a CA bundle belongs', (y) => y.replace('ca: caS.crt', 'ca: /tmp'), /:11:11 routes\[0\]\.upstream\.ca: cannot read \/tmp: is a directory, not a file/, 'cli'],
    ['an encrypted upstream client key (catalogue UM-03)', (y) => y.replace('ca: caS.crt', 'ca: caS.crt\n      cert: cliA.crt\n      key: cliA-encrypted.key'), /:13:12 routes\[0\]\.upstream\.key: .*cliA-encrypted\.key holds no readable private key \(it is encrypted/],
    // The connector makes its TLS context at each connection: check passed it, and every request got 502.
    ['an upstream client key OpenSSL refuses', (y) => y.replace('ca: caS.crt', 'ca: caS.crt\n      cert: rsa768.crt\n      key: rsa768.key'), /:13:12 routes\[0\]\.upstream\.key: .*rsa768\.key is an RSA key of 768 bits, under 2048/],
    ['a loop of symbolic links, not called missing', (y) => y.replace('cert: srv.crt', 'cert: loop-a.crt'), /:6:13 routes\[0\]\.tls\.cert: cannot read \S*\/loop-a\.crt: a loop of symbolic links$/m],
    ['a bad second CRL in one file', (y) => y.replace('clientCAs: caAB.crt', 'clientCAs: caAB.crt\n      crl: good-then-garbled.crl'), /good-then-garbled\.crl holds CRL 2 of 2 that cannot be parsed/],
    // OpenSSL checks the CRL of every CA of a chain, its root's too: every client would be refused.
    ['a CRL of a CA the route does not trust', (y) => y.replace('clientCAs: caAB.crt', 'clientCAs: caAB.crt\n      crl: crlOther.crl'), /:9:12 routes\[0\]\.tls\.crl: .*crlOther\.crl holds no CRL of a root CA of .*caAB\.crt \(CN=Test Client CA A; CN=Test Client CA B\), in its name and signed by its key, only CRLs of CN=Unrelated CA: OpenSSL checks the CRL of every CA of a chain, its root's too, so every client certificate would be refused; add the root CA's CRL$/m],
    ['an upstream CRL without upstream.ca', (y) => y.replace('      ca: caS.crt\n', '      crl: crlRootEmpty.crl\n'), /:11:12 routes\[0\]\.upstream\.crl: needs upstream\.ca: OpenSSL checks the CRL of every CA of the upstream's chain, its root's too, so they must be CAs whose CRLs you hold, not the built-in roots$/m],
    ['a missing upstream CRL', (y) => y.replace('ca: caS.crt', 'ca: root.crt\n      crl: [crlRootEmpty.crl, missing.crl]'), /:12:\d+ routes\[0\]\.upstream\.crl\[1\]: file not found: \S*\/missing\.crl$/m],
    ['an upstream CRL OpenSSL cannot parse', (y) => y.replace('ca: caS.crt', 'ca: root.crt\n      crl: garbled.crl'), /:12:12 routes\[0\]\.upstream\.crl: .*garbled\.crl holds a CRL that cannot be parsed/],
    ['an upstream CRL of a CA the route does not trust', (y) => y.replace('ca: caS.crt', 'ca: caS.crt\n      crl: crlOther.crl'), /:12:12 routes\[0\]\.upstream\.crl: .*crlOther\.crl holds no CRL of a root CA of .*caS\.crt \(CN=Test Server CA\), in its name and signed by its key, only CRLs of CN=Unrelated CA: OpenSSL checks the CRL of every CA of a chain, its root's too, so every upstream certificate would be refused; add the root CA's CRL$/m],
    ["CRLs without the root CA's", (y) => y.replace('clientCAs: caAB.crt', 'clientCAs: root.crt\n      crl: [crlIntEmpty.crl, crlOther.crl]'), /:9:7 routes\[0\]\.tls\.crl: .*crlIntEmpty\.crl, .*crlOther\.crl hold no CRL of a root CA of .*root\.crt \(CN=Test Root CA\), in its name and signed by its key, only CRLs of CN=Test Intermediate CA; CN=Unrelated CA: /],
  ]
  for (const [what, edit, expected, where] of cases) {
    it(`exits 1 on ${what}, naming file:line:col, key path and reason`, async () => {
      const result = await check(what.replaceAll(' ', '-'), edit(good()), where === 'cli' ? command : checkInProcess)
      assert.equal(result.code, 1)
      assert.ok(result.stderr.includes(result.file), result.stderr)
      assert.match(result.stderr, expected)
    })
  }

  // What Windows and Java tools export: one file of the certificate and its key, named for both.
  it('exits 1 on a PKCS#12 file, saying how to write its certificate and key as PEM', async (t) => {
    const p12 = join(pki.dir, 'srv.p12')
    const made = await promisify(execFile)('openssl', ['pkcs12', '-export', '-in', join(pki.dir, 'srv.crt'), '-inkey', join(pki.dir, 'srv.key'), '-passout', 'pass:', '-out', p12]).then(
      () => true,
      () => false,
    )
    if (!made) return t.skip('openssl cannot make a PKCS#12 file here (is it installed?)')
    const result = await check('pkcs12', good().replace('cert: srv.crt', 'cert: srv.p12').replace('key: srv.key', 'key: srv.p12'), checkInProcess)
    assert.equal(result.code, 1)
    const how = 'it is a PKCS#12 file \\(\\.p12, \\.pfx\\): write its certificate, then its intermediates, as PEM with openssl pkcs12 -in \\S*srv\\.p12 -clcerts -nokeys -out cert\\.pem && .* -nocerts -nodes -out key\\.pem \\(add -legacy for one of older Windows or Java tools\\)$'
    assert.match(result.stderr, new RegExp(`:6:13 routes\\[0\\]\\.tls\\.cert: \\S*srv\\.p12 holds no PEM certificate; ${how}`, 'm'))
    assert.match(result.stderr, new RegExp(`:7:12 routes\\[0\\]\\.tls\\.key: \\S*srv\\.p12 holds no readable private key; ${how}`, 'm'))
  })

  // A certificate in a folder the gateway's user may not enter (a Secret volume mounted 0700 for root,
  // the image run as another user) was reported as "file not found": the user looked for a typo.
  it('exits 1 on files the user may not reach, saying permission denied rather than not found', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-perm-'))
    const closed = join(dir, 'closed')
    await mkdir(closed)
    await writeFile(join(closed, 'srv.crt'), pki.srv.cert)
    await writeFile(join(closed, 'srv.key'), pki.srv.key)
    await chmod(closed, 0)
    t.after(async () => {
      await chmod(closed, 0o700)
      await rm(dir, { recursive: true, force: true })
    })
    const file = join(dir, 'routes.yaml')
    await writeFile(file, 'listen: { https: 127.0.0.1:8443 }\nroutes:\n  - host: a.test\n    tls: { cert: closed/srv.crt, key: closed/srv.key }\n    upstream: { url: http://127.0.0.1:9080 }\n')
    // root enters any folder: the check runs as nobody then, to whom the rest of the files are open.
    const root = process.getuid?.() === 0
    if (root) await Promise.all([chmod(dir, 0o755), chmod(file, 0o644)])
    const result = await portcullisAs(root ? { uid: 65534 } : {}, 'check', file)
    assert.equal(result.code, 1, result.stderr)
    const denied = 'permission denied on a folder of its path, for the user the gateway runs as'
    assert.ok(result.stderr.includes(`:4:18 routes[0].tls.cert: cannot read ${join(closed, 'srv.crt')}: ${denied}\n`), result.stderr)
    assert.match(result.stderr, /:4:39 routes\[0\]\.tls\.key: cannot read \S*\/closed\/srv\.key: permission denied/)
    assert.doesNotMatch(result.stderr, /not found/)
    // Reading them fails too, for the same reason: not a problem of its own.
    assert.match(result.stderr, /: 2 problems\n$/)
  })

  // A key mounted root-owned 0600 in a container that runs the gateway as uid 1000 was said as
  // `cannot read …/server.key: EACCES: permission denied, open '…/server.key'`: whose the file is, and
  // who asked, were left to find out.
  it('exits 1 on a key or routes.yaml it may not read, saying who it runs as and whose the file is', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-perm-'))
    const closedDir = join(dir, 'closed')
    await mkdir(closedDir)
    t.after(async () => {
      await chmod(closedDir, 0o700)
      await rm(dir, { recursive: true, force: true })
    })
    const [cert, key, routes, unreadable, inClosed] = ['srv.crt', 'srv.key', 'routes.yaml', 'unreadable.yaml', 'closed/routes.yaml'].map((name) => join(dir, name)) as [string, string, string, string, string]
    await writeFile(cert, pki.srv.cert)
    await writeFile(key, pki.srv.key)
    const yaml = 'listen: { https: 127.0.0.1:8443 }\nroutes:\n  - host: a.test\n    tls: { cert: srv.crt, key: srv.key }\n    upstream: { url: http://127.0.0.1:9080 }\n'
    await writeFile(routes, yaml)
    await writeFile(unreadable, yaml)
    await writeFile(inClosed, yaml)
    // root reads any file: the check runs as nobody then, to whom only the folder and the 0644 files are open.
    const root = process.getuid?.() === 0
    const closed = root ? 0o600 : 0
    await Promise.all([chmod(dir, 0o755), chmod(cert, 0o644), chmod(routes, 0o644), chmod(key, closed), chmod(unreadable, closed), chmod(inClosed, 0o644)])
    await chmod(closedDir, 0)
    const as = root ? { uid: 65534 } : {}
    const [keyRun, configRun, folderRun] = await Promise.all([portcullisAs(as, 'check', routes), portcullisAs(as, 'check', unreadable), portcullisAs(as, 'check', inClosed)])
    const [uid, gid] = root ? [65534, 65534] : [process.getuid?.(), process.getgid?.()]
    const { uid: owner, gid: group } = statSync(key)
    const mode = closed.toString(8).padStart(3, '0')
    const denied = `permission denied (portcullis runs as uid ${uid}, gid ${gid}; the file is owned by ${owner}:${group}, mode ${mode})`
    assert.equal(keyRun.code, 1, keyRun.stderr)
    assert.equal(keyRun.stderr, `${routes}:4:32 routes[0].tls.key: cannot read ${key}: ${denied}\n${routes}: 1 problem\n`)
    assert.equal(configRun.code, 1, configRun.stderr)
    assert.equal(configRun.stderr, `${unreadable}: cannot read the config: ${denied}\n${unreadable}: 1 problem\n`)
    // A folder it may not enter: the file, which it cannot stat, has no owner or mode to tell.
    assert.equal(folderRun.code, 1, folderRun.stderr)
    assert.equal(folderRun.stderr, `${inClosed}: cannot read the config: permission denied on a folder of its path (portcullis runs as uid ${uid}, gid ${gid})\n${inClosed}: 1 problem\n`)
  })

  /** The warnings `check` prints for a config it passes: it exits 0 with them. */
  const warningsOf = async (name: string, yaml: string) => {
    const result = await check(name, yaml)
    assert.equal(result.code, 0, result.stderr)
    return result.stderr.split('\n').filter((line) => line.startsWith('warning: '))
  }

  it('warns about certificates that peers will refuse and about skipped verification, and still exits 0', async () => {
    const warnings = await warningsOf(
      'warnings',
      `listen:
  https: 127.0.0.1:8443
  http: 127.0.0.1:8080
routes:
  - host: a.test
    tls: { cert: upExpired.crt, key: upExpired.key }
    upstream: { url: 'https://127.0.0.1:9443', cert: cliServerEku.crt, key: cliServerEku.key, insecureSkipVerify: true }
  - host: x.w.test
    tls: { cert: srv-and-expired.crt, key: srv.key }
    upstream: { url: 'https://127.0.0.1:9443', ca: caS-and-expired.crt, cert: cliA.crt, key: cliA.key }
  - host: b.test
    tls: { cert: cliA.crt, key: cliA.key }
    upstream: { url: 'http://127.0.0.1:9080' }
  - host: c.test
    tls: { cert: cliA2.crt, key: cliA2.key }
    upstream: { url: 'http://127.0.0.1:9080' }
  - { host: p.test, upstream: { url: 'http://127.0.0.1:9080' } }
  - { host: p.test, path: /x, upstream: { url: 'http://127.0.0.1:9081' } }
  - host: open.test
    tls: { cert: srv.crt, key: srv.key, clientCAs: root.crt, crl: [crlRootEmpty.crl, crlRootStale.crl] }
    upstream: { url: 'http://127.0.0.1:9080' }
  - host: b.w.test
    tls: { cert: srv.crt, key: srv.key, clientCAs: root-and-int.crt, crl: crlRootEmpty.crl }
    upstream: { url: 'http://127.0.0.1:9080' }
  - host: d.test
    upstream: { url: 'https://127.0.0.1:9443', ca: root-and-int.crt, crl: [crlRootStale.crl] }
  - host: e.test
    upstream: { url: 'https://127.0.0.1:9443', ca: root.crt, crl: crlRootEmpty.crl, insecureSkipVerify: true }
  - host: f.w.test
    tls: { cert: srv.crt, key: srv.key, clientCAs: caA-and-key.pem }
    upstream: { url: 'http://127.0.0.1:9080' }
`,
    )
    const expected = [
      /:6:18 routes\[0\]\.tls\.cert: expired on \S+; clients will refuse it$/,
      /:6:18 routes\[0\]\.tls\.cert: does not name a\.test \(it names DNS:up\.test, DNS:localhost, IP Address:127\.0\.0\.1\)$/,
      /:7:54 routes\[0\]\.upstream\.cert: is not for TLS clients/,
      /:7:115 routes\[0\]\.upstream\.insecureSkipVerify: upstream certificate verification is off$/,
      /:9:18 routes\[1\]\.tls\.cert: holds an intermediate that expired on \S+ \(CN=Expired CA\); clients will refuse the chain$/,
      /:10:52 routes\[1\]\.upstream\.ca: holds a CA certificate that expired on \S+ \(CN=Expired CA\); chains through it will not verify$/,
      /:12:18 routes\[2\]\.tls\.cert: does not name b\.test/,
      /:12:18 routes\[2\]\.tls\.cert: is not for TLS servers/,
      /:15:18 routes\[3\]\.tls\.cert: does not name c\.test \(it names CN=carol\)$/,
      /:15:18 routes\[3\]\.tls\.cert: has no subjectAltName: browsers and Go clients refuse a host named only in the CN \(RFC 6125 6\.4\.4\); sign it again with one that names c\.test: openssl x509 -req … -extfile <\(printf "subjectAltName=DNS:c\.test"\)$/,
      /:15:18 routes\[3\]\.tls\.cert: is not for TLS servers/,
      /:18:5 routes\[5\]: has the same name as routes\[4\] \(p\.test\), so their metrics and logs are one; give each a name$/,
      /:20:86 routes\[6\]\.tls\.crl\[1\]: holds a CRL whose nextUpdate passed on \S+; every client certificate it covers is refused until it is replaced$/,
      /:23:\d+ routes\[7\]\.tls\.crl: has no CRL of CN=Test Intermediate CA, a CA of tls\.clientCAs: every client certificate whose chain runs through it is refused$/,
      /:26:\d+ routes\[8\]\.upstream\.crl: has no CRL of CN=Test Intermediate CA, a CA of upstream\.ca: every upstream certificate whose chain runs through it is refused$/,
      /:26:\d+ routes\[8\]\.upstream\.crl\[0\]: holds a CRL whose nextUpdate passed on \S+; every upstream certificate it covers is refused until it is replaced$/,
      // nginx ignores proxy_ssl_crl without a word when proxy_ssl_verify is off.
      /:28:\d+ routes\[9\]\.upstream\.insecureSkipVerify: upstream certificate verification is off, so upstream\.crl is not checked either: a revoked upstream certificate is accepted$/,
      // The key is never read, nor written in the warning.
      /:30:\d+ routes\[10\]\.tls\.clientCAs: holds a private key beside its CA certificates; the gateway reads only the certificates, and whoever can read a CA's key can issue certificates it trusts: keep the key off the gateway$/,
    ]
    assert.equal(warnings.length, expected.length, warnings.join('\n'))
    expected.forEach((pattern, i) => assert.match(warnings[i]!, pattern))
  })

  // The ngrok recipe names every CA it makes ExampleCA: "has no CRL of CN=ExampleCA" beside the CRL of
  // a CN=ExampleCA did not say which of the two was meant.
  it('names a CA without its CRL by its place in the bundle where another CA of the bundle has its name', async () => {
    const twin = await createTestCA({ commonName: 'Test Root CA' })
    await writeFile(join(pki.dir, 'root-and-twin.crt'), pki.root.cert + twin.cert)
    const warnings = await warningsOf(
      'namesake',
      `listen: { https: 127.0.0.1:8443 }
routes:
  - host: a.test
    tls: { cert: srv.crt, key: srv.key, clientCAs: root-and-twin.crt, crl: crlRootEmpty.crl }
    upstream: { url: 'http://127.0.0.1:9080' }
`,
    )
    assert.deepEqual(warnings.map((line) => line.replace(/^.*?\.yaml:/, '')), [
      '4:76 routes[0].tls.crl: has no CRL of CN=Test Root CA (certificate 2 of the file, which holds another CA of that name), a CA of tls.clientCAs: every client certificate whose chain runs through it is refused',
    ])
  })

  // certbot's cert.pem named where its fullchain.pem belongs: curl, Go and Node clients refuse the chain.
  it('warns about a served certificate without the intermediate that issued it, where that is known', async () => {
    const root = await createTestCA({ commonName: 'Chain Root CA' })
    const int = await createTestCA({ commonName: 'Chain Intermediate CA', issuer: root })
    const leafOf = (caIssuers?: string) => issueTestCert(int, { commonName: 'a.test', dnsNames: ['a.test', 'b.test'], usage: 'server', ...(caIssuers && { caIssuers }) })
    const [leaf, published] = await Promise.all([leafOf(), leafOf('http://int.example/ca.crt')])
    await writeFile(join(pki.dir, 'chain-root-and-int.crt'), root.cert + int.cert)
    await writeFile(join(pki.dir, 'int-leaf.crt'), leaf.cert)
    await writeFile(join(pki.dir, 'int-leaf-full.crt'), leaf.cert + int.cert)
    await writeFile(join(pki.dir, 'int-leaf.key'), leaf.key)
    await writeFile(join(pki.dir, 'published-leaf.crt'), published.cert)
    await writeFile(join(pki.dir, 'published-leaf.key'), published.key)
    const route = (host: string, tls: string) => `  - { host: ${host}, tls: { ${tls} }, upstream: { url: 'http://127.0.0.1:9080' } }\n`
    const warningsOfRoutes = async (name: string, routes: string) =>
      (await warningsOf(name, `listen: { https: 127.0.0.1:8443 }\nroutes:\n${routes}`)).map((line) => line.replace(/^.*?\.yaml:\d+:\d+ /, ''))
    const fix = "append its certificate after CN=a.test (a full chain: the certificate, then its intermediates, as certbot's fullchain.pem)"
    // The config's own bundle holds the intermediate; b.test serves it after its certificate.
    assert.deepEqual(
      await warningsOfRoutes('intermediate-known', route('a.test', 'cert: int-leaf.crt, key: int-leaf.key, clientCAs: chain-root-and-int.crt') + route('b.test', 'cert: int-leaf-full.crt, key: int-leaf.key')),
      [`routes[0].tls.cert: leaves out CN=Chain Intermediate CA, the intermediate CA that issued CN=a.test: clients that trust only its root refuse the chain; ${fix}`],
    )
    // The certificate names where its issuer is published; b.test's issuer is in no file, nor published: nothing is known.
    assert.deepEqual(await warningsOfRoutes('intermediate-published', route('a.test', 'cert: published-leaf.crt, key: published-leaf.key') + route('b.test', 'cert: int-leaf.crt, key: int-leaf.key')), [
      `routes[0].tls.cert: leaves out CN=Chain Intermediate CA, which issued CN=a.test and is no root of Node's trust store (Mozilla's): clients other than browsers do not fetch it from the certificate's caIssuers, and refuse the chain; ${fix}`,
    ])
  })

  // The README's ngrok example sent its route to https://127.0.0.1:8443, the gateway's own port in the
  // demo: requests came back to the same route until limits.requests answered 503, and nothing said why.
  it('warns about an upstream url that is the gateway\'s own listener, where the route would take its requests again', async () => {
    const warnings = await warningsOf(
      'own-listener',
      `listen: { https: 0.0.0.0:8443, http: 127.0.0.1:8080 }
routes:
  - host: a.test
    tls: { cert: srv.crt, key: srv.key }
    upstream: { url: 'https://127.0.0.1:8443', ca: caS.crt, serverName: a.test }
  - { host: b.test, upstream: { url: 'http://localhost:8080' } }
  - { host: c.test, upstream: { url: 'http://127.0.0.1:8080/internal' } }
  - { host: d.test, upstream: { url: 'http://127.0.0.1:9080' } }
`,
    )
    const loop = "what the route forwards comes back into the gateway, where the same route takes it again (a loop, which only limits end)"
    assert.deepEqual(
      warnings.map((line) => line.replace(/^warning: \S+?(:\d+:\d+ )/, '$1')),
      [
        `:5:22 routes[0].upstream.url: https://127.0.0.1:8443 is this gateway's own listen.https: ${loop}`,
        `:6:38 routes[1].upstream.url: http://localhost:8080 is this gateway's own listen.http: ${loop}`,
      ],
    )
  })

  it('warns about trusted sources that take every address, which lets any client name another', async () => {
    const warnings = await warningsOf(
      'trust-everyone',
      `listen: { http: 127.0.0.1:8080 }
proxyProtocol: { trustedIPs: [10.0.0.0/8, '::/0'] }
forwardedFor: { trustedIPs: [0.0.0.0/0] }
routes:
  - { host: a.test, upstream: { url: 'http://127.0.0.1:9080' } }
`,
    )
    const advice = 'list only your balancers, unless nothing else can reach the gateway'
    assert.deepEqual(
      warnings.map((line) => line.replace(/^warning: \S+?(:\d+:\d+ )/, '$1')),
      [
        `:2:43 proxyProtocol.trustedIPs[1]: trusts every IPv6 address: any client that reaches the gateway can name another address in a PROXY header; ${advice}`,
        `:3:30 forwardedFor.trustedIPs[0]: trusts every IPv4 address: any client that reaches the gateway can name another address in its X-Forwarded-For; ${advice}`,
      ],
    )
  })

  it('exits 2, with the usage, on a word it does not expect', async () => {
    for (const [args, result] of await runEach([['check', 'routes.yaml', 'extra'], ['certs', 'certs'], ['chek']], (args) => portcullis(...args))) {
      assert.equal(result.code, 2, args.join(' '))
      assert.match(result.stderr, /^(unexpected argument|unknown command) '(extra|certs|chek)'( \(did you mean check\?\))?\n\nUsage:/)
    }
  })

  it('exits 2, with the usage, on an option or command it does not know, naming the one meant', async () => {
    const cases = [
      [['--confg', 'routes.yaml'], "unknown option '--confg' (did you mean --config?)"],
      [['certs', '--froce'], "unknown option '--froce' (did you mean --force?)"],
      [['-x'], "unknown option '-x'"],
      [['chek'], "unknown command 'chek' (did you mean check?)"],
      [['my-routes.yaml'], "unknown command 'my-routes.yaml' (to run the gateway with it: portcullis --config my-routes.yaml)"],
      // `caddy run`: this gateway runs with no command.
      [['run', '--config', 'routes.yaml'], "unknown command 'run': the gateway runs with no command (portcullis [--config FILE] [--workers N|auto])"],
    ] as const
    for (const [[args, message], result] of await runEach(cases, ([args]) => portcullis(...args))) {
      assert.equal(result.code, 2, args.join(' '))
      assert.ok(result.stderr.startsWith(`${message}\n\nUsage:`), result.stderr)
    }
  })

  it('shows every option of certs in its usage line', async () => {
    assert.match((await portcullis('--help')).stdout, /^ {2}portcullis certs \[--out DIR\] \[--force\]$/m)
  })

  it('exits 2, with the usage, on an option the command would ignore or an empty config file name', async () => {
    const cases = [
      [['check', 'routes.yaml', '--force'], '--force is not an option of check'],
      // One of the two files would go unchecked.
      [['check', 'routes.yaml', '--config', 'other.yaml'], 'check takes one config file, not both routes.yaml and --config other.yaml'],
      [['certs', '--config', 'x.yaml'], '--config is not an option of certs'],
      [['--out', 'certs'], '--out is not an option of the gateway'],
      [['check', ''], 'the config file name is empty'],
      [['--config', ''], 'the config file name is empty'],
    ] as const
    for (const [[args, message], result] of await runEach(cases, ([args]) => portcullis(...args))) {
      assert.equal(result.code, 2, args.join(' '))
      assert.ok(result.stderr.startsWith(`${message}\n\nUsage:`), result.stderr)
    }
  })

  // `PORTCULLIS_CONFIG: ${CONFIG}` in a Compose file with CONFIG unset: read as the file '', said as
  // ": cannot read the config: ENOENT: no such file or directory, stat ''", with no file name at all.
  it('exits 2, with the usage, on a PORTCULLIS_CONFIG that is empty, where no config file is named', async () => {
    const results = await runEach([['check'], []], (args) => portcullisWithEnv({ PORTCULLIS_CONFIG: '' }, ...args))
    for (const [args, result] of results) {
      assert.equal(result.code, 2, args.join(' '))
      assert.ok(result.stderr.startsWith('PORTCULLIS_CONFIG is empty: set it to the config file, or unset it for ./routes.yaml\n\nUsage:'), result.stderr)
    }
    const named = await portcullisWithEnv({ PORTCULLIS_CONFIG: '' }, 'check', join(pki.dir, 'missing.yaml'))
    assert.equal(named.code, 1, 'a file named on the command line is the one checked')
  })

  // check bound nothing and looked nothing up: a listen host that does not resolve passed it, and the
  // start failed on it (nginx -t says "host not found in "x" of the "listen" directive").
  it('exits 1 on a listen host that does not resolve, at its key, in the words a start fails with, listed with the other problems', async () => {
    const yaml = good().replace('https: 127.0.0.1:8443', 'https: nowhere.invalid:8443\n  admin: localhost:9901').replace('ca: caS.crt', 'ca: missing.crt')
    const result = await check('unresolved-listen', yaml)
    assert.equal(result.code, 1)
    const lines = result.stderr.replaceAll(pki.dir, '').split('\n')
    assert.match(lines[0]!, /^\/unresolved-listen\.yaml:2:10 listen\.https: cannot listen on nowhere\.invalid:8443: getaddrinfo (ENOTFOUND|EAI_AGAIN) nowhere\.invalid$/, result.stderr)
    assert.match(lines[1]!, /:12:11 routes\[0\]\.upstream\.ca: file not found: \S*\/missing\.crt$/, result.stderr)
    assert.deepEqual(lines.slice(2), ['/unresolved-listen.yaml: 2 problems', ''])
  })

  // A path in routes.yaml is read from routes.yaml's folder: run from another, the message said
  // `missing.crt`, which the user then looked for beside them.
  it('names a file it cannot find by where it looked, from the folder it runs in', async () => {
    const folder = basename(pki.dir)
    await writeFile(join(pki.dir, 'from-parent.yaml'), good().replace('ca: caS.crt', 'ca: missing.crt'))
    const result = await portcullisAs({ cwd: dirname(pki.dir) }, 'check', join(folder, 'from-parent.yaml'))
    assert.equal(result.code, 1)
    assert.ok(result.stderr.startsWith(`${folder}/from-parent.yaml:11:11 routes[0].upstream.ca: file not found: ${folder}/missing.crt\n`), result.stderr)
  })

  // Run from / (systemd's default), a path relative to it read as relative to routes.yaml's folder.
  it('names a file by its absolute path when it runs in /', async () => {
    await writeFile(join(pki.dir, 'from-root.yaml'), good().replace('ca: caS.crt', 'ca: missing.crt'))
    const result = await portcullisAs({ cwd: '/' }, 'check', join(pki.dir, 'from-root.yaml'))
    assert.equal(result.code, 1)
    assert.ok(result.stderr.startsWith(`${pki.dir}/from-root.yaml:11:11 routes[0].upstream.ca: file not found: ${pki.dir}/missing.crt\n`), result.stderr)
  })

  it('says which file it cannot read', async () => {
    const result = await portcullis('check', join(pki.dir, 'missing.yaml'))
    assert.equal(result.code, 1)
    assert.match(result.stderr, /^\S+missing\.yaml: cannot read the config: ENOENT/)
  })

  it('lists every error at once', async () => {
    const yaml = good().replace('connect: 2s', 'connect: 2 seconds').replace('ca: caS.crt', 'ca: missing.crt').replace('host:', 'hots:')
    const result = await check('many', yaml)
    assert.equal(result.code, 1)
    assert.ok(result.stderr.split('\n').filter((line) => line.startsWith(pki.dir)).length >= 2, result.stderr)
  })

  // 90 unclosed brackets printed 90 lines, one per level; the first, the cause, scrolled away.
  it('lists the first YAML errors of an unclosed nesting exactly, and counts the rest in one line', async () => {
    const result = await check('unclosed', `${good()}x-deep: ${'['.repeat(90)}\n`)
    assert.equal(result.code, 1)
    assert.equal(
      result.stderr,
      [9, 10, 11, 12, 13].map((col, depth) => `${result.file}:14:${col} x-deep${'[0]'.repeat(depth)}: invalid YAML: the list opened here has no closing ]\n`).join('') +
        `${result.file}:14:13: invalid YAML: … and 85 more YAML errors, not listed; the first is often the cause of the rest\n` +
        `${result.file}: 90 problems\n`,
    )
  })

  // Fuzzer: a bug that a config ran into (a tag on an empty YAML key) was printed as
  // `portcullis: TypeError: …` and its stack, where every other error is one line; a reload of such a
  // file logged it without its file. Each bug is injected here (test/helpers/internal-error-import.mjs).
  it('says a bug in one line, without its stack but at debug, while reading the config or after', async () => {
    const file = join(pki.dir, 'internal-error.yaml')
    await writeFile(file, good())
    const withBug = (where: string, env: Record<string, string> = {}) =>
      portcullisWithEnv({ NODE_OPTIONS: `--import=${INTERNAL_ERROR_IMPORT}`, PORTCULLIS_TEST_THROW_IN: where, ...env }, 'check', file)
    const [reading, after, afterAtDebug] = await Promise.all([withBug('compose'), withBug('stdout'), withBug('stdout', { PORTCULLIS_LOG_LEVEL: 'debug' })])
    assert.deepEqual([reading.code, reading.stderr], [1, `${file}: internal error reading the config: TypeError: injected for a test (please report it)\n${file}: 1 problem\n`])
    assert.deepEqual([after.code, after.stderr], [1, 'portcullis: internal error: TypeError: injected for a test (please report it)\n'])
    assert.equal(afterAtDebug.code, 1)
    assert.match(afterAtDebug.stderr, /^portcullis: internal error: TypeError: injected for a test \(please report it\)\nTypeError: injected for a test\n {4}at /)
  })

  it('lists the problems of the files in the same run as those of the rules', async () => {
    const yaml = good().replace('ca: caS.crt', 'ca: missing.crt').replace('key: srv.key', 'key: cliA.key').replace('clientCAs: caAB.crt', 'clientCAs: cliA.crt')
    const result = await check('stages', yaml)
    assert.equal(result.code, 1)
    const problems = result.stderr.split('\n').filter((line) => line.startsWith(pki.dir) && line.includes(' routes['))
    assert.deepEqual(
      problems.map((line) => line.split(' ')[1]),
      ['routes[0].tls.key:', 'routes[0].tls.clientCAs:', 'routes[0].upstream.ca:'],
      result.stderr,
    )
    assert.ok(result.stderr.endsWith(': 3 problems\n'), result.stderr)
  })

  // The files were read tls first, then upstream, and their problems listed in that order.
  it('lists the problems of the files in file order, a route written upstream first too', async () => {
    const yaml = `listen:
  https: 127.0.0.1:8443
routes:
  - host: a.test
    upstream:
      url: https://127.0.0.1:9443
      ca: cliA.crt
    tls:
      cert: srv.crt
      key: cliA.key
`
    const result = await check('file-order', yaml)
    assert.equal(result.code, 1)
    const problems = result.stderr.split('\n').filter((line) => line.startsWith(pki.dir) && line.includes(' routes['))
    assert.deepEqual(problems.map((line) => line.split(' ')[1]), ['routes[0].upstream.ca:', 'routes[0].tls.key:'], result.stderr)
  })

  /** The problem lines of `stderr` without the config's folder, its count line, and a hint under them. */
  const problemLines = (result: Outcome & { file: string }) => result.stderr.replaceAll(pki.dir, '').split('\n').filter(Boolean)

  // A fresh checkout has no certs/: check listed the six files the demo's routes.yaml names there, and
  // nothing of how to make them. The hint under other missing files, that `portcullis certs --out DIR`
  // writes a development PKI, showed under /etc/portcullis/tls/tls.crt too (a Secret not mounted), and misled.
  it("says how to make the demo's missing files, asks about a volume where the folders are missing too, and says nothing otherwise", async () => {
    const demoCerts = fileURLToPath(new URL('../../certs', import.meta.url))
    const dir = displayPath(demoCerts)
    const demoHint = `hint: these files are the demo's development PKI: npm run demo writes it to ${dir}/ before it starts, and portcullis certs --out ${dir} writes it without starting the demo`
    // The demo's files are there once the demo has run: its hint is checked with the issues a load would find without them.
    const hintsOf = (...files: string[]) => {
      const issue = (file: string, i: number): ConfigIssue => ({ file: 'routes.yaml', path: `routes[${i}].tls.cert`, message: 'file not found', aboutFile: file, kind: 'missing-file' })
      const lines: string[] = []
      printProblems(new ConfigError(files.map(issue)), 'routes.yaml', (line) => lines.push(line))
      return lines.filter((line) => line.startsWith('hint: '))
    }
    assert.deepEqual(hintsOf(join(demoCerts, 'server.crt'), join(demoCerts, 'gateway.key')), [demoHint])
    assert.deepEqual(hintsOf(join(demoCerts, 'server.crt'), join(demoCerts, 'absent.key')), [], 'a file the demo does not write')
    const other = await check('absent-certs', good().replace('cert: srv.crt', 'cert: absent.crt').replace('key: srv.key', 'key: absent.key').replace('ca: caS.crt', 'ca: absent-ca.crt'))
    assert.deepEqual(problemLines(other).slice(-1), ['/absent-certs.yaml: 3 problems'])
    const unmounted = await check('unmounted', good().replace('cert: srv.crt', 'cert: tls/tls.crt').replace('key: srv.key', 'key: tls/tls.key'))
    assert.deepEqual(problemLines(unmounted).slice(-2), ['/unmounted.yaml: 2 problems', 'hint: the folders of these files do not exist either: is the volume or Secret meant to hold them mounted?'])
    const one = await check('unmounted-one', good().replace('ca: caS.crt', 'ca: /no-such-folder/ca.crt'))
    assert.deepEqual(problemLines(one).slice(-1), ['hint: the folder of this file does not exist either: is the volume or Secret meant to hold it mounted?'])
    // Pasted PEM with a / in it names no folder.
    const pasted = await check('pasted', good().replace('key: srv.key', 'key: "-----BEGIN PRIVATE KEY-----\\nMIG/AgEA\\n-----END PRIVATE KEY-----"'))
    assert.deepEqual(problemLines(pasted).slice(-2), [
      '/pasted.yaml:7:12 routes[0].tls.key: file not found: this is PEM content; write the path of a file that holds it',
      '/pasted.yaml: 1 problem',
    ])
    const crl = await check('absent-crl', good().replace('clientCAs: caAB.crt', 'clientCAs: root.crt\n      crl: absent.crl'))
    assert.deepEqual(problemLines(crl).slice(-1), ['/absent-crl.yaml: 1 problem'])
  })

  // check printed no warning while the config had a problem, where nginx -t prints its warnings beside
  // its errors: a certificate that did not name its host went unsaid until a missing key was found.
  it('lists the warnings known beside the problems, after them, and still exits 1', async () => {
    const warned = good().replace('host: a.test', 'host: c.test')
    const names = 'DNS:a.test, DNS:b.test, DNS:open.test, DNS:*.w.test, DNS:localhost, IP Address:127.0.0.1'
    const notNamed = (name: string) => `warning: /${name}.yaml:6:13 routes[0].tls.cert: does not name c.test (it names ${names})`
    const cases = [
      ['warned-missing-key', warned.replace('key: srv.key', 'key: missing.key'), '7:12 routes[0].tls.key: file not found: /missing.key'],
      ['warned-other-key', warned.replace('key: srv.key', 'key: up.key'), '7:12 routes[0].tls.key: /up.key is not the private key of /srv.crt'],
      ['warned-unresolved', warned.replace('https: 127.0.0.1:8443', 'https: nowhere.invalid:8443'), '2:10 listen.https: cannot listen on nowhere.invalid:8443: getaddrinfo'],
    ] as const
    for (const [[name, , problem], result] of await runEach(cases, ([name, yaml]) => check(name, yaml))) {
      assert.equal(result.code, 1, result.stderr)
      const [first, ...rest] = problemLines(result)
      assert.ok(first!.startsWith(`/${name}.yaml:${problem}`), result.stderr)
      assert.deepEqual(rest.slice(0, 2), [notNamed(name), `/${name}.yaml: 1 problem`], result.stderr)
    }
    // A value the schema refused is read as its default: warnings of that config could be of one never written.
    const refused = await check('warned-refused', warned.replace('connect: 2s', 'connect: 2 parsecs').replace('key: srv.key', 'key: missing.key'))
    assert.equal(problemLines(refused).some((line) => line.startsWith('warning: ')), false, refused.stderr)
  })

  // A key with a problem of the rules hid a problem of its file until the first was fixed.
  it('lists every problem of a key that has more than one', async () => {
    const yaml = good()
      .replace('      clientCAs: caAB.crt\n', '      crl: garbled.crl\n')
      .replace('      ca: caS.crt\n', '      crl: garbled.crl\n')
      .replace('https://127.0.0.1:9443', 'http://127.0.0.1:9080\n      cert: srv.der')
    const result = await check('one-key-two-problems', yaml)
    assert.equal(result.code, 1)
    assert.deepEqual(
      problemLines(result),
      [
        '/one-key-two-problems.yaml:8:12 routes[0].tls.crl: needs tls.clientCAs: a CRL only applies to client certificates',
        '/one-key-two-problems.yaml:8:12 routes[0].tls.crl: /garbled.crl holds a CRL that cannot be parsed',
        '/one-key-two-problems.yaml:9:5 routes[0].upstream.key: is required with upstream.cert',
        '/one-key-two-problems.yaml:11:13 routes[0].upstream.cert: only applies to https:// upstreams',
        '/one-key-two-problems.yaml:11:13 routes[0].upstream.cert: /srv.der holds no PEM certificate; if it is DER, convert it: openssl x509 -inform DER -in /srv.der -out cert.pem',
        "/one-key-two-problems.yaml:12:12 routes[0].upstream.crl: only applies to https:// upstreams",
        "/one-key-two-problems.yaml:12:12 routes[0].upstream.crl: needs upstream.ca: OpenSSL checks the CRL of every CA of the upstream's chain, its root's too, so they must be CAs whose CRLs you hold, not the built-in roots",
        '/one-key-two-problems.yaml:12:12 routes[0].upstream.crl: /garbled.crl holds a CRL that cannot be parsed',
        '/one-key-two-problems.yaml: 8 problems',
      ],
    )
  })

  // A key was read only once its certificate was: its problem showed only after the certificate's was fixed.
  it("lists a certificate's problem and its key's in the same run", async () => {
    const yaml = good().replace('cert: srv.crt', 'cert: srv.der').replace('key: srv.key', 'key: srv-encrypted.key')
    const result = await check('cert-and-key', yaml)
    assert.equal(result.code, 1)
    assert.deepEqual(problemLines(result), [
      '/cert-and-key.yaml:6:13 routes[0].tls.cert: /srv.der holds no PEM certificate; if it is DER, convert it: openssl x509 -inform DER -in /srv.der -out cert.pem',
      '/cert-and-key.yaml:7:12 routes[0].tls.key: /srv-encrypted.key holds no readable private key (it is encrypted; portcullis reads unencrypted keys only; to write one, which asks for the passphrase: openssl pkey -in /srv-encrypted.key -out key.pem)',
      '/cert-and-key.yaml: 2 problems',
    ])
  })

  // The rules find a file out of reach, and reading it fails again: one problem, listed once, and a
  // key pasted where its path belongs is not echoed by the read. A CRL list from an anchor is named at
  // its item by the rules and at its key by the read, and was listed twice.
  it('lists a file it cannot reach once, at each key that names it', async () => {
    const yaml = `x-crls: &crls [crlRootEmpty.crl, missing.crl]\n${good()}`
      .replace('cert: srv.crt', 'cert: missing.crt')
      .replace('key: srv.key', 'key: "-----BEGIN PRIVATE KEY-----"')
      .replace('clientCAs: caAB.crt', 'clientCAs: root.crt\n      crl: *crls')
      .replace('ca: caS.crt', 'ca: missing.crt\n      cert: cliA.crt')
    const result = await check('unreachable-once', yaml)
    assert.equal(result.code, 1)
    assert.deepEqual(problemLines(result), [
      '/unreachable-once.yaml:7:13 routes[0].tls.cert: file not found: /missing.crt',
      '/unreachable-once.yaml:8:12 routes[0].tls.key: file not found: this is PEM content; write the path of a file that holds it',
      '/unreachable-once.yaml:10:7 routes[0].tls.crl[1]: file not found: /missing.crl',
      '/unreachable-once.yaml:11:5 routes[0].upstream.key: is required with upstream.cert',
      '/unreachable-once.yaml:13:11 routes[0].upstream.ca: file not found: /missing.crt',
      '/unreachable-once.yaml: 5 problems',
    ])
  })

  // A key pasted into a key of text (`url: |` and the PEM below it) was quoted back whole by check, by
  // the POST /reload answer and in the log: `routes[0].upstream.url: '-----BEGIN PRIVATE KEY-----\u000aMIGH…`.
  it('never quotes a key pasted into a key of text: PEM, its body alone, a line of it or its base64', async () => {
    // The DER of an RSA key begins 30 82 04 a3 (MIIEow…); the rest is made up (and cut short), the same at every run.
    const der = Buffer.concat([Buffer.from('308204a30201000282010100', 'hex'), Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % 256))])
    const body = der.toString('base64').match(/.{1,64}/g)!
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${body.join('\n')}\n-----END RSA PRIVATE KEY-----\n`
    const block = (lines: readonly string[], indent: number) => `|\n${lines.map((line) => `${' '.repeat(indent)}${line}`).join('\n')}`
    const yaml = good()
      .replace('https: 127.0.0.1:8443', `https: ${Buffer.from(pem).toString('base64')}:8443`)
      .replace('host: a.test', `host: ${block(body, 6)}\n    name: ${body[0]}`)
      .replace('url: https://127.0.0.1:9443', `url: ${block(pem.trimEnd().split('\n'), 8)}\n      serverName: ${body[1]}`)
      .replace('connect: 2s', `connect: ${JSON.stringify(pem)}`)
    const result = await check('pasted-key', yaml)
    assert.equal(result.code, 1)
    for (const line of body) assert.ok(!result.stderr.includes(line.slice(0, 16)), result.stderr)
    assert.deepEqual(problemLines(result), [
      "/pasted-key.yaml:2:10 listen.https: a long base64 value is not host:port (e.g. 0.0.0.0:8443 or '[::]:8443': quote an IPv6 one, or YAML reads its [ ] as a list)",
      '/pasted-key.yaml:4:11 routes[0].host: PEM text is not a host name or a *.wildcard',
      '/pasted-key.yaml:12:11 routes[0].name: base64 of a key or certificate may hold letters, digits and _ . : - only',
      '/pasted-key.yaml:18:12 routes[0].upstream.url: PEM text is not a URL (e.g. https://orders.internal:8443)',
      '/pasted-key.yaml:28:19 routes[0].upstream.serverName: a long base64 value is not a DNS name (no port, wildcard, spaces or brackets)',
      '/pasted-key.yaml:31:18 routes[0].upstream.timeouts.connect: PEM text is not a duration: write a number with a unit (ms, s, m, h), e.g. 5s',
      '/pasted-key.yaml: 6 problems',
    ])
  })

  it('checks the other routes of a config whose schema refuses one, in the same run', async () => {
    const second = good().split('routes:\n')[1]!.replace('host: a.test', 'host: b.test').replace('key: srv.key', 'key: cliA.key')
    const yaml = `${good().replace('connect: 2s', 'connect: 2 seconds')}${second}`
    const result = await check('schema-and-files', yaml)
    assert.equal(result.code, 1)
    const problems = result.stderr.split('\n').filter((line) => line.startsWith(pki.dir) && line.includes(' routes['))
    assert.deepEqual(problems.map((line) => line.split(' ')[1]), ['routes[0].upstream.timeouts.connect:', 'routes[1].tls.key:'], result.stderr)
  })

  // A route the schema refused was left out of the later checks: a url without a scheme, a missing
  // file or a key that does not match its certificate showed only once its unknown key was fixed.
  it('checks the rest of a route the schema refuses in the same run, without echoes of the keys it refused', async () => {
    const yaml = good()
      .replace('    tls:\n', '    cert: srv.crt\n    tls:\n')
      .replace('key: srv.key', 'key: cliA.key')
      // The crl alone would need clientCAs: written, but misspelt, it is the schema's one problem.
      .replace('clientCAs: caAB.crt', 'clinetCAs: caAB.crt\n      crl: crlRootEmpty.crl')
      .replace('url: https://127.0.0.1:9443', 'url: localhost:9443')
      .replace('ca: caS.crt', 'ca: missing.crt')
    const result = await check('refused-route', yaml)
    assert.equal(result.code, 1)
    assert.deepEqual(problemLines(result), [
      "/refused-route.yaml:5:5 routes[0].cert: unknown key 'cert' (a key of routes[0].tls or routes[0].upstream: check its indentation)",
      '/refused-route.yaml:8:12 routes[0].tls.key: /cliA.key is not the private key of /srv.crt: they are of different pairs; name the key the certificate was issued for',
      "/refused-route.yaml:9:7 routes[0].tls.clinetCAs: unknown key 'clinetCAs' (did you mean 'clientCAs'?)",
      "/refused-route.yaml:12:12 routes[0].upstream.url: 'localhost:9443' has no scheme: write https://localhost:9443 or http://localhost:9443",
      '/refused-route.yaml:13:11 routes[0].upstream.ca: file not found: /missing.crt',
      '/refused-route.yaml: 5 problems',
    ])
  })

  // A tls without its key (or its certificate) was left out whole: the certificate and the client CAs
  // named beside it were read only once the missing key was written.
  for (const missing of ['key', 'cert'] as const) {
    it(`checks the other files of a tls block without its ${missing}, in the same run`, async () => {
      const yaml = good()
        .replace(missing === 'key' ? '      key: srv.key\n' : '      cert: srv.crt\n', '')
        .replace('cert: srv.crt', 'cert: srv.csr')
        .replace('key: srv.key', 'key: srv.crt')
        .replace('clientCAs: caAB.crt', 'clientCAs: garbled.crl')
      const result = await check(`tls-without-${missing}`, yaml)
      assert.equal(result.code, 1)
      const problems = problemLines(result).slice(0, -1)
      assert.deepEqual(problems.map((line) => line.split(' ')[1]), [`routes[0].tls.${missing}:`, `routes[0].tls.${missing === 'key' ? 'cert' : 'key'}:`, 'routes[0].tls.clientCAs:'], result.stderr)
      assert.match(problems[0]!, /is required$/)
    })
  }

  // An item of a CRL list that the schema refused took the whole list out of the later checks: its other
  // items, a missing file and files that hold no CRL, were told only once that one was fixed. The list
  // without it is not what was written: the root CA's CRL missing from it is no problem of its own.
  it('checks the other items of a CRL list whose one item the schema refuses, each at its own key path', async () => {
    const yaml = good()
      .replace('clientCAs: caAB.crt', "clientCAs: root.crt\n      crl: [crlRootEmpty.crl, '', missing.crl, garbled.crl, srv.crt]")
      .replace('ca: caS.crt', 'ca: root.crt\n      crl:\n        - { file: crlRootEmpty.crl }\n        - crlIntEmpty.crl')
    const result = await check('crl-items', yaml)
    assert.equal(result.code, 1)
    assert.deepEqual(problemLines(result), [
      '/crl-items.yaml:9:31 routes[0].tls.crl[1]: must not be empty',
      '/crl-items.yaml:9:35 routes[0].tls.crl[2]: file not found: /missing.crl',
      '/crl-items.yaml:9:48 routes[0].tls.crl[3]: /garbled.crl holds a CRL that cannot be parsed',
      '/crl-items.yaml:9:61 routes[0].tls.crl[4]: /srv.crt holds no PEM CRL',
      '/crl-items.yaml:14:11 routes[0].upstream.crl[0]: must be a string',
      '/crl-items.yaml: 5 problems',
    ])
  })

  it('checks the routes and their files of a config whose schema refuses a top-level setting, in the same run', async () => {
    const yaml = `accessLog: yes please\nx_unknown: 1\nroutes-old: 1\n${good().replace('ca: caS.crt', 'ca: missing.crt')}`
    const result = await check('settings-and-files', yaml)
    assert.equal(result.code, 1)
    const problems = result.stderr.split('\n').filter((line) => line.startsWith(pki.dir) && !line.endsWith(' problems'))
    assert.deepEqual(problems.map((line) => line.split(' ')[1]), ['accessLog:', 'x_unknown:', 'routes-old:', 'routes[0].upstream.ca:'], result.stderr)
    assert.ok(result.stderr.endsWith(': 4 problems\n'), result.stderr)
  })

  it('reads each pair of certificate and key files on its own, whatever characters their paths hold', async () => {
    // Two routes whose certificate and key paths, joined with a space, read the same: the second
    // route's key, which is not its certificate's, must not be taken for the first's, which is.
    const d = pki.dir
    for (const [file, pem] of [[`${d}/y ${d}/z`, pki.srv.key], [`${d}/x ${d}/y`, pki.up.cert], [`${d}/x`, pki.srv.cert], [`${d}/z`, pki.srv.key]] as const) {
      await mkdir(dirname(file), { recursive: true })
      await writeFile(file, pem)
    }
    const { stderr } = await check(
      'spaced-paths',
      `listen: { https: 127.0.0.1:0 }
routes:
  - { host: a.test, tls: { cert: '${d}/x', key: '${d}/y ${d}/z' }, upstream: { url: 'http://127.0.0.1:9' } }
  - { host: b.test, tls: { cert: '${d}/x ${d}/y', key: '${d}/z' }, upstream: { url: 'http://127.0.0.1:9' } }
`,
    )
    assert.match(stderr, /:4:\d+ routes\[1\]\.tls\.key: .*\/z is not the private key of /)
    assert.doesNotMatch(stderr, /routes\[0\]/)
  })
})

describe('portcullis (serving)', () => {
  let pki: TestPki
  before(async () => (pki = await makeTestPki()))
  after(() => pki.cleanup())

  it('does not start on a certificate whose key does not match, and says where as check does', async () => {
    const file = join(pki.dir, 'mismatch.yaml')
    await writeFile(
      file,
      `listen: { https: 127.0.0.1:0 }
routes:
  - { host: localhost, tls: { cert: ${pki.srv.certFile}, key: ${pki.up.keyFile} }, upstream: { url: 'http://127.0.0.1:9' } }
`,
    )
    const result = await portcullis('--config', file)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /mismatch\.yaml:3:\d+ routes\[0\]\.tls\.key: /)
    assert.match(result.stderr, /mismatch\.yaml: not started, 1 problem\n$/)
  })

  // check lists the warnings known beside a config's problems; a start refused on the same problems did not.
  it('does not start on a problem of its files, and prints the warnings known beside it, as check does', async () => {
    const file = join(pki.dir, 'warned-mismatch.yaml')
    const route = `{ host: c.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.up.keyFile} }, upstream: { url: 'http://127.0.0.1:9' } }`
    await writeFile(file, `listen: { https: 127.0.0.1:0 }\nroutes:\n  - ${route}\n`)
    const started = await portcullis('--config', file)
    const checked = await checkInProcess(file)
    assert.equal(started.code, 1)
    const problems = (outcome: Outcome) => outcome.stderr.split('\n').slice(0, -2)
    assert.deepEqual(problems(started), problems(checked))
    assert.match(started.stderr, /\nwarning: \S+:3:\d+ routes\[0\]\.tls\.cert: does not name c\.test [^\n]+\n\S+: not started, 1 problem\n$/)
    // And in the log's record of it, as a refused reload's.
    const record = JSON.parse(started.stdout.split('\n').find((line) => line.includes('"not started"')) ?? '{}') as { warnings?: string[] }
    assert.match(record.warnings?.join('\n') ?? '', /^\S+:3:\d+ routes\[0\]\.tls\.cert: does not name c\.test /, started.stdout)
  })

  // A listen host that does not resolve (check now says so too) was logged as `cannot listen on
  // nowhere.invalid:0 (listen.http): getaddrinfo ENOTFOUND`: its key path, but neither file nor line.
  it('does not start on a listen host that does not resolve, and names the file, line and key', async () => {
    const file = join(pki.dir, 'unresolved.yaml')
    await writeFile(file, `listen:\n  http: nowhere.invalid:0\nroutes:\n  - { host: a.test, upstream: { url: 'http://127.0.0.1:9' } }\n`)
    const result = await portcullis('--config', file)
    assert.equal(result.code, 1)
    const record = result.stdout.split('\n').find((line) => line.includes('"not started"'))
    const error = (JSON.parse(record ?? '{}') as { error?: { code?: string; message?: string } }).error
    assert.equal(error?.code, 'PCL_ERR_LISTEN', result.stdout)
    assert.match(error?.message ?? '', /unresolved\.yaml:2:9 listen\.http: cannot listen on nowhere\.invalid:0: getaddrinfo (ENOTFOUND|EAI_AGAIN)/)
    // On stderr too, where a config problem is said: a terminal that hides the JSON log still tells why.
    assert.match(result.stderr, /^\S*unresolved\.yaml:2:9 listen\.http: cannot listen on nowhere\.invalid:0: getaddrinfo (ENOTFOUND|EAI_AGAIN)[^\n]*\n\S*unresolved\.yaml: not started\n$/)
  })

  // A start the schema or the rules refused listed their problems alone: the files' (a certificate that
  // is not PEM, a CA bundle without a CA, a key that is not its certificate's) came out at the next
  // start, once the rules passed, where check listed them all in one run.
  it('does not start on problems of the rules and of the files, and lists them all as check does', async () => {
    const file = join(pki.dir, 'rules-and-files.yaml')
    await writeFile(join(pki.dir, 'not-pem.crt'), 'not a certificate\n')
    await writeFile(
      file,
      `listen: { https: 127.0.0.1:0 }
routes:
  - host: localhost
    tls: { cert: not-pem.crt, key: srv.key, clientCAs: srv.crt }
    upstream: { url: 'https://127.0.0.1:9', ca: caS.crt, cert: cliA.crt, key: srv.key, timeouts: { connect: 5 parsecs } }
`,
    )
    const started = await portcullis('--config', file)
    const checked = await checkInProcess(file)
    assert.equal(started.code, 1)
    const problems = (outcome: Outcome) => outcome.stderr.split('\n').slice(0, -2)
    assert.deepEqual(problems(started), problems(checked))
    const keys = ['tls.cert', 'tls.clientCAs', 'upstream.key', 'upstream.timeouts.connect']
    assert.deepEqual(problems(started).map((line) => line.split(' ')[1]), keys.map((key) => `routes[0].${key}:`))
    assert.match(started.stderr, /rules-and-files\.yaml: not started, 4 problems\n$/)
  })

  // The log record of a start that 1,000 routes' files failed held every problem in one line, where a
  // reload logs 20 at most, then a count of the rest. stderr lists them all, as check does.
  it('logs at most 20 of the problems it does not start on, and lists them all on stderr', async () => {
    const file = join(pki.dir, 'many-problems.yaml')
    // A file's content, not its absence, which the load finds before the gateway logs anything.
    await writeFile(join(pki.dir, 'not-pem.crt'), 'not a certificate\n')
    const route = (i: number) => `  - { host: h${i}.test, tls: { cert: not-pem.crt, key: srv.key }, upstream: { url: 'http://127.0.0.1:9' } }`
    await writeFile(file, `listen: { https: 127.0.0.1:0 }\nroutes:\n${Array.from({ length: 25 }, (_, i) => route(i)).join('\n')}\n`)
    const result = await portcullis('--config', file)
    assert.equal(result.code, 1)
    const record = result.stdout.split('\n').find((line) => line.includes('"not started"'))
    const message = (JSON.parse(record ?? '{}') as { error?: { message?: string } }).error?.message ?? ''
    const lines = message.split('\n')
    assert.equal(lines.length, 21, message)
    assert.match(lines[0]!, /many-problems\.yaml:3:\d+ routes\[0\]\.tls\.cert: /)
    assert.equal(lines[20], '5 more problems; portcullis check lists them all')
    assert.match(result.stderr, /many-problems\.yaml: not started, 25 problems\n$/)
    assert.equal(result.stderr.split('\n').filter((line) => / routes\[\d+\]\.tls\.cert: /.test(line)).length, 25)
  })

  it('lives through a SIGHUP that comes while it starts, and reloads on one once it serves', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
    const file = join(pki.dir, 'hangup.yaml')
    // Enough TLS routes that starting takes a while after the signal handlers are in.
    const routes = Array.from({ length: 300 }, (_, i) => `  - { host: h${i}.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }, upstream: { url: 'http://127.0.0.1:9' } }`)
    await writeFile(file, `listen: { https: 127.0.0.1:0 }\nroutes:\n${routes.join('\n')}\n`)
    const child = spawnPortcullis(file)
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    t.after(() => child.kill('SIGKILL'))
    let stdout = ''
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    // SigCgt in /proc: the signals the process catches (SIGHUP is bit 0). Its default action is death.
    const catchesHangup = async () => {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '')
      const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1]
      return mask !== undefined && (BigInt(`0x${mask}`) & 1n) === 1n
    }
    while (!(await catchesHangup()) && !stdout.includes('portcullis is serving')) await new Promise((resolve) => setTimeout(resolve, 2))
    assert.ok(!stdout.includes('portcullis is serving'), 'SIGHUP is caught before the gateway serves')
    child.kill('SIGHUP')
    while (!stdout.includes('portcullis is serving') && child.exitCode === null && child.signalCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    assert.equal(child.signalCode, null, 'killed by the SIGHUP')
    child.kill('SIGHUP')
    const reloaded = () => stdout.split('\n').some((line) => line.includes('"msg":"config reloaded"') && line.includes('"trigger":"SIGHUP"'))
    await eventually(async () => reloaded(), 10_000, 'a reload on SIGHUP')
    child.kill('SIGTERM')
    assert.deepEqual(await exited, [0, null])
  })

  it('lives through a SIGHUP or a SIGTERM that comes while its modules load, and drains on the SIGTERM', async (t) => {
    const file = join(pki.dir, 'early-signals.yaml')
    await writeFile(file, `listen: { http: 127.0.0.1:0 }\nroutes:\n  - { host: a.test, upstream: { url: 'http://127.0.0.1:9' } }\n`)
    const marker = join(pki.dir, 'gateway-modules-loading')
    const slowImport = fileURLToPath(new URL('../helpers/slow-gateway-import.mjs', import.meta.url))
    const child = spawnPortcullis(file, { env: { ...process.env, NODE_OPTIONS: `--import=${slowImport}`, PORTCULLIS_TEST_IMPORT_MARKER: marker } })
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    t.after(() => child.kill('SIGKILL'))
    let stdout = ''
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    await eventually(async () => existsSync(marker), 10_000, 'the gateway modules loading')
    child.kill('SIGHUP')
    child.kill('SIGTERM')
    assert.deepEqual(await exited, [0, null], 'exited 0, not killed by either signal')
    assert.match(stdout, /"msg":"draining"/)
  })

  // The script ran the gateway under `sh -c`, which passed npm's SIGTERM on to no one: npm exited and
  // the gateway ran on, orphaned, without a drain.
  it('drains and exits when a supervisor sends SIGTERM to `npm run portcullis`', async (t) => {
    const file = join(pki.dir, 'under-npm.yaml')
    await writeFile(file, `listen: { http: 127.0.0.1:0 }\nroutes:\n  - { host: a.test, upstream: { url: 'http://127.0.0.1:9' } }\n`)
    const checkout = new URL('../..', import.meta.url).pathname
    const npm = spawn('npm', ['--prefix', checkout, 'run', '-s', 'portcullis', '--', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'], detached: true })
    t.after(() => processGroupAlive(npm.pid!) && process.kill(-npm.pid!, 'SIGKILL'))
    const exited = once(npm, 'exit')
    let stdout = ''
    npm.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    await eventually(async () => stdout.includes('"msg":"portcullis is serving"'), 30_000, 'the gateway serving')
    npm.kill('SIGTERM')
    await exited
    // What npm passed the signal to has drained and stopped, and nothing of the group is left.
    await eventually(async () => stdout.includes('"msg":"stopped"'), 10_000, 'the gateway stopped')
    assert.match(stdout, /"msg":"draining"/)
    await eventually(async () => !processGroupAlive(npm.pid!), 10_000, 'no process of the group left')
  })

  // check passed a config with PORTCULLIS_LOG_LEVEL=verbose (exit 0), which a start with the same
  // environment then refused (exit 2).
  it('refuses an unknown PORTCULLIS_LOG_LEVEL with the levels it takes, in check as in a start', async () => {
    const file = join(pki.dir, 'log-level.yaml')
    await writeFile(file, `listen: { http: 127.0.0.1:0 }\nroutes:\n  - { host: a.test, upstream: { url: 'http://127.0.0.1:9' } }\n`)
    const withLevel = (args: readonly string[]) => portcullisWithEnv({ PORTCULLIS_LOG_LEVEL: 'verbose' }, ...args)
    for (const [args, result] of await runEach([['--config', file], ['check', file]], withLevel)) {
      assert.equal(result.code, 2, args.join(' '))
      assert.equal(result.stderr, "PORTCULLIS_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, not 'verbose'\n")
    }
  })

  it('refuses a --workers that is not a count, before it reads the config', async () => {
    const withWorkers = (flag: string) => portcullis('--workers', flag, '--config', join(pki.dir, 'unused.yaml'))
    const [refused, counted] = await Promise.all([runEach(['0', '257', '0x2', '1e1', ' 2', '2.0', 'two'], withWorkers), withWorkers('2')])
    for (const [flag, result] of refused) {
      assert.equal(result.code, 2, flag)
      assert.equal(result.stderr, `--workers must be a number from 1 to 256 or auto, not '${flag}'\n`)
    }
    assert.equal(counted.code, 1, 'the missing config stops it, not the count')
  })

  // A reload of an edit of workers said the new count applied at the next start, which --workers overrides.
  it('says that --workers overrides an edit of workers', async () => {
    const file = join(pki.dir, 'workers-flag.yaml')
    const config = `listen: { http: 127.0.0.1:0 }\nroutes:\n  - { host: a.test, upstream: { url: 'http://127.0.0.1:9' } }\n`
    await writeFile(file, config)
    const gateway = runPortcullis(file, { args: ['--workers', '1'] })
    try {
      await gateway.logged('portcullis is serving')
      await writeFile(file, `workers: 2\n${config}`)
      const changed = await gateway.logged(/^workers changed/)
      assert.deepEqual([changed.msg, changed.workers, changed.running], ['workers changed; --workers overrides it at every start', 2, 1])
    } finally {
      gateway.child.kill('SIGTERM')
      await gateway.exited
    }
  })

  it('takes PORTCULLIS_LOG_LEVEL in capitals too', async () => {
    const result = await portcullisWithEnv({ PORTCULLIS_LOG_LEVEL: 'WARN' }, '--config', join(pki.dir, 'unused.yaml'))
    assert.equal(result.code, 1, 'the missing config stops it, not the level')
    assert.doesNotMatch(result.stderr, /PORTCULLIS_LOG_LEVEL/)
  })
})

/** Whether any process of the process group `pgid` is still alive. */
function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}
