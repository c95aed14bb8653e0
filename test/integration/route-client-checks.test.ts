/**
 * What a route asks of client certificates beyond its host's handshake. Client CAs of its own
 * (traefik#9202): the handshake takes a client of any route's CAs, and each route serves only the
 * clients of its own, a client of another route's CA getting 403 on its connection, full or resumed,
 * whatever path it took. allowedClients: only a certificate of a name or fingerprint listed. A reload
 * that changes either holds the kept connections and WebSockets to the new ones.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
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
import { listenOnLoopback } from '../helpers/upstream.js'
import { echoWebSockets } from '../helpers/websocket.js'

describe('a host whose routes take different client CAs and clients', () => {
  let pki: TestPki
  /** Answers each request with its path and the client identity it got. */
  let upstream: http.Server
  let gw: TestGateway
  const config = (partnerCAs = pki.caB.certFile, named = 'spiffe://a/*') => `
listen: { https: 127.0.0.1:0 }
routes:
  - name: staff
    host: cas.w.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile} }
    upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' }
  - name: partners
    host: cas.w.test
    path: /partners
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${partnerCAs} }
    upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' }
  - name: everyone
    host: cas.w.test
    path: /everyone
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caAB.certFile} }
    upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' }
  - name: named
    host: cas.w.test
    path: /named
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile}, allowedClients: { uri: ['${named}'] } }
    upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' }
  - name: pinned
    host: cas.w.test
    path: /pinned
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile}, allowedClients: { commonName: [nobody], fingerprint: ['${new X509Certificate(pki.cliA2.cert).fingerprint256}'] } }
    upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' }
  - name: chained
    host: cas.w.test
    path: /chained
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.root.certFile} }
    upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' }
`

  before(async () => {
    pki = await makeTestPki()
    upstream = echoWebSockets(http.createServer((req, res) => res.end(`${req.url} ${req.headers['x-forwarded-client-cert'] ?? 'anonymous'}`)))
    await listenOnLoopback(upstream)
    gw = await startGateway(config(), { watch: false, reloadIntervalMs: 0 })
  })
  after(async () => {
    await gw?.close()
    upstream?.closeAllConnections()
    upstream?.close()
    await pki?.cleanup()
  })

  const request = (path: string, client?: CertFiles) =>
    httpsRequest({ port: gw.ports.https!, servername: 'cas.w.test', path, ca: pki.caS.cert, ...(client && { cert: client.cert, key: client.key }) })
  const statusOf = async (path: string, client: CertFiles) => (await request(path, client)).status

  it("serves each client on the routes of its certificate's CA, and answers it 403 on the others", async () => {
    const alice = await request('/', pki.cliA)
    assert.equal(alice.status, 200)
    assert.match(alice.body, /^\/ .*Subject="CN=alice,O=A"/)
    assert.deepEqual(await Promise.all(['/partners/orders', '/everyone', '/chained'].map((path) => statusOf(path, pki.cliA))), [403, 200, 403])
    const refused = await request('/partners/orders', pki.cliA)
    assert.match(refused.body, /this route does not take certificates of your client certificate's CA/)
    assert.deepEqual(await Promise.all(['/', '/partners/orders', '/everyone', '/chained'].map((path) => statusOf(path, pki.cliB))), [403, 200, 200, 403])
    assert.deepEqual(await Promise.all(['/', '/partners/orders', '/everyone', '/chained'].map((path) => statusOf(path, pki.leafChain))), [403, 403, 403, 200])
    assert.equal(await seriesValue(gw, 'portcullis_requests_total{route="partners",method="GET",code="403"}'), 3)
  })

  it('with allowedClients, serves only a certificate of a name or fingerprint listed', async () => {
    assert.deepEqual(await Promise.all([pki.cliA, pki.cliA2].map((client) => statusOf('/named', client))), [200, 403])
    assert.deepEqual(await Promise.all([pki.cliA, pki.cliA2].map((client) => statusOf('/pinned', client))), [403, 200])
    assert.match((await request('/named', pki.cliA2)).body, /this route does not take your client certificate/)
    assert.equal(await statusOf('/', pki.cliA2), 200, 'the route beside it takes every client of its CA')
  })

  it('refuses at the handshake a client of none of the CAs, and one without a certificate', async () => {
    assert.equal(await statusOf('/everyone', pki.cliOfNotCa), 400)
    await assert.rejects(request('/everyone'), /certificate required/)
  })

  it('holds a resumed session to the route as its full handshake, in TLS 1.3 and 1.2', async () => {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      const exchange = { port: gw.ports.https!, servername: 'cas.w.test', version, ca: pki.caS.cert }
      for (const [client, path, status] of [[pki.cliA, '/partners', '403'], [pki.leafChain, '/chained', '200'], [pki.leafChain, '/', '403']] as const) {
        const withClient = { ...exchange, cert: client.cert, key: client.key, path }
        const first = await sessionExchange(withClient)
        const again = await sessionExchange({ ...withClient, session: first.session })
        assert.deepEqual([again.resumed, again.status], [true, status], `${version} ${path}`)
      }
    }
  })

  /** A TLS connection with `client`'s certificate that got one answer for `path` and is kept open. */
  const keptConnection = async (client: CertFiles, request: string) => {
    const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'cas.w.test', ca: pki.caS.cert, cert: client.cert, key: client.key })
    await once(socket, 'secureConnect')
    return { socket, status: await answer(socket, request) }
  }

  it("holds a kept connection to a route's new CAs after a reload, and closes a WebSocket of a CA the route no longer takes", async () => {
    const alice = await keptConnection(pki.cliA, 'GET /partners HTTP/1.1\r\nHost: cas.w.test\r\n\r\n')
    assert.equal(alice.status, 'HTTP/1.1 403 Forbidden')
    const bob = await keptConnection(pki.cliB, 'GET /partners/ws HTTP/1.1\r\nHost: cas.w.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
    assert.equal(bob.status, 'HTTP/1.1 101 Switching Protocols')
    const closed = once(bob.socket, 'close')
    const named = await keptConnection(pki.cliA, 'GET /named HTTP/1.1\r\nHost: cas.w.test\r\n\r\n')
    assert.equal(named.status, 'HTTP/1.1 200 OK')
    await writeFile(gw.configFile, config(pki.caA.certFile, 'spiffe://b/*'))
    assert.equal((await gw.gateway.reload()).ok, true)
    assert.equal(await answer(alice.socket, 'GET /partners HTTP/1.1\r\nHost: cas.w.test\r\nConnection: close\r\n\r\n'), 'HTTP/1.1 200 OK')
    assert.equal(await answer(named.socket, 'GET /named HTTP/1.1\r\nHost: cas.w.test\r\nConnection: close\r\n\r\n'), 'HTTP/1.1 403 Forbidden')
    await Promise.race([closed, pause(5000).then(() => assert.fail('the WebSocket is still open 5 s after the reload'))])
  })
})

/** The status line `socket` answers `request` with, or 'closed'. */
function answer(socket: tls.TLSSocket, request: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString().split('\r\n')[0]!))
    socket.once('close', () => resolve('closed'))
    socket.write(request)
  })
}
