/**
 * tls.clientCertRequired: false, nginx's `ssl_verify_client optional`: a client without a certificate
 * is served, and no client identity reaches the upstream, not even one the client wrote; a client that
 * sends a certificate is verified as on any mutual-TLS route, and refused if it fails. The route that
 * requires one, on the same port, still refuses a client without; on one host, a route that
 * requires one answers a client without 403; and a rateLimit by clientCert counts each certificate.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { setTimeout as pause } from 'node:timers/promises'
import { httpsRequest, sessionExchange } from '../helpers/client.js'
import { seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type CertFiles, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback, startEchoUpstream, type EchoReply, type EchoUpstream } from '../helpers/upstream.js'
import { echoWebSockets } from '../helpers/websocket.js'

/** A TLS connection to `gw`'s HTTPS listener for `servername`, with `client`'s certificate if given. */
async function connectTo(gw: TestGateway, pki: TestPki, servername: string, client?: CertFiles): Promise<tls.TLSSocket> {
  const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername, ca: pki.caS.cert, ...(client && { cert: client.cert, key: client.key }) })
  await once(socket, 'secureConnect')
  return socket
}

/** What `socket` answers `request` with (its first read), or 'closed'. */
function answer(socket: tls.TLSSocket, request: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString()))
    socket.once('close', () => resolve('closed'))
    socket.write(request)
  })
}

/** Writes `yaml` as `gw`'s config, and reloads it. */
async function reloadWith(gw: TestGateway, yaml: string): Promise<void> {
  await writeFile(gw.configFile, yaml)
  assert.equal((await gw.gateway.reload()).ok, true)
}

describe('a route where the client certificate is optional', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  let gw: TestGateway
  const OPTIONAL = () => `, clientCAs: ${pki.caA.certFile}, clientCertRequired: false`
  const REQUIRED = () => `, clientCAs: ${pki.caA.certFile}`
  /** The optional route's client authentication, as the tls mapping's last keys. */
  const config = (clientAuth: string) => `
listen: { https: 127.0.0.1:0 }
routes:
  - name: optional
    host: opt.w.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}${clientAuth} }
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }
  - name: required
    host: req.w.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile} }
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }
  - name: limited
    host: limited.w.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile}, clientCertRequired: false }
    rateLimit: { requests: 1, per: 1m, by: clientCert }
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }
`

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    gw = await startGateway(config(OPTIONAL()), { watch: false, reloadIntervalMs: 0 })
  })
  after(async () => {
    await gw?.close()
    await upstream?.close()
    await pki?.cleanup()
  })

  const request = (servername: string, client?: CertFiles, options: { maxVersion?: tls.SecureVersion; headers?: Record<string, string> } = {}) =>
    httpsRequest({ port: gw.ports.https!, servername, ca: pki.caS.cert, ...(client && { cert: client.cert, key: client.key }), ...options })

  it('serves a client without a certificate, in TLS 1.3 and 1.2, and forwards no identity, not even one the client wrote', async () => {
    const okBefore = await seriesValue(gw, 'portcullis_tls_handshakes_total{side="ingress",route="optional",result="ok",reason="none"}')
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      const spoofed = { 'x-forwarded-client-cert': 'Hash=00;Subject="CN=admin"', 'client-cert': ':AAAA:' }
      const reply = await request('opt.w.test', undefined, { maxVersion, headers: spoofed })
      assert.equal(reply.status, 200, maxVersion)
      const { headers } = JSON.parse(reply.body) as EchoReply
      assert.equal(headers['x-forwarded-client-cert'], undefined)
      assert.equal(headers['client-cert'], undefined)
    }
    const okAfter = await seriesValue(gw, 'portcullis_tls_handshakes_total{side="ingress",route="optional",result="ok",reason="none"}')
    assert.equal(okAfter - okBefore, 2, 'counted as handshakes that passed')
  })

  it('verifies a certificate the client sends: forwards one that passes, refuses one of another CA and an expired one', async () => {
    const alice = await request('opt.w.test', pki.cliA)
    assert.equal(alice.status, 200)
    assert.match(String((JSON.parse(alice.body) as EchoReply).headers['x-forwarded-client-cert']), /Subject="CN=alice,O=A"/)
    for (const [client, reason] of [[pki.cliB, 'unknown_ca'], [pki.cliExpired, 'cert_expired']] as const) {
      const before = await seriesValue(gw, `portcullis_tls_handshakes_total{side="ingress",route="optional",result="error",reason="${reason}"}`)
      assert.equal((await request('opt.w.test', client)).status, 400, reason)
      assert.equal(await seriesValue(gw, `portcullis_tls_handshakes_total{side="ingress",route="optional",result="error",reason="${reason}"}`), before + 1)
    }
  })

  it('resumes the session of a client without a certificate, and refuses that of a certificate refused, in TLS 1.3 and 1.2', async () => {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      const exchange = { port: gw.ports.https!, servername: 'opt.w.test', version, ca: pki.caS.cert }
      const first = await sessionExchange(exchange)
      assert.deepEqual([first.resumed, first.status], [false, '200'], version)
      const second = await sessionExchange({ ...exchange, session: first.session })
      assert.deepEqual([second.resumed, second.status], [true, '200'], version)
      // The session of a certificate refused stays refused: resumed, it is no client without one.
      const refused = await sessionExchange({ ...exchange, cert: pki.cliB.cert, key: pki.cliB.key })
      assert.equal(refused.status, '400', version)
      const again = await sessionExchange({ ...exchange, session: refused.session })
      assert.deepEqual([again.resumed, again.status], [true, '400'], version)
    }
  })

  it('with rateLimit by clientCert, gives each certificate its bucket, whatever its address, and a client without one its address\'s', async () => {
    const limited = async (client: CertFiles | undefined, status: number, from?: RegExp) => {
      const reply = await request('limited.w.test', client)
      assert.equal(reply.status, status, client ? 'with a certificate' : 'without')
      if (from) assert.match(reply.body, from)
    }
    await limited(pki.cliA, 200)
    await limited(pki.cliA, 429, /no more requests from your client certificate/)
    await limited(pki.cliA2, 200, /carol/)
    await limited(undefined, 200)
    await limited(undefined, 429, /no more requests from your address/)
    await limited(pki.cliA2, 429)
  })

  it('still refuses a client without a certificate, with an alert, on the route that requires one', async () => {
    await assert.rejects(request('req.w.test'), /certificate required.*SSL alert number 116/)
    assert.equal((await request('req.w.test', pki.cliA)).status, 200)
  })

  const LAST_REQUEST = 'GET / HTTP/1.1\r\nHost: opt.w.test\r\nConnection: close\r\n\r\n'
  /** A connection to the optional route that got one answer and is kept open. */
  const keptConnection = async (client?: CertFiles) => {
    const socket = await connectTo(gw, pki, 'opt.w.test', client)
    assert.match(await answer(socket, 'GET / HTTP/1.1\r\nHost: opt.w.test\r\n\r\n'), /^HTTP\/1\.1 200/)
    return socket
  }

  it('closes the kept connection of a client without a certificate when a reload requires one, and keeps one with', async () => {
    const without = await keptConnection()
    const withCertificate = await keptConnection(pki.cliA)
    const closed = once(without, 'close')
    await reloadWith(gw, config(REQUIRED()))
    await closed
    assert.match(await answer(withCertificate, LAST_REQUEST), /^HTTP\/1\.1 200/, 'a client with a certificate passes the new policy')
    withCertificate.destroy()
    await assert.rejects(request('opt.w.test'), /certificate required/, 'and a new handshake without one is refused')
  })

  it('keeps the kept connection of a client without a certificate when a reload makes a route that asked for none ask for an optional one', async () => {
    await reloadWith(gw, config(''))
    const socket = await keptConnection()
    await reloadWith(gw, config(OPTIONAL()))
    assert.match(await answer(socket, LAST_REQUEST), /^HTTP\/1\.1 200/)
    socket.destroy()
  })
})

// One host, a path for every client and a path for clients with certificates (Traefik #9202,
// ingress-nginx #4688): the handshake asks for a certificate and lets a client without one through,
// and the route that requires one answers such a client 403.
describe('a host whose routes differ in clientCertRequired', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  /** The partner route's upstream: plain HTTP, with WebSockets, answering a request with its headers. */
  let partnerUpstream: http.Server
  let gw: TestGateway
  const config = (partner: string) => `
listen: { https: 127.0.0.1:0 }
routes:
  - name: public
    host: mix.w.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile}, clientCertRequired: false }
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }
  - name: partner
    host: mix.w.test
    path: /partner
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile}${partner} }
    upstream: { url: 'http://127.0.0.1:${(partnerUpstream.address() as AddressInfo).port}' }
`

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    partnerUpstream = echoWebSockets(http.createServer((req, res) => res.end(JSON.stringify({ headers: req.headers }))))
    await listenOnLoopback(partnerUpstream)
    gw = await startGateway(config(''), { watch: false, reloadIntervalMs: 0 })
  })
  after(async () => {
    await gw?.close()
    await upstream?.close()
    partnerUpstream?.closeAllConnections()
    partnerUpstream?.close()
    await pki?.cleanup()
  })

  const connect = (client?: CertFiles) => connectTo(gw, pki, 'mix.w.test', client)
  /** The status line `socket` answers a request for `path` with, or 'closed'. */
  const statusOf = async (socket: tls.TLSSocket, path: string, headers = '') =>
    (await answer(socket, `GET ${path} HTTP/1.1\r\nHost: mix.w.test\r\n${headers}\r\n`)).split('\r\n')[0]!

  it('answers a client without a certificate 403 on the route that requires one, keeps its connection, and serves it the other', async () => {
    const socket = await connect()
    assert.equal(await statusOf(socket, '/partner/orders'), 'HTTP/1.1 403 Forbidden')
    assert.equal(await statusOf(socket, '/'), 'HTTP/1.1 200 OK', 'on the same connection')
    socket.destroy()
    assert.equal(await seriesValue(gw, 'portcullis_requests_total{route="partner",method="GET",code="403"}'), 1)
    const upgrade = await connect()
    assert.equal(await statusOf(upgrade, '/partner/ws', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'), 'HTTP/1.1 403 Forbidden')
    upgrade.destroy()
  })

  it('serves a client with a certificate on both routes, with its identity, and refuses one that does not verify', async () => {
    const alice = await request('/partner/orders', pki.cliA)
    assert.equal(alice.status, 200)
    assert.match(String((JSON.parse(alice.body) as EchoReply).headers['x-forwarded-client-cert']), /CN=alice/)
    assert.equal((await request('/', pki.cliA)).status, 200)
    assert.equal((await request('/', pki.cliB)).status, 400, 'a certificate of another CA is refused on the open route too')
  })

  it('closes a WebSocket without a certificate on a route a reload makes require one', async () => {
    await reloadWith(gw, config(', clientCertRequired: false'))
    const socket = await connect()
    const upgraded = await statusOf(socket, '/partner/ws', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n')
    assert.equal(upgraded, 'HTTP/1.1 101 Switching Protocols')
    const closed = once(socket, 'close')
    await reloadWith(gw, config(''))
    await Promise.race([closed, pause(5000).then(() => assert.fail('the WebSocket is still open 5 s after the reload'))])
  })

  const request = (path: string, client: CertFiles) =>
    httpsRequest({ port: gw.ports.https!, servername: 'mix.w.test', path, ca: pki.caS.cert, cert: client.cert, key: client.key })
})
