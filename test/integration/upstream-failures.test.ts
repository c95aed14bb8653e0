/**
 * What clients get when the upstream misbehaves: 502 for refusal, TLS failure and resets, 504 for a
 * timeout, never a hang; and the gateway keeps serving afterwards.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { join } from 'node:path'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { httpRequest } from '../helpers/client.js'
import { rawUntilClosed } from '../helpers/raw.js'
import { eventually, loggedAfter, seriesSum, seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { certificateNamed, createTestCA, issueTestCert, makeTestPki, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback, startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js'

async function listen<S extends net.Server>(server: S): Promise<S & { port: number }> {
  return Object.assign(server, { port: await listenOnLoopback(server) })
}

/** Nothing listens on port 1 (tcpmux) of the loopback: connecting is refused. */
const REFUSING_PORT = 1
/**
 * Every route here gives its upstream 10 s to connect and handshake: a failure answered sooner than
 * this came from the handshake itself, not from a timeout.
 */
const BEFORE_ANY_TIMEOUT_MS = 5000

describe('upstream failures', () => {
  let pki: TestPki
  let good: EchoUpstream
  let wrongName: EchoUpstream
  let otherCa: EchoUpstream
  let expired: EchoUpstream
  let cnOnly: EchoUpstream
  let pathTooLong: EchoUpstream
  let frozen: tls.Server & { port: number }
  let silent: net.Server & { port: number }
  let stalling: https.Server & { port: number }
  const stallingResponseClosed: Promise<void>[] = []
  let wantsCert: https.Server & { port: number }
  let rejectsCert: https.Server & { port: number }
  let wildcard: EchoUpstream
  let leafAlone: EchoUpstream
  let namesake: EchoUpstream
  let dying: https.Server & { port: number }
  let slow: https.Server & { port: number }
  const slowRequestClosed: Promise<void>[] = []
  let big: https.Server & { port: number }
  const BIG = 32 * 1024 * 1024
  let endless: https.Server & { port: number }
  const endlessResponseClosed: Promise<void>[] = []
  let gw: TestGateway

  before(async () => {
    pki = await makeTestPki()
    good = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    wrongName = await startEchoUpstream({ cert: pki.upWrongName.cert, key: pki.upWrongName.key })
    otherCa = await startEchoUpstream({ cert: pki.upOtherCa.cert, key: pki.upOtherCa.key })
    expired = await startEchoUpstream({ cert: pki.upExpired.cert, key: pki.upExpired.key })
    cnOnly = await startEchoUpstream({ cert: pki.upCnOnly.cert, key: pki.upCnOnly.key })
    // Its root allows no CA below it (pathLenConstraint 0), and its chain has one: PATH_LENGTH_EXCEEDED.
    const rootOfNoCa = await createTestCA({ commonName: 'Root CA with no CA below it', pathLength: 0 })
    const intUnderIt = await createTestCA({ commonName: 'Intermediate CA its root forbids', issuer: rootOfNoCa })
    const leafUnderIt = await issueTestCert(intUnderIt, { commonName: 'up.test', dnsNames: ['up.test'], usage: 'server' })
    pathTooLong = await startEchoUpstream({ cert: leafUnderIt.cert + intUnderIt.cert, key: leafUnderIt.key })
    const rootOfNoCaFile = join(pki.dir, 'root-of-no-ca.crt')
    await writeFile(rootOfNoCaFile, rootOfNoCa.cert)
    // TLS 1.2 and a client certificate required: a gateway without one gets a handshake_failure alert.
    wantsCert = await listen(
      https.createServer(
        { cert: pki.up.cert, key: pki.up.key, maxVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: true, ca: pki.caA.cert },
        (_req, res) => res.end('ok'),
      ),
    )
    // TLS 1.2, a client certificate of CA B required: the gateway's, of CA A, does not verify.
    rejectsCert = await listen(
      https.createServer(
        { cert: pki.up.cert, key: pki.up.key, maxVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: true, ca: pki.caB.cert },
        (_req, res) => res.end('ok'),
      ),
    )
    // Named by a wildcard alone.
    wildcard = await startEchoUpstream(await issueTestCert(rootOfNoCa, { commonName: 'wildcard', dnsNames: ['*.up.test'], usage: 'server' }))
    // Its leaf without the intermediate that issued it (nothing is fetched: AIA is not followed).
    const root = await createTestCA({ commonName: 'Root CA of an upstream chain' })
    const intermediate = await createTestCA({ commonName: 'Intermediate CA the upstream leaves out', issuer: root })
    leafAlone = await startEchoUpstream(await issueTestCert(intermediate, { commonName: 'up.test', dnsNames: ['up.test'], usage: 'server' }))
    // Issued by a CA of the same name as the one upstream.ca holds, with another key: the openssl recipe run twice.
    const sameNameCa = await createTestCA({ commonName: 'Test Server CA' })
    namesake = await startEchoUpstream(await issueTestCert(sameNameCa, { commonName: 'up.test', dnsNames: ['up.test'], usage: 'server' }))
    const rootFile = join(pki.dir, 'upstream-root.crt')
    const rootAndIntFile = join(pki.dir, 'upstream-root-and-int.crt')
    await writeFile(rootFile, root.cert)
    await writeFile(rootAndIntFile, root.cert + intermediate.cert)
    // Completes the handshake, reads the request, never answers.
    frozen = await listen(tls.createServer({ cert: pki.up.cert, key: pki.up.key }, (socket) => socket.resume()))
    // Takes the TCP connection and reads the ClientHello, never answers it: a handshake that stalls.
    silent = await listen(net.createServer((socket) => socket.resume()))
    // Sends headers and part of the body, then holds the rest; records when the gateway gives up on it.
    stalling = await listen(
      https.createServer({ cert: pki.up.cert, key: pki.up.key }, (_req, res) => {
        stallingResponseClosed.push(new Promise((resolve) => res.once('close', () => resolve())))
        res.writeHead(200, { 'content-length': '100000' })
        res.write('partial')
      }),
    )
    // Sends headers and part of the body (chunked for /chunked), then resets the connection.
    dying = await listen(
      https.createServer({ cert: pki.up.cert, key: pki.up.key }, (req, res) => {
        res.writeHead(200, req.url === '/chunked' ? {} : { 'content-length': '100000' })
        res.write('partial')
        setTimeout(() => res.socket?.destroy(), 50)
      }),
    )
    // Holds every request open; records when the gateway gives up on one.
    slow = await listen(
      https.createServer({ cert: pki.up.cert, key: pki.up.key }, (req) => {
        slowRequestClosed.push(new Promise((resolve) => req.socket.once('close', () => resolve())))
      }),
    )
    // Streams a body that never ends, as fast as it is taken; records when the gateway gives up on it.
    endless = await listen(
      https.createServer({ cert: pki.up.cert, key: pki.up.key }, (_req, res) => {
        endlessResponseClosed.push(new Promise((resolve) => res.once('close', () => resolve())))
        const chunk = Buffer.alloc(64 * 1024, 'x')
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
        }
        res.on('drain', pump)
        pump()
      }),
    )
    big = await listen(
      https.createServer({ cert: pki.up.cert, key: pki.up.key }, (_req, res) => {
        res.writeHead(200, { 'content-length': BIG })
        const chunk = Buffer.alloc(64 * 1024, 'x')
        let sent = 0
        const pump = () => {
          while (sent < BIG) {
            sent += chunk.length
            if (!res.write(chunk)) return void res.once('drain', pump)
          }
          res.end()
        }
        pump()
      }),
    )
    gw = await startGateway(`
listen: { http: 127.0.0.1:0 }
routes:${route('good', good.port)}${route('wrongname', wrongName.port)}${route('otherca', otherCa.port)}${route('expired', expired.port)}${route('wantscert', wantsCert.port)}${route('frozen', frozen.port, '{ connect: 10s, response: 300ms }')}${route('refused', REFUSING_PORT)}${route('dying', dying.port)}${route('slow', slow.port)}${route('endless', endless.port, '{ connect: 10s, response: 500ms }')}${route('big', big.port)}
  - { name: insecure, host: insecure.test, upstream: { url: 'https://127.0.0.1:${otherCa.port}', insecureSkipVerify: true } }
  - { name: systemtrust, host: systemtrust.test, upstream: { url: 'https://127.0.0.1:${good.port}', serverName: up.test } }
  - { name: cnonly, host: cnonly.test, upstream: { url: 'https://127.0.0.1:${cnOnly.port}', ca: ${pki.caS.certFile}, serverName: cn-only.test } }
  - { name: cnother, host: cnother.test, upstream: { url: 'https://127.0.0.1:${cnOnly.port}', ca: ${pki.caS.certFile}, serverName: other.test } }${route('silent-patient', silent.port)}${route('silent', silent.port, '{ connect: 300ms, response: 10s }')}${route('stalling', stalling.port, '{ connect: 10s, response: 300ms }')}
  - { name: ip-no-san, host: ipnosan.test, upstream: { url: 'https://127.0.0.1:${wrongName.port}', ca: ${pki.caS.certFile} } }
  - { name: rejectscert, host: rejectscert.test, upstream: { url: 'https://127.0.0.1:${rejectsCert.port}', ca: ${pki.caS.certFile}, serverName: up.test, cert: ${pki.cliA.certFile}, key: ${pki.cliA.keyFile} } }
  - { name: wildcard, host: wildcard.test, upstream: { url: 'https://127.0.0.1:${wildcard.port}', ca: ${rootOfNoCaFile}, serverName: a.up.test } }
  - { name: wildcard-two-labels, host: wildcard2.test, upstream: { url: 'https://127.0.0.1:${wildcard.port}', ca: ${rootOfNoCaFile}, serverName: a.b.up.test } }
  - { name: wildcard-bare, host: wildcard0.test, upstream: { url: 'https://127.0.0.1:${wildcard.port}', ca: ${rootOfNoCaFile}, serverName: up.test } }
  - { name: leaf-alone, host: leafalone.test, upstream: { url: 'https://127.0.0.1:${leafAlone.port}', ca: ${rootFile}, serverName: up.test } }
  - { name: leaf-alone-int, host: leafaloneint.test, upstream: { url: 'https://127.0.0.1:${leafAlone.port}', ca: ${rootAndIntFile}, serverName: up.test } }
  - { name: pathlen, host: pathlen.test, upstream: { url: 'https://127.0.0.1:${pathTooLong.port}', ca: ${rootOfNoCaFile}, serverName: up.test } }
  - { name: refusedplain, host: refusedplain.test, upstream: { url: 'http://127.0.0.1:${REFUSING_PORT}' } }
  - { name: insecure-twin, host: insecuretwin.test, upstream: { url: 'https://127.0.0.1:${otherCa.port}' } }
  - { name: broadcast, host: broadcast.test, upstream: { url: 'https://255.255.255.255:443' } }${route('namesake', namesake.port)}
`)
  })
  after(async () => {
    await gw.close()
    for (const upstream of [good, wrongName, otherCa, expired, cnOnly, pathTooLong, wildcard, leafAlone, namesake]) await upstream.close()
    for (const server of [frozen, silent, wantsCert, rejectsCert, dying, stalling, slow, endless, big]) server.close()
    for (const server of [dying, stalling, slow, endless, big]) server.closeAllConnections()
    await pki.cleanup()
  })

  /** A route to an upstream of pki.up's certificate, which it verifies. */
  const route = (name: string, port: number, timeouts = '{ connect: 10s, response: 5s }') => `
  - name: ${name}
    host: ${name}.test
    upstream: { url: 'https://127.0.0.1:${port}', ca: ${pki.caS.certFile}, serverName: up.test, timeouts: ${timeouts} }`
  const timed = async (host: string) => {
    const started = performance.now()
    const reply = await httpRequest({ port: gw.ports.http!, host })
    return { ...reply, ms: performance.now() - started }
  }
  const lastLog = (route: string, of = gw) => of.logs.filter((line) => line.route === route).at(-1)
  /**
   * The upstream failures `action` adds to portcullis_upstream_errors_total for `route`, by reason at
   * `stage` (a reason it does not add shows as 0): how often each failure counts, and under which
   * reason and stage alone (before_response: the gateway answered 502 or 504; mid_response: cut short).
   */
  const countedFailures = async (route: string, stage: 'before_response' | 'mid_response', reasons: string[], action: () => Promise<unknown>) => {
    const prefix = `portcullis_upstream_errors_total{route="${route}",`
    const inStage = (reason: string) => seriesValue(gw, `${prefix}reason="${reason}",stage="${stage}"}`)
    const counted = async () => [await seriesSum(gw, prefix), ...(await Promise.all(reasons.map(inStage)))]
    const before = await counted()
    await action()
    const after = await counted()
    return Object.fromEntries([['all', after[0]! - before[0]!], ...reasons.map((reason, i) => [reason, after[i + 1]! - before[i + 1]!])])
  }

  // catalogue UV-02
  it('502 at once when the upstream certificate does not match serverName', async () => {
    let reply = { status: 0, ms: 0 }
    assert.deepEqual(await countedFailures('wrongname', 'before_response', ['hostname_mismatch'], async () => (reply = await timed('wrongname.test'))), { all: 1, hostname_mismatch: 1 })
    assert.equal(reply.status, 502)
    assert.ok(reply.ms < BEFORE_ANY_TIMEOUT_MS, `${reply.ms} ms`)
    assert.equal(lastLog('wrongname')?.reason, 'hostname_mismatch')
    assert.equal(lastLog('wrongname')?.code, 'PCL_ERR_UPSTREAM_TLS')
    assert.equal(lastLog('wrongname')?.hint, "the upstream's certificate does not name up.test: set upstream.serverName to a name it holds")
    // The certificate that did not match, named; no CRL had a say.
    assert.deepEqual(lastLog('wrongname')?.certificate, certificateNamed(pki.upWrongName.cert))
    assert.equal(lastLog('wrongname')?.crl, undefined)
  })

  it('502 for an IP-literal upstream whose certificate does not name that address (catalogue UV-04)', async () => {
    assert.equal((await timed('ipnosan.test')).status, 502)
    assert.equal(lastLog('ip-no-san')?.reason, 'hostname_mismatch')
    assert.match(String(lastLog('ip-no-san')?.hint), /^the upstream's certificate does not name 127\.0\.0\.1: set upstream\.serverName/)
  })

  // catalogue UV-01
  it('502 at once when the upstream certificate is signed by another CA', async () => {
    const requestsBefore = otherCa.requests.length
    const reply = await timed('otherca.test')
    assert.equal(reply.status, 502)
    assert.equal(otherCa.requests.length, requestsBefore, 'no request reached the upstream')
    assert.ok(reply.ms < BEFORE_ANY_TIMEOUT_MS, `${reply.ms} ms`)
    assert.equal(lastLog('otherca')?.reason, 'unknown_ca')
    // OpenSSL's words ("unable to verify the first certificate") name no CA: the hint does.
    assert.equal(
      lastLog('otherca')?.hint,
      "the upstream's certificate is issued by CN=Unrelated CA, which upstream.ca does not hold: put that CA in upstream.ca, or, if it is an intermediate, have the upstream send it with its certificate",
    )
  })

  it('502 for an upstream certificate of another CA of the name upstream.ca holds, with a hint that says so', async () => {
    assert.equal((await timed('namesake.test')).status, 502)
    assert.equal(lastLog('namesake')?.reason, 'unknown_ca')
    assert.equal(
      lastLog('namesake')?.hint,
      "upstream.ca holds a CA named CN=Test Server CA, but not the key that signed the upstream's certificate: if that CA was made again under the same name, put the new one in upstream.ca",
    )
  })

  // catalogue UV-01
  it('verifies upstreams even where NODE_TLS_REJECT_UNAUTHORIZED=0 would turn Node\'s default off', async () => {
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
    try {
      assert.equal((await timed('otherca.test')).status, 502)
      assert.equal((await timed('expired.test')).status, 502)
    } finally {
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED
    }
  })

  // catalogue UV-01
  it('502 at once when the upstream certificate has expired', async () => {
    const requestsBefore = expired.requests.length
    const reply = await timed('expired.test')
    assert.equal(reply.status, 502)
    assert.equal(expired.requests.length, requestsBefore, 'no request reached the upstream')
    assert.ok(reply.ms < BEFORE_ANY_TIMEOUT_MS, `${reply.ms} ms`)
    assert.deepEqual([lastLog('expired')?.reason, lastLog('expired')?.code], ['cert_expired', 'PCL_ERR_UPSTREAM_TLS'])
  })

  // catalogue UM-07 in TLS 1.2 (handshake_failure, which no shared cipher also sends: reason other)
  it('logs an alert in the upstream handshake as a TLS failure, even one without a reason label of its own', async () => {
    assert.equal((await timed('wantscert.test')).status, 502)
    const line = lastLog('wantscert')
    // OpenSSL 3.0 (Node 20) spells it SSLV3, 3.5 (Node 24) SSL/TLS.
    assert.match(String((line?.error as { code?: string } | undefined)?.code), /^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_HANDSHAKE_FAILURE$/)
    assert.deepEqual([line?.reason, line?.code], ['other', 'PCL_ERR_UPSTREAM_TLS'])
  })

  // It was logged as PCL_ERR_UPSTREAM_CONNECT, sending the reader to the network: only the CRL
  // verdicts among those without a reason of their own were known to be TLS's.
  it('logs a verdict on the chain without a reason label of its own as a TLS failure, not a connection one', async () => {
    assert.equal((await timed('pathlen.test')).status, 502)
    const line = lastLog('pathlen')
    assert.deepEqual([line?.reason, line?.code, (line?.error as { code?: string } | undefined)?.code], ['other', 'PCL_ERR_UPSTREAM_TLS', 'PATH_LENGTH_EXCEEDED'])
  })

  it('says to write http:// where an https:// upstream answers in plain HTTP', async () => {
    const plain = await listen(http.createServer((_req, res) => res.end('ok')))
    let plainGw: TestGateway | undefined
    try {
      plainGw = await startGateway(`
listen: { http: 127.0.0.1:0 }
routes:
  - { name: plain, host: plain.test, upstream: { url: 'https://127.0.0.1:${plain.port}', ca: ${pki.caS.certFile}, serverName: up.test } }
`)
      assert.equal((await httpRequest({ port: plainGw.ports.http!, host: 'plain.test' })).status, 502)
      const hint = `the upstream did not answer in TLS: if it serves plain HTTP, write upstream.url as http://127.0.0.1:${plain.port}`
      assert.equal(lastLog('plain', plainGw)?.hint, hint)
    } finally {
      await plainGw?.close()
      plain.close()
    }
  })

  // As nginx's proxy_ssl_protocols and Envoy's upstream TLS default: TLS 1.2 at least, whatever Node allows.
  it('refuses an upstream older than TLS 1.2 where Node is told to allow it (--tls-min-v1.0, a cipher list at SECLEVEL=0)', async () => {
    const legacy = await listen(
      https.createServer({ cert: pki.up.cert, key: pki.up.key, maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (_req, res) => res.end('ok')),
    )
    const nodeDefaults = { minVersion: tls.DEFAULT_MIN_VERSION, ciphers: tls.DEFAULT_CIPHERS }
    Object.assign(tls, { DEFAULT_MIN_VERSION: 'TLSv1', DEFAULT_CIPHERS: 'DEFAULT@SECLEVEL=0' })
    let legacyGw: TestGateway | undefined
    try {
      legacyGw = await startGateway(`
listen: { http: 127.0.0.1:0 }
routes:${route('legacy', legacy.port)}
`)
      assert.equal((await httpRequest({ port: legacyGw.ports.http!, host: 'legacy.test' })).status, 502)
      assert.equal(lastLog('legacy', legacyGw)?.reason, 'protocol_version')
    } finally {
      Object.assign(tls, { DEFAULT_MIN_VERSION: nodeDefaults.minVersion, DEFAULT_CIPHERS: nodeDefaults.ciphers })
      await legacyGw?.close()
      legacy.close()
    }
  })

  it('verifies an upstream against the system CAs where the route names no ca: a private CA gets 502', async () => {
    assert.equal((await timed('systemtrust.test')).status, 502)
    assert.deepEqual([lastLog('systemtrust')?.reason, lastLog('systemtrust')?.code], ['unknown_ca', 'PCL_ERR_UPSTREAM_TLS'])
  })

  // catalogue UV-03 (CN fallback)
  it('matches serverName against the CN of an upstream certificate without DNS names, as nginx does', async () => {
    assert.equal((await timed('cnonly.test')).status, 200)
    assert.equal((await timed('cnother.test')).status, 502)
    assert.equal(lastLog('cnother')?.reason, 'hostname_mismatch')
  })

  it('matches a wildcard name to one left-most label only (catalogue UV-03)', async () => {
    assert.equal((await timed('wildcard.test')).status, 200, 'a.up.test')
    for (const [host, route] of [['wildcard2.test', 'wildcard-two-labels'], ['wildcard0.test', 'wildcard-bare']] as const) {
      assert.equal((await timed(host)).status, 502, route)
      assert.equal(lastLog(route)?.reason, 'hostname_mismatch', route)
    }
  })

  it('502 for an upstream that leaves out its intermediate, unless upstream.ca holds it (catalogue UV-07)', async () => {
    assert.equal((await timed('leafalone.test')).status, 502)
    assert.deepEqual([lastLog('leaf-alone')?.reason, lastLog('leaf-alone')?.code], ['unknown_ca', 'PCL_ERR_UPSTREAM_TLS'])
    assert.match(String(lastLog('leaf-alone')?.hint), /^the upstream's certificate is issued by CN=Intermediate CA the upstream leaves out, which upstream\.ca does not hold: .*have the upstream send it/)
    assert.equal((await timed('leafaloneint.test')).status, 200)
  })

  // Node's TLS server, as this upstream, refuses a certificate it cannot verify with a bare close, no
  // alert (as the gateway's own ingress does): the gateway sees a reset in the handshake. An upstream
  // that sends unknown_ca or bad_certificate is counted as peer_rejected_cert.
  it('502 once, not sent again, when a TLS 1.2 upstream refuses the gateway client certificate (catalogue UM-02)', async () => {
    const handshakeFailures = () => seriesSum(gw, 'portcullis_tls_handshakes_total{side="upstream",route="rejectscert",result="error"')
    const [failedBefore, retriesBefore] = [await handshakeFailures(), await seriesValue(gw, 'portcullis_upstream_retries_total{route="rejectscert"}')]
    let reply = { status: 0, ms: 0 }
    const counted = await countedFailures('rejectscert', 'before_response', ['connection_reset'], async () => (reply = await timed('rejectscert.test')))
    assert.equal(reply.status, 502)
    assert.deepEqual(counted, { all: 1, connection_reset: 1 })
    assert.equal(await handshakeFailures(), failedBefore + 1, 'a failed upstream handshake')
    assert.equal(await seriesValue(gw, 'portcullis_upstream_retries_total{route="rejectscert"}'), retriesBefore, 'not sent again')
  })

  // catalogue UV-01 (verification off only where a route says so)
  it('reaches an upstream it cannot verify only where the route says insecureSkipVerify, with a warning', async () => {
    assert.equal((await timed('insecure.test')).status, 200)
    const warning = gw.logs.find((line) => line.level === 40 && String(line.msg).includes('insecureSkipVerify'))
    assert.match(String(warning?.msg), /^config warning: \S+:\d+:\d+ routes\[11\]\.upstream\.insecureSkipVerify: upstream certificate verification is off$/)
  })

  it('verifies a route whose upstream an insecureSkipVerify route reaches too: it gets no pool of that route', async () => {
    assert.equal((await timed('insecure.test')).status, 200)
    assert.equal((await timed('insecuretwin.test')).status, 502)
    assert.equal(lastLog('insecure-twin')?.reason, 'unknown_ca')
    assert.match(String(lastLog('insecure-twin')?.hint), /^the upstream's certificate is issued by CN=Unrelated CA, which is no root the system trusts \(upstream\.ca is not set\): put that CA in upstream\.ca/)
  })

  // Linux refuses a TCP connect to a broadcast address (ENETUNREACH), an error with no reason label of
  // its own; the errno itself is the machine's to choose.
  it('logs a connect the network refuses as a connection failure, reason other, not a TLS one', async () => {
    assert.equal((await timed('broadcast.test')).status, 502)
    const line = lastLog('broadcast')
    assert.deepEqual([line?.reason, line?.code], ['other', 'PCL_ERR_UPSTREAM_CONNECT'])
    assert.match(String((line?.error as { code?: string } | undefined)?.code), /^E[A-Z]+$/)
  })

  // catalogue UF-01, MT-05
  it('502 when the upstream port refuses connections, https or plain, each counted once as connection_refused', async () => {
    for (const route of ['refused', 'refusedplain']) {
      const counted = await countedFailures(route, 'before_response', ['connection_refused'], async () => assert.equal((await timed(`${route}.test`)).status, 502))
      assert.deepEqual(counted, { all: 1, connection_refused: 1 }, route)
      assert.equal(lastLog(route)?.reason, 'connection_refused')
      assert.equal(lastLog(route)?.code, 'PCL_ERR_UPSTREAM_CONNECT')
    }
  })

  // An upstream down under load fails every request: each is counted, and the log takes 50 a second.
  it('logs upstream failures at a bounded rate: the first 50 in a second, then one line that counts the rest', async () => {
    // A second without failures first: the tests before logged some in the log's current second.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const since = gw.logs.length
    const counted = await countedFailures('refusedplain', 'before_response', ['connection_refused'], () =>
      Promise.all(Array.from({ length: 60 }, async () => assert.equal((await timed('refusedplain.test')).status, 502))),
    )
    assert.deepEqual(counted, { all: 60, connection_refused: 60 })
    const lines = gw.logs.slice(since).filter((line) => line.msg === 'upstream request failed')
    assert.equal(lines.length, 50, 'each of the first 50 its own line')
    assert.equal((await loggedAfter(gw, since, 'upstream request failed: 10 more in the last 1 s')).count, 10, 'the rest summed up')
  })

  it('502 for a chunked upload whose upstream refuses connections, and the connection serves the next request', async () => {
    const socket = net.connect(gw.ports.http!, '127.0.0.1')
    let received = ''
    socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk))
    // More than a stream buffers (16 KiB), in 1 KiB chunks, all sent before the answer is read.
    const chunk = `400\r\n${'x'.repeat(1024)}\r\n`
    socket.write(`POST / HTTP/1.1\r\nHost: refusedplain.test\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.repeat(64)}0\r\n\r\n`)
    await eventually(async () => received.startsWith('HTTP/1.1 502 '), 5000, 'the 502')
    socket.write('GET / HTTP/1.1\r\nHost: refusedplain.test\r\n\r\n')
    await eventually(async () => received.split('HTTP/1.1 502 ').length === 3, 5000, 'the next request answered')
    socket.destroy()
  })

  it('502 for a WebSocket upgrade whose upstream refuses connections, logged as a request is: who asked what, and why', async () => {
    const since = gw.logs.length
    let failure: Awaited<ReturnType<typeof loggedAfter>> = {}
    const counted = await countedFailures('refused', 'before_response', ['connection_refused'], async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/chat?token=secret`, { headers: { host: 'refused.test' } })
      ws.on('error', () => undefined)
      const [, response] = (await once(ws, 'unexpected-response')) as [unknown, http.IncomingMessage]
      assert.equal(response.statusCode, 502)
      response.destroy()
      failure = await loggedAfter(gw, since, 'upstream upgrade failed')
    })
    assert.deepEqual(counted, { all: 1, connection_refused: 1 })
    assert.equal(failure.route, 'refused')
    assert.equal(failure.reason, 'connection_refused')
    assert.equal(failure.code, 'PCL_ERR_UPSTREAM_CONNECT')
    assert.equal(failure.status, 502)
    assert.equal(failure.path, '/chat')
    assert.equal(failure.client, '127.0.0.1')
    assert.equal(failure.upstream, `https://127.0.0.1:${REFUSING_PORT}`)
    assert.equal((failure.error as { code?: string }).code, 'ECONNREFUSED')
  })

  // catalogue UF-07
  it("504 after the route's response timeout when the upstream never answers", async () => {
    let reply = { status: 0, ms: 0 }
    assert.deepEqual(await countedFailures('frozen', 'before_response', ['timeout'], async () => (reply = await timed('frozen.test'))), { all: 1, timeout: 1 })
    assert.equal(reply.status, 504)
    assert.ok(reply.ms >= 290 && reply.ms < BEFORE_ANY_TIMEOUT_MS, `${reply.ms} ms: the route's 300 ms`)
    assert.equal(lastLog('frozen')?.reason, 'timeout')
    assert.equal(lastLog('frozen')?.code, 'PCL_ERR_UPSTREAM_TIMEOUT')
    // The TLS 1.3 handshake itself went through; the gateway's own timeout says nothing against it.
    const { values } = await gw.gateway.metrics.tlsHandshakes.get()
    assert.deepEqual(
      values.filter((v) => v.labels.route === 'frozen').map((v) => [v.labels.result, v.value]),
      [['ok', 1]],
    )
  })

  // undici's own connect timeout is 10 s: an answer within the test's 5 s came from the route's, and
  // not from silent-patient's 10 s before it in the config, whose pool it does not share.
  // catalogue UF-02
  it("504 after the route's connect timeout when the upstream takes the connection but never answers the TLS handshake", { timeout: 5000 }, async () => {
    const since = gw.logs.length
    const counted = await countedFailures('silent', 'before_response', ['timeout'], async () => assert.equal((await httpRequest({ port: gw.ports.http!, host: 'silent.test' })).status, 504))
    assert.deepEqual(counted, { all: 1, timeout: 1 })
    const logged = await loggedAfter(gw, since, 'upstream request failed')
    assert.deepEqual([logged.route, logged.reason, logged.code], ['silent', 'timeout', 'PCL_ERR_UPSTREAM_TIMEOUT'])
  })

  // undici's own body timeout is 300 s: a response cut within the test's 5 s was cut by the route's.
  // catalogue UF-07
  it("cuts the client response short when the upstream stalls mid-body for the route's response timeout, and closes the upstream request", { timeout: 5000 }, async () => {
    await assert.rejects(httpRequest({ port: gw.ports.http!, host: 'stalling.test' }), /aborted|ECONNRESET|socket hang up/)
    await stallingResponseClosed[0]
    assert.equal((await timed('good.test')).status, 200)
  })

  // catalogue UF-04, MT-05
  it('cuts the client response short when the upstream dies mid-response, counts it as a reset, and keeps serving', async () => {
    const since = gw.logs.length
    const counted = await countedFailures('dying', 'mid_response', ['connection_reset'], async () => {
      await assert.rejects(httpRequest({ port: gw.ports.http!, host: 'dying.test' }), /aborted|ECONNRESET|socket hang up/)
      await loggedAfter(gw, since, 'upstream failed mid-response')
    })
    assert.deepEqual(counted, { all: 1, connection_reset: 1 })
    assert.equal((await timed('good.test')).status, 200)
  })

  // catalogue UF-04
  it('cuts short a chunked response the upstream dies part way through: the client never gets its last chunk', async () => {
    await assert.rejects(httpRequest({ port: gw.ports.http!, host: 'dying.test', path: '/chunked' }), /aborted|ECONNRESET|socket hang up/)
  })

  it('cuts short the refusal of a WebSocket upgrade that the upstream dies part way through, and counts it once', async () => {
    const since = gw.logs.length
    const upgrade = 'GET /chat HTTP/1.1\r\nHost: dying.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
    let answer = ''
    const counted = await countedFailures('dying', 'mid_response', ['connection_reset'], async () => {
      answer = await rawUntilClosed(gw.ports.http!, upgrade)
      await loggedAfter(gw, since, 'upstream failed mid-response')
    })
    assert.match(answer, /^HTTP\/1\.1 200 [\s\S]*\r\n\r\npartial$/)
    assert.deepEqual(counted, { all: 1, connection_reset: 1 })
  })

  // catalogue UF-09
  it('aborts the upstream request when the client goes away', { timeout: 5000 }, async () => {
    const arrived = once(slow, 'request')
    const req = http.request({ host: '127.0.0.1', port: gw.ports.http, headers: { host: 'slow.test' }, agent: false })
    req.on('error', () => {})
    req.end()
    await arrived
    req.destroy()
    await slowRequestClosed[0]
    assert.equal(await seriesSum(gw, 'portcullis_upstream_errors_total{route="slow",'), 0, 'a client that left is no upstream failure')
  })

  // catalogue UF-09: the client leaves part way through its upload.
  it('aborts the upstream request when the client goes away part way through its upload', { timeout: 5000 }, async () => {
    const closing = slowRequestClosed.length
    const arrived = once(slow, 'request')
    const client = net.connect(gw.ports.http!, '127.0.0.1')
    client.on('error', () => {})
    client.write(`POST /upload HTTP/1.1\r\nHost: slow.test\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`)
    await arrived
    client.destroy()
    await slowRequestClosed[closing]
  })

  // catalogue UF-09
  it("closes a client that stops reading for the route's response timeout, and the upstream request with it", { timeout: 10_000 }, async () => {
    const arrived = once(endless, 'request')
    const client = net.connect(gw.ports.http!, '127.0.0.1')
    client.on('error', () => {})
    client.write('GET / HTTP/1.1\r\nHost: endless.test\r\n\r\n')
    // The client never reads: the kernel buffers fill, the gateway's writes stall.
    client.pause()
    await arrived
    await endlessResponseClosed[0]
    client.destroy()
  })

  it('serves a large body to a client that reads in bursts, without a listener per stall', { timeout: 20_000 }, async () => {
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(warning.name)
    process.on('warning', onWarning)
    try {
      const received = await new Promise<number>((resolve) => {
        const client = net.connect(gw.ports.http!, '127.0.0.1')
        let bytes = 0
        const bursts = setInterval(() => (client.isPaused() ? client.resume() : client.pause()), 20)
        client.on('data', (chunk: Buffer) => (bytes += chunk.length))
        client.on('close', () => {
          clearInterval(bursts)
          resolve(bytes)
        })
        client.write('GET / HTTP/1.1\r\nHost: big.test\r\nConnection: close\r\n\r\n')
      })
      assert.ok(received > BIG, `${received} bytes`)
      assert.deepEqual(warnings, [])
    } finally {
      process.off('warning', onWarning)
    }
  })

  // catalogue HF-10
  it('logs the route and a short reason, never a certificate or key', async () => {
    // One failure of its own, which names a certificate, beside those of the tests before.
    assert.equal((await timed('wrongname.test')).status, 502)
    const text = JSON.stringify(gw.logs)
    assert.ok(!text.includes('BEGIN'), 'no PEM in logs')
    // Each failure's own line, not the lines that count those held back at the log's rate.
    const failures = gw.logs.filter((l) => /^upstream .*failed/.test(String(l.msg)) && !String(l.msg).includes(' more in the last '))
    assert.notEqual(failures.length, 0)
    for (const line of failures) {
      assert.equal(typeof line.route, 'string')
      assert.equal(typeof line.reason, 'string')
    }
  })
})
