/**
 * The PKI generator checked by a second implementation: node:crypto's X509Certificate (OpenSSL) for the
 * fields, and real TLS handshakes for chains and CRLs, since a field can look right and still be
 * refused by OpenSSL's verifier.
 */
import { once } from 'node:events'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { closeSync, constants, existsSync, openSync, readSync, statSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate } from 'node:timers/promises'
import tls from 'node:tls'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { AuthorityKeyIdentifierExtension, BasicConstraintsExtension, KeyUsagesExtension, SubjectKeyIdentifierExtension } from '@peculiar/x509'
import { runCerts } from '../../src/cli/certs.js'
import { writeDevPki } from '../../src/tls/pki.js'
import { createTestCA, createSelfSignedNonCA, issueTestCert, makeTestPki, type TestPki } from '../helpers/pki.js'

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

let pki: TestPki
before(async () => {
  pki = await makeTestPki()
})
after(() => pki.cleanup())

const x = (pem: string) => new X509Certificate(pem)

describe('generated certificates, read by node:crypto', () => {
  test('CAs are CAs and leaves are not', () => {
    for (const name of ['caA', 'caB', 'caS', 'caOther', 'root', 'int'] as const) assert.equal(x(pki[name].cert).ca, true, name)
    for (const name of ['srv', 'up', 'cliA', 'cliB', 'leaf', 'notCa', 'cliOfNotCa'] as const) assert.equal(x(pki[name].cert).ca, false, name)
  })

  test('each cert is issued and signed by its issuer', () => {
    const pairs = [['srv', 'caS'], ['up', 'caS'], ['upOtherCa', 'caOther'], ['cliA', 'caA'], ['cliB', 'caB'],
      ['int', 'root'], ['leaf', 'int'], ['leafRevoked', 'int'], ['cliOfNotCa', 'notCa']] as const
    for (const [leaf, issuer] of pairs) {
      const ca = x(pki[issuer].cert)
      assert.equal(x(pki[leaf].cert).checkIssued(ca), true, `${leaf} issued by ${issuer}`)
      assert.equal(x(pki[leaf].cert).verify(ca.publicKey), true, `${leaf} signed by ${issuer}`)
    }
    assert.equal(x(pki.upOtherCa.cert).verify(x(pki.caS.cert).publicKey), false)
  })

  test('every key matches its certificate and is PKCS#8', () => {
    for (const name of ['caA', 'srv', 'cliA', 'leaf', 'notCa'] as const) {
      assert.match(pki[name].key, /^-----BEGIN PRIVATE KEY-----\n/)
      assert.equal(x(pki[name].cert).checkPrivateKey(createPrivateKey(pki[name].key)), true, name)
    }
    assert.equal(x(pki.cliA.cert).checkPrivateKey(createPrivateKey(pki.cliB.key)), false)
  })

  test('subjectAltName and subject', () => {
    const srv = x(pki.srv.cert).subjectAltName ?? ''
    for (const name of ['DNS:a.test', 'DNS:*.w.test', 'DNS:localhost', 'IP Address:127.0.0.1']) assert.ok(srv.includes(name), name)
    assert.equal(x(pki.upWrongName.cert).subjectAltName, 'DNS:wrong.test')
    assert.equal(x(pki.cliA.cert).subjectAltName, 'DNS:alice.a.test, URI:spiffe://a/alice')
    assert.equal(x(pki.cliA.cert).subject, 'O=A\nCN=alice')
  })

  test('extendedKeyUsage follows the usage', () => {
    // Node's X509Certificate.keyUsage lists the extendedKeyUsage OIDs, not the keyUsage bits.
    assert.deepEqual(x(pki.cliA.cert).keyUsage, [CLIENT_AUTH])
    assert.deepEqual(x(pki.leaf.cert).keyUsage, [CLIENT_AUTH])
    assert.deepEqual(x(pki.srv.cert).keyUsage, [SERVER_AUTH])
    assert.deepEqual(x(pki.cliServerEku.cert).keyUsage, [SERVER_AUTH])
  })

  test('validity: expired and not yet valid', () => {
    const now = Date.now()
    assert.ok(new Date(x(pki.cliExpired.cert).validTo).getTime() < now)
    assert.ok(new Date(x(pki.upExpired.cert).validTo).getTime() < now)
    assert.ok(new Date(x(pki.cliNotYetValid.cert).validFrom).getTime() > now)
    assert.ok(new Date(x(pki.cliA.cert).validFrom).getTime() < now)
  })

  test('serial numbers are distinct and positive', () => {
    // leafChain starts with leaf's cert, so it is left out.
    const serials = Object.entries(pki).flatMap(([name, item]) =>
      typeof item === 'object' && 'keyFile' in item && name !== 'leafChain' ? [x(item.cert).serialNumber] : [],
    )
    assert.equal(new Set(serials).size, serials.length)
    // Hex of 16 octets whose top bit is clear: a positive DER INTEGER without padding.
    for (const serial of serials) assert.match(serial, /^[4-7][0-9A-F]{31}$/)
  })

  test('CA extensions: critical basicConstraints with pathLength, keyCertSign + cRLSign, AKI = issuer SKI', async () => {
    const root = await createTestCA({ commonName: 'r' })
    const int = await createTestCA({ commonName: 'i', issuer: root, pathLength: 0 })
    const basic = int.x509.getExtension<BasicConstraintsExtension>('2.5.29.19')
    assert.deepEqual([basic?.critical, basic?.ca, basic?.pathLength], [true, true, 0])
    // KeyUsageFlags: keyCertSign = 32, cRLSign = 64.
    assert.equal(int.x509.getExtension<KeyUsagesExtension>('2.5.29.15')?.usages, 32 | 64)
    const aki = int.x509.getExtension<AuthorityKeyIdentifierExtension>('2.5.29.35')?.keyId
    assert.equal(aki, root.x509.getExtension<SubjectKeyIdentifierExtension>('2.5.29.14')?.keyId)
    assert.equal(root.x509.getExtension('2.5.29.35'), null, 'a root carries no AKI')
  })

  test('keyUsage, when given, replaces the default bits', async () => {
    // KeyUsageFlags: digitalSignature = 1, keyEncipherment = 4, cRLSign = 64.
    const ca = await createTestCA({ commonName: 'c', keyUsage: 64 })
    const leaf = await issueTestCert(ca, { commonName: 'l', usage: 'client', keyUsage: 4 })
    const self = await createSelfSignedNonCA({ commonName: 's', keyUsage: 1 })
    const bits = [ca, leaf, self].map((issued) => issued.x509.getExtension<KeyUsagesExtension>('2.5.29.15')?.usages)
    assert.deepEqual(bits, [64, 4, 1])
    assert.equal(x(ca.cert).ca, false, 'to OpenSSL (X509_check_ca), a keyUsage without keyCertSign is no CA')
  })

  test('CRLs are PEM "X509 CRL" blocks', () => {
    for (const name of ['crlRootEmpty', 'crlIntEmpty', 'crlIntRevoked'] as const) {
      assert.match(pki[name].pem, /^-----BEGIN X509 CRL-----\n[\s\S]+\n-----END X509 CRL-----\n$/)
    }
  })
})

interface Handshake {
  readonly clientAuthorized: boolean
  readonly serverAuthorized: boolean
  readonly serverError: string | undefined
}

/**
 * One handshake against a server that asks for a client cert but does not enforce it, so the test can
 * read the server's verdict (authorized, authorizationError) instead of inferring it from a reset.
 */
async function handshake(server: tls.TlsOptions, client: tls.ConnectionOptions): Promise<Handshake> {
  const listener = tls.createServer({ ...server, requestCert: true, rejectUnauthorized: false })
  const accepted = once(listener, 'secureConnection') as Promise<[tls.TLSSocket]>
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const { port } = listener.address() as AddressInfo
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'a.test', ca: pki.caS.cert, ...client })
  try {
    await once(socket, 'secureConnect')
    const [peer] = await accepted
    peer.destroy()
    return {
      clientAuthorized: socket.authorized,
      serverAuthorized: peer.authorized,
      // Node stores OpenSSL's code string here (null when verified), though @types/node declares an Error.
      serverError: (peer.authorizationError as unknown as string | null) ?? undefined,
    }
  } finally {
    socket.destroy()
    listener.close()
  }
}

describe('generated certificates in real TLS', () => {
  const srv = () => ({ key: pki.srv.key, cert: pki.srv.cert })

  test('srv and cliA verify each other', async () => {
    const result = await handshake({ ...srv(), ca: [pki.caA.cert] }, { cert: pki.cliA.cert, key: pki.cliA.key })
    assert.deepEqual(result, { clientAuthorized: true, serverAuthorized: true, serverError: undefined })
  })

  test('leaf sent with its intermediate verifies against root alone', async () => {
    const result = await handshake({ ...srv(), ca: [pki.root.cert] }, { cert: pki.leafChain.cert, key: pki.leafChain.key })
    assert.equal(result.serverAuthorized, true, result.serverError)
  })

  test('a CRL revokes leafRevoked and not leaf', async () => {
    // OpenSSL checks a CRL at every level once any is given, so root needs one too (empty).
    const server = { ...srv(), ca: [pki.root.cert], crl: [pki.crlRootEmpty.pem, pki.crlIntRevoked.pem] }
    const revoked = await handshake(server, { cert: pki.leafRevoked.cert + pki.int.cert, key: pki.leafRevoked.key })
    assert.deepEqual([revoked.serverAuthorized, revoked.serverError], [false, 'CERT_REVOKED'])
    const good = await handshake(server, { cert: pki.leafChain.cert, key: pki.leafChain.key })
    assert.equal(good.serverAuthorized, true, good.serverError)
  })
})

describe('writeDevPki and portcullis certs', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-devpki-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  test('writes the set, keys 0600, a server cert for localhost that ca.crt verifies', async () => {
    const out = join(dir, 'made', 'certs')
    const result = await writeDevPki(out)
    assert.equal(result.unchanged, false)
    const names = ['ca', 'server', 'client', 'gateway'].flatMap((name) => [`${name}.crt`, `${name}.key`])
    assert.deepEqual(result.written, names.map((name) => join(out, name)))
    for (const name of names) {
      const mode = (await stat(join(out, name))).mode & 0o777
      if (name.endsWith('.key')) assert.equal(mode, 0o600, name)
    }
    const ca = x(await readFile(join(out, 'ca.crt'), 'utf8'))
    const server = x(await readFile(join(out, 'server.crt'), 'utf8'))
    assert.equal(ca.ca, true)
    assert.equal(server.verify(ca.publicKey), true)
    assert.match(server.subjectAltName ?? '', /^DNS:localhost, IP Address:127\.0\.0\.1, IP Address:(::1|0:0:0:0:0:0:0:1)$/)
    assert.deepEqual(server.keyUsage, [SERVER_AUTH])
    assert.deepEqual(x(await readFile(join(out, 'client.crt'), 'utf8')).keyUsage, [CLIENT_AUTH])
  })

  test('--force over a world-readable key file makes it 0600 before the new key is in it', async () => {
    const out = join(dir, 'readable')
    await writeDevPki(out)
    // ca.key, the first key written, as a FIFO left 0644: the moment the new key reaches it is the
    // moment the test reads it (a FIFO holds what was written until it is read), and its mode then.
    await rm(join(out, 'ca.key'))
    execFileSync('mkfifo', ['-m', '644', join(out, 'ca.key')])
    // Both ends, non-blocking: the gateway's open of it does not wait for a reader, nor a read for data.
    const fifo = openSync(join(out, 'ca.key'), constants.O_RDWR | constants.O_NONBLOCK)
    try {
      let settled = false
      const written = writeDevPki(out, { force: true }).finally(() => (settled = true))
      // Once a turn of the event loop: the key is read in the first turn after its write, before
      // anything written after it (a chmod) can have run.
      let modeWhenWritten: number | undefined
      while (modeWhenWritten === undefined && !settled) {
        await setImmediate()
        try {
          if (readSync(fifo, Buffer.alloc(4096)) > 0) modeWhenWritten = statSync(join(out, 'ca.key')).mode & 0o777
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
        }
      }
      await written
      assert.equal(modeWhenWritten?.toString(8), '600')
    } finally {
      closeSync(fifo)
    }
  })

  test('keeps a complete set, refuses a partial one, replaces either with force', async () => {
    const out = join(dir, 'again')
    await writeDevPki(out)
    const before = await readFile(join(out, 'ca.crt'), 'utf8')
    assert.deepEqual((await writeDevPki(out)).written, [])
    assert.equal(await readFile(join(out, 'ca.crt'), 'utf8'), before)

    await rm(join(out, 'client.key'))
    await assert.rejects(writeDevPki(out), { message: `${out} lacks client.key of the set it holds: portcullis certs --force replaces the whole set` })
    // `npm run demo` has no --force, and a checkout no `portcullis` command: it says what mends it there.
    const remedy = 'remove certs/ and the demo makes a new set'
    await assert.rejects(writeDevPki(out, { remedy }), { message: `${out} lacks client.key of the set it holds: ${remedy}` })
    const forced = await writeDevPki(out, { force: true })
    assert.equal(forced.written.length, 8)
    assert.notEqual(await readFile(join(out, 'ca.crt'), 'utf8'), before)
  })

  // Node's recursive mkdir spins for ever on a folder under /proc: `portcullis certs --out /proc/x` never ended.
  test('fails on a folder that cannot be made under /proc, rather than spinning for ever', { skip: !existsSync('/proc/self') && 'no procfs' }, async () => {
    let timer: NodeJS.Timeout | undefined
    const spinning = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('still running after 5 s')), 5000)))
    try {
      await assert.rejects(Promise.race([writeDevPki('/proc/portcullis-no-such-folder/certs'), spinning]), { code: 'ENOENT' })
    } finally {
      clearTimeout(timer)
    }
  })

  test('runCerts prints each file and the curl hint; exit 1 with a message on stderr on failure', async () => {
    const lines: string[] = []
    const errors: string[] = []
    const print = (line: string) => lines.push(line)
    const printError = (line: string) => errors.push(line)
    const out = join(dir, 'cli')
    assert.equal(await runCerts({ out }, print, printError), 0)
    assert.ok(lines.includes(`wrote ${join(out, 'server.crt')}`))
    assert.equal(lines.at(-2), `with a route that serves ${out}/server.crt and ${out}/server.key for localhost and takes ${out}/ca.crt as tls.clientCAs:`)
    assert.equal(lines.at(-1), `try: curl --cacert ${out}/ca.crt --cert ${out}/client.crt --key ${out}/client.key https://localhost:8443/`)
    assert.deepEqual(errors, [])

    const blocked = join(dir, 'a-file')
    await writeFile(blocked, '')
    lines.length = 0
    assert.equal(await runCerts({ out: join(blocked, 'certs') }, print, printError), 1)
    assert.deepEqual(lines, [])
    assert.match(errors.join('\n'), /cannot write .*a-file\/certs/)
  })
})
