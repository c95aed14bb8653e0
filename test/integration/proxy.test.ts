/**
 * The request path end to end: a TLS client with a certificate → gateway → mutual TLS → echo upstream.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
import type { IncomingMessage } from 'node:http'
import https from 'node:https'
import net, { type AddressInfo } from 'node:net'
import { text } from 'node:stream/consumers'
import { httpRequest, httpsRequest } from '../helpers/client.js'
import { eventually, loggedAfter, requestsCounted, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback, startEchoUpstream, type EchoReply, type EchoUpstream } from '../helpers/upstream.js'
import type { Snapshot } from '../../src/snapshot/snapshot.js'
import { rawExchange, rawUntilClosed } from '../helpers/raw.js'

describe('proxying to a mutual TLS upstream', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  /** On the IPv6 loopback; undefined where the machine has none (IPv6 turned off in a container). */
  let ipv6Upstream: EchoUpstream | undefined
  let wsUpstream: https.Server
  /** Accepts connections and never answers. */
  let stalled: net.Server
  let gw: TestGateway

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key, clientCA: pki.caA.cert })
    ipv6Upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key, host: '::1' }).catch(() => undefined)
    wsUpstream = https.createServer({ cert: pki.up.cert, key: pki.up.key })
    new WebSocketServer({ server: wsUpstream, verifyClient: ({ req }: { req: IncomingMessage }) => req.url !== '/deny' }).on('connection', (ws, req) => {
      ws.on('message', (data) => ws.send(`echo ${data.toString()} via ${req.headers['x-forwarded-proto']}`))
    })
    await listenOnLoopback(wsUpstream)
    stalled = net.createServer(() => undefined)
    await listenOnLoopback(stalled)
    const upstreamBlock = (port: number) => `
      url: https://127.0.0.1:${port}
      ca: ${pki.caS.certFile}
      cert: ${pki.cliA.certFile}
      key: ${pki.cliA.keyFile}
      serverName: up.test`
    gw = await startGateway(`
listen: { https: 127.0.0.1:0, http: 127.0.0.1:0 }
routes:
  - name: mtls
    host: a.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile} }
    upstream:${upstreamBlock(upstream.port)}
  - name: prefixed
    host: a.test
    path: /v2
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile} }
    upstream:
      url: https://127.0.0.1:${upstream.port}/internal
      ca: ${pki.caS.certFile}
      cert: ${pki.cliA.certFile}
      key: ${pki.cliA.keyFile}
      serverName: up.test
  - name: ip
    host: ip.test
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, cert: ${pki.cliA.certFile}, key: ${pki.cliA.keyFile} }
  - name: many
    host: '*.many.test'
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, cert: ${pki.cliA.certFile}, key: ${pki.cliA.keyFile} }
  - name: by-name
    host: name.test
    upstream: { url: 'https://localhost:${upstream.port}', ca: ${pki.caS.certFile}, cert: ${pki.cliA.certFile}, key: ${pki.cliA.keyFile} }
  - { name: ipv6, host: ipv6.test, upstream: { url: 'https://[::1]:${ipv6Upstream?.port ?? 1}', ca: ${pki.caS.certFile}, serverName: up.test } }
  - name: ws
    host: ws.test
    upstream: { url: 'https://127.0.0.1:${(wsUpstream.address() as AddressInfo).port}', ca: ${pki.caS.certFile}, serverName: up.test }
  - name: stalled
    host: stalled.test
    upstream: { url: 'http://127.0.0.1:${(stalled.address() as AddressInfo).port}', timeouts: { response: 300ms } }
`)
  })
  after(async () => {
    await gw.close()
    await upstream.close()
    await ipv6Upstream?.close()
    wsUpstream.closeAllConnections()
    wsUpstream.close()
    stalled.close()
    await pki.cleanup()
  })

  const get = (options: { path?: string; headers?: Record<string, string>; method?: string; body?: string } = {}) =>
    httpsRequest({ port: gw.ports.https!, servername: 'a.test', ca: pki.caS.cert, cert: pki.cliA.cert, key: pki.cliA.key, ...options })

  // catalogue UM-01, UV-06 (Host a.test, SNI up.test)
  it('presents the gateway client certificate upstream and sends serverName as SNI', async () => {
    const reply = await get()
    assert.equal(reply.status, 200)
    const echo = JSON.parse(reply.body) as EchoReply
    assert.equal(echo.clientCertCN, 'alice')
    assert.equal(echo.servername, 'up.test')
  })

  it("sends the url's host name as SNI without its port where the route names no serverName, whatever the Host (catalogue UV-05, UV-06)", async () => {
    const reply = await httpRequest({ port: gw.ports.http!, host: 'name.test:8080' })
    assert.equal(reply.status, 200)
    assert.equal((JSON.parse(reply.body) as EchoReply).servername, 'localhost')
  })

  // undici would take the SNI from each Host and drop its pooled connection whenever that changes.
  it('keeps one pooled upstream connection and no SNI for an IP upstream, however many Hosts clients send (catalogue UV-06)', async () => {
    const connectionsBefore = upstream.connections.length
    for (let i = 0; i < 50; i++) {
      const reply = await httpRequest({ port: gw.ports.http!, host: `host${i}.many.test` })
      assert.equal(reply.status, 200)
      assert.equal((JSON.parse(reply.body) as EchoReply).servername, null)
    }
    assert.ok(upstream.connections.length - connectionsBefore <= 1, `${upstream.connections.length - connectionsBefore} new upstream connections`)
  })

  // catalogue UV-04, UV-06 (Host ip.test, no SNI)
  it('verifies an IP-literal upstream against its IP SAN and sends no SNI', async () => {
    const reply = await httpRequest({ port: gw.ports.http!, host: 'ip.test' })
    assert.equal(reply.status, 200)
    assert.equal((JSON.parse(reply.body) as EchoReply).servername, null)
  })

  it('reaches an IPv6-literal upstream url', async (t) => {
    if (!ipv6Upstream) return t.skip('this machine has no IPv6 loopback')
    const reply = await httpRequest({ port: gw.ports.http!, host: 'ipv6.test' })
    assert.equal(reply.status, 200)
    assert.equal((JSON.parse(reply.body) as EchoReply).servername, 'up.test')
  })

  it('passes path and query unchanged, and prepends the upstream path prefix', async () => {
    const plain = JSON.parse((await get({ path: '/a%2Fb/c%2e?x=1&y=%20/../' })).body) as EchoReply
    assert.equal(plain.url, '/a%2Fb/c%2e?x=1&y=%20/../')
    const prefixed = JSON.parse((await get({ path: '/v2/items?q=1' })).body) as EchoReply
    assert.equal(prefixed.url, '/internal/v2/items?q=1')
  })

  // The /v2 route's upstream url has the path /internal; the catch-all route's has none.
  for (const [path, forwarded, why] of [
    ['/v2/x/%2e%2E/items?q=1', '/internal/v2/items?q=1', 'dot segments resolved within the route'],
    ['//v2//items?q=//1', '/internal/v2/items?q=//1', 'slashes merged, not past the /v2 route to the catch-all, whose upstream would merge them itself'],
    ['/%76%32/items', '/internal/%76%32/items', 'routed by the path decoded, as nginx matches locations and the upstream reads it; sent as it came'],
    ['/v2%2Fitems', '/internal/v2%2Fitems', 'routed by the path decoded; sent as it came'],
    ['/v2/../admin', '/admin', 'out of the /v2 route: the catch-all route'],
  ] as const) {
    it(`forwards ${path} as ${forwarded}: ${why}`, async () => {
      assert.equal((JSON.parse((await get({ path })).body) as EchoReply).url, forwarded)
    })
  }

  it('refuses with 400 a path that climbs above the root, a dot segment behind an encoded slash or backslash, a fragment', async () => {
    // A fragment too: nginx upstream ends the path at `#`, and resolves `/internal/v2/..#` to /internal/.
    for (const path of ['/v2/../../internal/keys', '/v2/%2e%2e/%2E%2E/x', '/v2/..%2Fadmin', '/v2/x%5C../admin', '/v2/..#', '/v2/%2e%2e#x', '/v2?q#x']) {
      assert.equal((await get({ path })).status, 400, path)
    }
  })

  // catalogue HF-08, HF-09
  it('removes hop-by-hop headers and sets X-Forwarded-*', async () => {
    const reply = await get({
      headers: {
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': 'must not pass',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        te: 'trailers',
        // Not nominated by Connection, and still hop-by-hop: an upstream must not read it as an upgrade.
        upgrade: 'h2c',
        'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA',
        'keep-alive': 'timeout=99',
        'proxy-connection': 'keep-alive',
        'x-forwarded-for': '203.0.113.7',
        'x-kept': 'yes',
      },
    })
    const { headers } = JSON.parse(reply.body) as EchoReply
    assert.equal(headers['x-secret-hop'], undefined)
    assert.equal(headers['proxy-authorization'], undefined)
    assert.equal(headers['te'], undefined)
    assert.equal(headers['upgrade'], undefined)
    assert.equal(headers['http2-settings'], undefined)
    assert.equal(headers['keep-alive'], undefined)
    assert.equal(headers['proxy-connection'], undefined)
    assert.equal(headers['x-kept'], 'yes')
    assert.equal(headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1')
    assert.equal(headers['x-forwarded-proto'], 'https')
    assert.equal(headers['x-forwarded-host'], 'a.test')
    assert.equal(headers['host'], 'a.test')
  })

  // catalogue HF-09
  it("drops the forwarding claims the gateway does not make, and sets X-Real-IP to the client's address", async () => {
    const claims = {
      forwarded: 'for=6.6.6.6;proto=https',
      'x-real-ip': '6.6.6.6',
      'x-forwarded-ssl': 'on',
      'x-forwarded-scheme': 'https',
      'x-forwarded-port': '443',
      'x-forwarded-prefix': '/admin',
      'x-forwarded-tls-client-cert': 'MIIB',
      x_forwarded_port: '443',
    }
    const { headers } = JSON.parse((await get({ headers: { ...claims, 'x-forwarded-for': '6.6.6.6' } })).body) as EchoReply
    for (const name of Object.keys(claims).filter((name) => name !== 'x-real-ip')) assert.equal(headers[name], undefined, name)
    assert.equal(headers['x-real-ip'], '127.0.0.1')
    assert.equal(headers['x-forwarded-for'], '6.6.6.6, 127.0.0.1')
  })

  it('keeps Host and Content-Length however the Connection header nominates them: routing and framing depend on them', async () => {
    const reply = await get({ method: 'POST', headers: { connection: 'host, content-length' }, body: 'hello' })
    const { headers, body } = JSON.parse(reply.body) as EchoReply
    assert.equal(headers['host'], 'a.test')
    assert.equal(headers['content-length'], '5')
    assert.equal(headers['transfer-encoding'], undefined)
    assert.equal(body, 'hello')
  })

  // catalogue HF-08, HF-09
  it('drops the client value of X-Forwarded-For that Connection nominates, before adding its own', async () => {
    const reply = await get({ headers: { connection: 'x-forwarded-for', 'x-forwarded-for': '6.6.6.6' } })
    assert.equal((JSON.parse(reply.body) as EchoReply).headers['x-forwarded-for'], '127.0.0.1')
  })

  // catalogue HF-01
  it('drops underscore spellings of the headers the gateway sets or drops (CGI-style servers read them as the same)', async () => {
    const reply = await get({
      headers: {
        x_forwarded_client_cert: 'Subject="CN=admin"',
        'X-Forwarded_Client-Cert': 'Subject="CN=admin"',
        client_cert: ':AAAA:',
        'Client-Cert_Chain': ':AAAA:',
        x_forwarded_for: '6.6.6.6',
        'x-forwarded_proto': 'http',
        x_real_ip: '6.6.6.6',
        transfer_encoding: 'chunked',
        Keep_Alive: 'timeout=5',
        proxy_authorization: 'Basic YWRtaW46YWRtaW4=',
        x_other: 'kept',
      },
    })
    const { headers } = JSON.parse(reply.body) as EchoReply
    const spellings = ['x_forwarded_client_cert', 'x-forwarded_client-cert', 'client_cert', 'client-cert_chain', 'x_forwarded_for', 'x-forwarded_proto', 'x_real_ip']
    const hopByHop = ['transfer_encoding', 'keep_alive', 'proxy_authorization']
    for (const name of hopByHop) assert.equal(headers[name], undefined, name)
    for (const name of spellings) assert.equal(headers[name], undefined, name)
    assert.equal(headers['x_other'], 'kept')
  })

  it('streams request bodies through: the upstream has the request before the client has sent all of its body', async () => {
    const half = 'x'.repeat(128 * 1024)
    const req = https.request({
      host: '127.0.0.1',
      port: gw.ports.https!,
      servername: 'a.test',
      ca: pki.caS.cert,
      cert: pki.cliA.cert,
      key: pki.cliA.key,
      agent: false,
      method: 'POST',
      path: '/streamed',
      headers: { host: 'a.test', 'content-length': String(2 * half.length) },
    })
    const response = once(req, 'response') as Promise<[IncomingMessage]>
    req.write(half)
    await eventually(async () => upstream.requests.includes('/streamed'), 3000, 'the request at the upstream, half its body still to come')
    req.end(half)
    const [res] = await response
    const echo = JSON.parse(await text(res)) as EchoReply
    assert.equal(echo.method, 'POST')
    assert.equal(echo.body, half + half)
  })

  // The 100 Continue itself: request-framing › sends 100 Continue once a request is routed.
  it('sends a body that came with Expect: 100-continue on without Expect', async () => {
    // curl sends Expect: 100-continue with bodies over 1 MiB; undici refuses a request that carries it.
    const body = 'x'.repeat(2 * 1024 * 1024)
    const reply = await get({ method: 'PUT', body, headers: { expect: '100-continue' } })
    assert.equal(reply.status, 200)
    const echo = JSON.parse(reply.body) as EchoReply
    assert.equal(echo.body.length, body.length)
    assert.equal(echo.headers['expect'], undefined)
  })

  // catalogue SH-11
  it('answers 404 for an unknown host without contacting any upstream', async () => {
    const before = upstream.requests.length
    const reply = await get({ headers: { host: 'nowhere.test' } })
    assert.equal(reply.status, 404)
    const plain = await httpRequest({ port: gw.ports.http!, host: 'nowhere.test' })
    assert.equal(plain.status, 404)
    assert.equal(upstream.requests.length, before)
  })

  it('proxies WebSocket upgrades', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/chat`, { headers: { host: 'ws.test' } })
    await once(ws, 'open')
    ws.send('hello')
    const [message] = await once(ws, 'message')
    assert.equal(String(message), 'echo hello via http')
    ws.close()
  })

  it('relays an upstream that refuses a WebSocket upgrade as it answered, not as 502', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/deny`, { headers: { host: 'ws.test' } })
    ws.on('error', () => undefined)
    const [, response] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage]
    assert.equal(response.statusCode, 401)
    assert.equal(response.headers.connection, 'close')
    response.destroy()
  })

  it('counts WebSocket upgrades as requests, with the status the client got', async () => {
    const counted = async () => [await requestsCounted(gw, 'route="ws",method="GET"', 101), await requestsCounted(gw, 'route="ws",method="GET"', 401)]
    const before = await counted()
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/chat`, { headers: { host: 'ws.test' } })
    await once(ws, 'open')
    ws.close()
    const denied = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/deny`, { headers: { host: 'ws.test' } })
    denied.on('error', () => undefined)
    const [, response] = (await once(denied, 'unexpected-response')) as [unknown, IncomingMessage]
    response.destroy()
    assert.deepEqual(await counted(), [before[0]! + 1, before[1]! + 1])
  })

  // catalogue HF-08
  it('ignores an h2c upgrade and answers over HTTP/1.1, without passing Upgrade on', async () => {
    const served = async () =>
      Number(/^portcullis_requests_total\{route="ip",method="GET",code="200"\} (\d+)$/m.exec(await gw.gateway.metrics.registry.metrics())?.[1] ?? 0)
    const before = await served()
    // What `curl --http2 http://…` sends; a proxy that tunnels it lets the client past routing.
    const response = await rawExchange(
      gw.ports.http!,
      'GET /h2c HTTP/1.1\r\nHost: ip.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
    )
    assert.match(response, /^HTTP\/1\.1 200 /)
    assert.match(response, /\r\nConnection: close\r\n/i)
    // The echoed request, as the upstream saw it:
    assert.match(response, /"url": "\/h2c"/)
    assert.doesNotMatch(response, /"upgrade"|"http2-settings"/)
    assert.equal(await served(), before + 1, 'counted like any request')
  })

  it('refuses an Upgrade that carries a body rather than forwarding it without the body, or into the tunnel', async () => {
    const refusedBefore = await requestsCounted(gw, 'route="(none)",method="POST"', 400)
    const before = upstream.requests.length
    for (const request of [
      'POST /h2c HTTP/1.1\r\nHost: ip.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\nhello',
      'POST /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 5\r\n\r\nhello',
    ]) {
      assert.match(await rawExchange(gw.ports.http!, request), /^HTTP\/1\.1 400 /)
    }
    assert.equal(upstream.requests.length, before)
    assert.equal(await requestsCounted(gw, 'route="(none)",method="POST"', 400), refusedBefore + 2)
  })

  it('takes a Content-Length of zero in any spelling as no body: an Upgrade with `Content-Length: 00` becomes a WebSocket', async () => {
    const upgrade = (length: string) =>
      `GET /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: ${length}\r\n\r\n`
    for (const length of ['0', '00']) assert.match(await rawExchange(gw.ports.http!, upgrade(length)), /^HTTP\/1\.1 101 /, length)
  })

  it('says why it refuses a WebSocket upgrade, as it says it for a request', async () => {
    const upgrade = (host: string) =>
      `GET /chat HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`
    assert.match(await rawExchange(gw.ports.http!, upgrade('nowhere.test')), /^HTTP\/1\.1 404 [^]*\r\n\r\n404 Not Found: no route for this host and path\n$/)
    assert.match(await rawExchange(gw.ports.http!, upgrade('a.test')), /\r\n\r\n421 Misdirected Request: this host is served over HTTPS only\n$/)
  })

  it('survives clients that reset the connection while the gateway answers them', async () => {
    const resetAfter = async (port: number, request: string, ms: number) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.on('error', () => undefined)
      await once(socket, 'connect')
      socket.write(request)
      await new Promise((resolve) => setTimeout(resolve, ms))
      socket.resetAndDestroy()
    }
    for (let i = 0; i < 5; i++) {
      // Plain HTTP on the TLS port: the gateway writes its 400 into a reset connection.
      await resetAfter(gw.ports.https!, 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n', 0)
      // A WebSocket upgrade whose upstream has not answered yet.
      await resetAfter(gw.ports.http!, 'GET / HTTP/1.1\r\nHost: stalled.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', 50)
      // Refused upgrades (421 from the TLS policy check is not reachable here: 404 and 400).
      await resetAfter(gw.ports.http!, 'GET / HTTP/1.1\r\nHost: nowhere.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', 0)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal((await get()).status, 200)
  })

  it('answers an upgrade whose upstream does not answer with 504 after timeouts.response', async () => {
    const response = await rawUntilClosed(gw.ports.http!, 'GET / HTTP/1.1\r\nHost: stalled.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
    assert.match(response, /^HTTP\/1\.1 504 /)
  })

  // catalogue SH-08
  it('routes an absolute-form target by its own host, and keeps the route policy (RFC 9112 3.2.2)', async () => {
    const reply = await rawExchange(gw.ports.http!, 'GET HTTP://ip.test/x/../y?q=1 HTTP/1.1\r\nHost: nowhere.test\r\nConnection: close\r\n\r\n')
    const echoed = (reply: string) => JSON.parse(reply.slice(reply.indexOf('{'), reply.lastIndexOf('}') + 1)) as EchoReply
    assert.match(reply, /^HTTP\/1\.1 200 /)
    const echo = echoed(reply)
    assert.equal(echo.url, '/y?q=1', 'the path, dot segments resolved')
    assert.equal(echo.headers.host, 'ip.test')
    // No path: the query alone, or nothing, makes the target's path `/`. An https URL is taken as well.
    for (const [target, path] of [['http://ip.test?q=1', '/?q=1'], ['https://ip.test', '/']]) {
      const served = await rawExchange(gw.ports.http!, `GET ${target} HTTP/1.1\r\nHost: nowhere.test\r\nConnection: close\r\n\r\n`)
      assert.equal(echoed(served).url, path, target)
    }
    assert.match(await rawExchange(gw.ports.http!, 'GET http://a.test/ HTTP/1.1\r\nHost: ip.test\r\n\r\n'), /^HTTP\/1\.1 421 [\s\S]*this host is served over HTTPS only/)
    assert.match(await rawExchange(gw.ports.http!, 'GET http://user@ip.test/ HTTP/1.1\r\nHost: ip.test\r\n\r\n'), /^HTTP\/1\.1 400 /)
  })

  // catalogue SH-08 (asterisk form), SH-09 (Host missing, empty or twice), LA-04 (headers over 16 KiB), LA-08 (plain HTTP, a record that is no ClientHello)
  const MALFORMED: readonly (readonly [what: string, listener: 'http' | 'https', request: string | Buffer, answer: RegExp])[] = [
    ['a request line that is not HTTP', 'http', 'GARBAGE\r\n\r\n', /^HTTP\/1\.1 400 /],
    [
      'plain HTTP on the HTTPS port',
      'https',
      'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n',
      /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\r\n\r\n400 Bad Request: plain HTTP was sent to the HTTPS port\n$/,
    ],
    // TLS gone wrong, not plain HTTP: closed unanswered.
    ['a TLS record that holds no ClientHello (a ServerHello)', 'https', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00]), /^$/],
    ['a TLS alert record first', 'https', Buffer.from('15030100020228', 'hex'), /^$/],
    ['bytes of no protocol', 'https', Buffer.alloc(16), /^$/],
    ['headers over 16 KiB', 'http', `GET / HTTP/1.1\r\nHost: ws.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
    ['a Host that is no host name', 'http', 'GET / HTTP/1.1\r\nHost: bad host!\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['no Host', 'http', 'GET / HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['an empty Host', 'http', 'GET / HTTP/1.1\r\nHost: \r\n\r\n', /^HTTP\/1\.1 400 /],
    ['OPTIONS *', 'http', 'OPTIONS * HTTP/1.1\r\nHost: ws.test\r\n\r\n', /^HTTP\/1\.1 400 /],
    // RFC 9112 3.2: the gateway and the upstream could each pick a different one. The same for who calls.
    ['two Host headers', 'http', 'GET / HTTP/1.1\r\nHost: ws.test\r\nhost: ip.test\r\n\r\n', /^HTTP\/1\.1 400 /],
    [
      'two Authorization headers',
      'http',
      'GET / HTTP/1.1\r\nHost: ip.test\r\nAuthorization: Bearer alice\r\nauthorization: Bearer mallory\r\n\r\n',
      /^HTTP\/1\.1 400 [\s\S]*more than one authorization header/,
    ],
  ]
  for (const [what, listener, request, answer] of MALFORMED) {
    it(`answers ${what} as malformed, closes the connection, and keeps serving`, async () => {
      assert.match(await rawUntilClosed(gw.ports[listener]!, request), answer)
      assert.equal((await get()).status, 200)
    })
  }

  it('answers TRACE over TLS with 405, and the upstream never sees it (cross-site tracing)', async () => {
    const before = upstream.requests.length
    const reply = await get({ method: 'TRACE', headers: { cookie: 'session=secret' } })
    assert.equal(reply.status, 405)
    assert.equal(reply.headers.connection, 'close')
    assert.doesNotMatch(reply.body, /secret/)
    assert.equal(upstream.requests.length, before)
  })

  it('answers 500 when handling a request fails inside the gateway, and keeps serving', async () => {
    // A fault injected into the snapshot serving now stands in for a bug in the request path.
    const { table } = (gw.gateway as unknown as { current: Snapshot }).current
    const match = table.match
    Object.assign(table, { match: () => { throw new Error('injected fault') } })
    try {
      const since = gw.logs.length
      const reply = await get()
      assert.equal(reply.status, 500)
      assert.equal(reply.headers.connection, 'close')
      assert.equal((await loggedAfter(gw, since, 'request failed inside the gateway')).code, 'PCL_ERR_INTERNAL')
      assert.match(await rawExchange(gw.ports.http!, 'GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'), /^HTTP\/1\.1 500/)
    } finally {
      Object.assign(table, { match })
    }
    assert.equal((await get()).status, 200)
    assert.equal(await requestsCounted(gw, 'route="(none)",method="GET"', 500), 2)
  })

  it('answers 500 when sending a routed request upstream fails inside the gateway, WebSockets included, and holds the pool no longer', async () => {
    const upstreams = [...(gw.gateway as unknown as { current: Snapshot }).current.upstreams.values()]
    const pools = upstreams.map((upstream) => upstream.pool)
    const dispatches = pools.map((pool) => pool.dispatch)
    for (const pool of pools) Object.assign(pool, { dispatch: () => { throw new Error('injected fault') } })
    try {
      assert.equal((await get()).status, 500)
      assert.match(await rawExchange(gw.ports.http!, 'GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'), /^HTTP\/1\.1 500/)
    } finally {
      pools.forEach((pool, i) => Object.assign(pool, { dispatch: dispatches[i] }))
    }
    assert.equal(await requestsCounted(gw, 'route="mtls",method="GET"', 500), 1)
    assert.equal(await requestsCounted(gw, 'route="ws",method="GET"', 500), 1)
    // Neither holds its pool after its 500: a pool a reload retires closes once none does, and one that
    // the failed WebSocket upgrade kept held would never have closed.
    await eventually(async () => upstreams.every((upstream) => upstream.holds === 0), 3000, 'no request holding its pool')
    assert.equal((await get()).status, 200)
  })

  it('closes a WebSocket whose answer fails to be recorded inside the gateway, with nothing more written to it and no second count', async () => {
    const metrics = gw.gateway.metrics
    const recordRequest = metrics.recordRequest
    // A fault injected into counting the 101 stands in for a bug there, after the client has its answer.
    let faults = 0
    Object.assign(metrics, {
      recordRequest: (route: string, method: string, code: number, seconds: number) => {
        if (route === 'ws' && faults++ === 0) throw new Error('injected fault')
        recordRequest(route, method, code, seconds)
      },
    })
    const before = await requestsCounted(gw, 'route="ws",method="GET"', 500)
    try {
      const since = gw.logs.length
      const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/chat`, { headers: { host: 'ws.test' } })
      const errors: Error[] = []
      ws.on('error', (error) => errors.push(error))
      const [code] = (await once(ws, 'close')) as [number]
      // A 500 written into the open WebSocket would reach ws as a frame it refuses (1002, with an error).
      assert.deepEqual([code, errors.map((error) => error.message)], [1006, []])
      assert.equal((await loggedAfter(gw, since, 'request failed inside the gateway')).code, 'PCL_ERR_INTERNAL')
    } finally {
      Object.assign(metrics, { recordRequest })
    }
    assert.equal(await requestsCounted(gw, 'route="ws",method="GET"', 500), before)
    assert.equal((await get()).status, 200)
  })

  it('keeps no access log unless the config asks for one', () => {
    assert.ok(gw.logs.length > 0)
    assert.equal(gw.logs.filter((line) => line.msg === 'request').length, 0)
  })
})

