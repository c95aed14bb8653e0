/**
 * Responses that well-formed upstreams send and a proxy must pass on as they are: bodiless statuses
 * that carry Content-Length, interim 1xx responses, an answer that comes before the upload is read,
 * and responses that are cut short, which still count in the request metrics.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { httpRequest } from '../helpers/client.js'
import { eventually, loggedAfter, requestsCounted, startGateway, type TestGateway } from '../helpers/gateway.js'
import { rawExchange, rawUntilClosed } from '../helpers/raw.js'
import { listenOnLoopback } from '../helpers/upstream.js'

/** Hand-written upstream answers, by request path. */
const RAW_ANSWERS: Record<string, string> = {
  '/304': 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 1234\r\n\r\n',
  '/204': 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n',
  '/hints': 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  // Two preloads on one Link line, as Node's own writeEarlyHints (given a list) and Rails write them.
  '/hints-two': 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload; as=style, </b.js>; rel=preload; as=script\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  // A valid Link list that Node's writeEarlyHints refuses to write.
  '/hints-list': 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload, </b.js>; rel=preload; title="a b"\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  '/hop': 'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: upstream only\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTrailer: X-Sum\r\nProxy-Authenticate: Basic realm="up"\r\nX-Kept: yes\r\nX-Forwarded-Proto: https\r\nContent-Length: 2\r\n\r\nok',
  '/early': 'HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\ndenied',
  '/cut': 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nseven b',
  '/599': 'HTTP/1.1 599 Network Connect Timeout\r\nContent-Length: 0\r\n\r\n',
  '/600': 'HTTP/1.1 600 Beyond\r\nContent-Length: 0\r\n\r\n',
  '/099': 'HTTP/1.1 099 Below\r\nContent-Length: 0\r\n\r\n',
  '/two-lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok',
  // HAProxy's http_transfer_encoding.vtc: a length beside chunked, then bytes that read as a second response.
  '/cl-te': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled',
  '/not-http': 'HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n',
  // gzip as a transfer coding, alone (the body ends at the close) or under chunked: the bytes carry it.
  '/te-gzip': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nnot plain text',
  '/te-gzip-chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nnot\r\n0\r\n\r\n',
  '/huge-head': `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(100_000)}\r\nContent-Length: 0\r\n\r\n`,
  // Written as UTF-8, as download names commonly are; RFC 9110 5.5 leaves such bytes to the recipient.
  '/utf8-refusal': 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="日本"\r\nContent-Length: 0\r\n\r\n',
  '/refusal-chunked': 'HTTP/1.1 401 No\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nwhole\r\n0\r\n\r\n',
  '/refusal-cut': 'HTTP/1.1 401 No\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n',
  '/h2c-101': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n',
  '/two-101': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket, h2c\r\nConnection: Upgrade\r\n\r\n',
  '/utf8-101': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Name: 日本\r\n\r\n',
}

/** A header value of UTF-8 bytes, as the gateway must relay them: byte for byte (read as latin1, as rawExchange reads). */
const UTF8_BYTES = Buffer.from('日本', 'utf8').toString('latin1')

/** A WebSocket upgrade request for `path` of `host`, as a browser sends it. */
const webSocketUpgrade = (path: string, host = 'raw.test') =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`

/**
 * An early hint of 8 KiB, which /hint-flood sends HINT_FLOOD times (32 MiB) before an answer, with
 * `Connection: close` or (/hint-flood?kept) without, after which it closes the connection and emits
 * 'flooded' once all of it is sent.
 */
const HINT_8K = `HTTP/1.1 103 Early Hints\r\nLink: <${'a'.repeat(8000)}>; rel=preload\r\n\r\n`
const HINT_FLOOD = 4000

describe('upstream responses passed on as they are', () => {
  let upstream: net.Server
  let gw: TestGateway

  before(async () => {
    // Answers as soon as it has the request line, never reads a body, and closes: one request per
    // connection. /cut is cut short; /slow is never answered, and emits 'slow' when it arrives.
    upstream = net.createServer((socket) => {
      socket.on('error', () => socket.destroy())
      socket.once('data', (chunk: Buffer) => {
        const path = chunk.toString('latin1').split(' ')[1]?.split('?')[0] ?? ''
        if (path === '/slow') return void upstream.emit('slow')
        if (path === '/events') return void socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n')
        if (path === '/utf8-late-body') {
          socket.write('HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename="日本.pdf"\r\nContent-Length: 2\r\n\r\n')
          return void setTimeout(() => socket.end('ok'), 50)
        }
        if (path === '/hint-flood') {
          const connection = chunk.includes('?kept') ? '' : 'Connection: close\r\n'
          const flood = `${HINT_8K.repeat(HINT_FLOOD)}HTTP/1.1 200 OK\r\n${connection}Content-Length: 2\r\n\r\nok`
          return void socket.end(flood, () => upstream.emit('flooded'))
        }
        if (path === '/processing') {
          const timer = setInterval(() => socket.write('HTTP/1.1 102 Processing\r\n\r\n'), 50)
          return void socket.once('close', () => clearInterval(timer))
        }
        socket.end(RAW_ANSWERS[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
        if (path === '/cut') socket.destroy()
      })
    })
    await listenOnLoopback(upstream)
    gw = await startGateway(`
listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
accessLog: true
routes:
  - name: raw
    host: raw.test
    upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' }
  - name: raw-quick
    host: quick.test
    upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}', timeouts: { response: 300ms } }
`)
  })
  after(async () => {
    await gw.close()
    upstream.close()
  })

  const get = (path: string) => httpRequest({ port: gw.ports.http!, host: 'raw.test', path })
  const requestsTotal = (labels: string, code: number) => requestsCounted(gw, labels, code)

  it('keeps an access log when the config asks for one, without the query', async () => {
    // The access log line is written when the response closes, which may come just after the client has it.
    assert.equal((await get('/204?token=secret')).status, 204)
    const line = await loggedAfter(gw, 0, 'request', (l) => l.path === '/204')
    assert.deepEqual([line.route, line.method, line.host, line.status, line.client, line.level], ['raw', 'GET', 'raw.test', 204, '127.0.0.1', 30])
    assert.equal(typeof line.ms, 'number')
    assert.ok(!JSON.stringify(gw.logs).includes('secret'))
    // Its User-Agent, and the bytes sent for it, the head's (a 204 has no body) and no other response's.
    const agent = 'curl/8.5.0 ' + 'x'.repeat(300)
    const withAgent = await httpRequest({ port: gw.ports.http!, host: 'raw.test', path: '/204?agent', headers: { 'user-agent': agent } })
    const agentLine = await loggedAfter(gw, 0, 'request', (l) => l.path === '/204' && l.userAgent !== undefined)
    assert.equal(agentLine.userAgent, agent.slice(0, 256))
    const head = Object.entries(withAgent.headers).reduce((length, [name, value]) => length + name.length + String(value).length + 4, 0)
    assert.ok(Math.abs(Number(agentLine.bytes) - head - 'HTTP/1.1 204 No Content\r\n\r\n'.length) < 16, `${agentLine.bytes} bytes for a head of about ${head}`)
    await get('/app;jsessionid=secret/page;v=secret')
    const params = await loggedAfter(gw, 0, 'request', (l) => l.path === '/app/page')
    assert.equal(params.status, 404)
    assert.ok(!JSON.stringify(gw.logs).includes('secret'), 'no path parameter logged')
    // An absolute-form target with a password, refused (501) before it is rewritten to origin form.
    const userinfo = await httpRequest({ port: gw.ports.http!, host: 'raw.test', path: 'http://alice:secret@raw.test/x', headers: { 'transfer-encoding': 'gzip' } })
    assert.equal(userinfo.status, 501)
    const refused = await loggedAfter(gw, 0, 'request', (l) => l.status === 501)
    assert.equal(refused.path, 'http://raw.test/x')
    assert.ok(!JSON.stringify(gw.logs).includes('secret'), 'no userinfo logged')
    // Rewritten to origin form, its userinfo became the Host, which is no host (400): logged without one.
    const since = gw.logs.length
    assert.equal((await httpRequest({ port: gw.ports.http!, host: 'raw.test', path: 'http://alice:secret@raw.test/y' })).status, 400)
    const noHost = await loggedAfter(gw, since, 'request', (l) => l.status === 400)
    assert.deepEqual([noHost.host, noHost.path], [undefined, '/y'])
    assert.ok(!JSON.stringify(gw.logs).includes('secret'), 'no userinfo logged as the host')
    // A fragment, which no client sends (a token in an OAuth callback's is meant for the browser alone): refused, and logged without it.
    assert.equal((await get('/callback#access_token=secret')).status, 400)
    const fragment = await loggedAfter(gw, 0, 'request', (l) => l.status === 400)
    assert.equal(fragment.path, '/callback')
    assert.ok(!JSON.stringify(gw.logs).includes('secret'), 'no fragment logged')
  })

  it('logs the client of a request with a body, which undici unlinks from its socket once sent', async () => {
    const post = (path: string) => httpRequest({ port: gw.ports.http!, host: 'raw.test', path, method: 'POST', body: 'abc' })
    let since = gw.logs.length
    assert.equal((await post('/204')).status, 204)
    assert.equal((await loggedAfter(gw, since, 'request', (l) => l.method === 'POST')).client, '127.0.0.1')
    since = gw.logs.length
    assert.equal((await post('/600')).status, 502)
    assert.equal((await loggedAfter(gw, since, 'upstream request failed')).client, '127.0.0.1')
  })

  it('sends a head on at once when its body is still to come (event streams, long polls)', async () => {
    const req = http.get({ port: gw.ports.http!, path: '/events', headers: { host: 'raw.test' } })
    let timer: NodeJS.Timeout | undefined
    const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no head within 2 s')), 2000)))
    const [res] = (await Promise.race([once(req, 'response'), late]).finally(() => clearTimeout(timer))) as [http.IncomingMessage]
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-type'], 'text/event-stream')
    req.destroy()
  })

  // Node's flushHeaders() wrote the head as UTF-8, where a head written with its body goes out as
  // latin1: the bytes were encoded twice (日 went out as six bytes).
  it('relays the bytes of a header value byte for byte, the head sent before its body or to an Upgrade', async () => {
    const late = await rawUntilClosed(gw.ports.http!, 'GET /utf8-late-body HTTP/1.1\r\nHost: raw.test\r\nConnection: close\r\n\r\n')
    assert.ok(late.includes(`filename="${UTF8_BYTES}.pdf"`), late)
    const refusal = await rawExchange(gw.ports.http!, webSocketUpgrade('/utf8-refusal'))
    assert.ok(refusal.includes(`realm="${UTF8_BYTES}"`), refusal)
    const switched = await rawExchange(gw.ports.http!, webSocketUpgrade('/utf8-101'))
    assert.match(switched, /^HTTP\/1\.1 101 /)
    assert.ok(switched.includes(`x-name: ${UTF8_BYTES}`), switched)
  })

  // Relayed as it came but for its Transfer-Encoding (hop-by-hop), the body of a refusal cut short was
  // delimited by the close, which looked like its end.
  it("keeps the framing of an upstream's chunked refusal of a WebSocket, so that one cut short shows as cut", async () => {
    const chunked = /^HTTP\/1\.1 401 .*\r\n(?:.*\r\n)*Transfer-Encoding: chunked\r\n(?:.*\r\n)*\r\n/
    const whole = await rawUntilClosed(gw.ports.http!, webSocketUpgrade('/refusal-chunked'))
    assert.match(whole, new RegExp(`${chunked.source}5\r\nwhole\r\n0\r\n\r\n$`))
    const cut = await rawUntilClosed(gw.ports.http!, webSocketUpgrade('/refusal-cut'))
    assert.match(cut, new RegExp(`${chunked.source}5\r\nshort\r\n$`), 'no last chunk')
  })

  it('answers 504 when interim answers keep coming and the final one does not, within the response timeout', async () => {
    const late = new Promise<undefined>((resolve) => setTimeout(resolve, 3000))
    const reply = await Promise.race([httpRequest({ port: gw.ports.http!, host: 'quick.test', path: '/processing' }), late])
    assert.equal(reply?.status, 504, 'answered within 3 s')
    // A WebSocket upgrade too: rawExchange resolves once the gateway closes, or after 3 s of quiet.
    assert.match(await rawExchange(gw.ports.http!, webSocketUpgrade('/processing', 'quick.test'), 3000), /^HTTP\/1\.1 504 /)
  })

  it('answers 502 for a status beyond 599 (RFC 9110 15), rather than relay it', async () => {
    assert.equal((await get('/599')).status, 599, '599 itself is HTTP, and relayed')
    const since = gw.logs.length
    assert.equal((await get('/600?token=secret')).status, 502)
    const failure = await loggedAfter(gw, since, 'upstream request failed')
    assert.equal(failure.code, 'PCL_ERR_UPSTREAM_RESPONSE', 'an answer that is not HTTP, not a failed connect')
    // Who asked what of which upstream, as nginx's error log says; the query (tokens) is left out.
    assert.deepEqual([failure.method, failure.path, failure.client], ['GET', '/600', '127.0.0.1'])
    assert.match(String(failure.upstream), /^http:\/\/127\.0\.0\.1:\d+$/)
  })

  it('answers 502 for a status beyond 599 to a WebSocket upgrade too, and counts no such code', async () => {
    assert.match(await rawExchange(gw.ports.http!, webSocketUpgrade('/600')), /^HTTP\/1\.1 502 /)
    assert.ok(!(await gw.gateway.metrics.registry.metrics()).includes('code="600"'))
  })

  // RFC 6455 4.1. It was tunnelled, and the client told `Upgrade: websocket`.
  it('answers 502 for a 101 that switches a WebSocket upgrade to another protocol, logged as a bad answer', async () => {
    for (const path of ['/h2c-101', '/two-101']) {
      const since = gw.logs.length
      assert.match(await rawUntilClosed(gw.ports.http!, webSocketUpgrade(path)), /^HTTP\/1\.1 502 /, path)
      assert.equal((await loggedAfter(gw, since, 'upstream upgrade failed')).code, 'PCL_ERR_UPSTREAM_RESPONSE')
    }
  })

  // catalogue UF-08
  it('answers 502 for a head with two lengths, too large, or a status below 100, logged as a bad answer', async () => {
    for (const path of ['/two-lengths', '/huge-head', '/099']) {
      const since = gw.logs.length
      assert.equal((await get(path)).status, 502, path)
      const failure = await loggedAfter(gw, since, 'upstream request failed')
      assert.deepEqual([failure.path, failure.code], [path, 'PCL_ERR_UPSTREAM_RESPONSE'])
    }
  })

  // catalogue UF-08
  it('answers 502 for a head with both Content-Length and chunked, or a status line that is not HTTP', async () => {
    for (const path of ['/cl-te', '/not-http']) {
      const since = gw.logs.length
      const reply = await get(path)
      assert.equal(reply.status, 502, path)
      assert.doesNotMatch(reply.body, /smuggled/)
      assert.equal((await loggedAfter(gw, since, 'upstream request failed')).code, 'PCL_ERR_UPSTREAM_RESPONSE')
    }
  })

  // Transfer-Encoding is hop-by-hop: relayed without it, the gzip bytes passed for the body itself.
  it('answers 502 for a transfer coding other than chunked, as nginx does, to a request and a WebSocket upgrade', async () => {
    for (const path of ['/te-gzip', '/te-gzip-chunked']) {
      const since = gw.logs.length
      const reply = await get(path)
      assert.equal(reply.status, 502, path)
      assert.equal((await loggedAfter(gw, since, 'upstream request failed')).code, 'PCL_ERR_UPSTREAM_RESPONSE')
      assert.match(await rawUntilClosed(gw.ports.http!, webSocketUpgrade(path)), /^HTTP\/1\.1 502 /, path)
    }
  })

  // catalogue HF-08
  it('removes the hop-by-hop headers of a response, and those its Connection header nominates (RFC 9110 7.6.1)', async () => {
    const { status, headers } = await get('/hop')
    assert.equal(status, 200)
    assert.deepEqual([headers['x-hop'], headers['proxy-connection'], headers['trailer'], headers['proxy-authenticate']], [undefined, undefined, undefined, undefined])
    assert.notEqual(headers['keep-alive'], 'timeout=5', "the gateway's keep-alive with its client, not the upstream's")
    // What a request's forwarding claims are dropped for is no reason to drop a response's headers.
    assert.deepEqual([headers['x-kept'], headers['x-forwarded-proto']], ['yes', 'https'])
  })

  // catalogue UF-10
  it('relays a 304 or 204 that carries Content-Length, and keeps the connection', async () => {
    const reply = await rawExchange(gw.ports.http!, 'GET /304 HTTP/1.1\r\nHost: raw.test\r\n\r\nGET /204 HTTP/1.1\r\nHost: raw.test\r\n\r\n')
    assert.match(reply, /^HTTP\/1\.1 304 Not Modified\r\n/)
    assert.match(reply, /\r\netag: "v1"\r\n/i)
    const noContent = reply.slice(reply.indexOf('HTTP/1.1 204 No Content\r\n'))
    assert.match(noContent, /^HTTP\/1\.1 204 No Content\r\n/)
    assert.doesNotMatch(noContent, /content-length/i, 'RFC 9110 8.6: never on a 204')
  })

  // undici fails them for the body their Content-Length announces: the client got no answer at all,
  // and the upstream was counted as failed mid-response.
  it('relays a 304 or 204 that carries Content-Length in refusal of a WebSocket upgrade, as a request gets it', async () => {
    const since = gw.logs.length
    const notModified = await rawUntilClosed(gw.ports.http!, webSocketUpgrade('/304'))
    assert.match(notModified, /^HTTP\/1\.1 304 Not Modified\r\n/)
    assert.match(notModified, /\r\netag: "v1"\r\n/i)
    const noContent = await rawUntilClosed(gw.ports.http!, webSocketUpgrade('/204'))
    assert.match(noContent, /^HTTP\/1\.1 204 No Content\r\n/)
    assert.doesNotMatch(noContent, /content-length/i, 'RFC 9110 8.6: never on a 204')
    assert.ok(!gw.logs.slice(since).some((line) => line.msg === 'upstream failed mid-response'), 'not an upstream failure')
  })

  it('passes 103 Early Hints on before the final response', async () => {
    const reply = await rawExchange(gw.ports.http!, 'GET /hints HTTP/1.1\r\nHost: raw.test\r\nConnection: close\r\n\r\n')
    assert.match(reply, /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/style\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\n/i)
    assert.match(reply, /\r\n\r\nok$/)
    // Never to an HTTP/1.0 client (RFC 9110 15.2), and a hint Node cannot write costs only the hint.
    assert.match(await rawExchange(gw.ports.http!, 'GET /hints HTTP/1.0\r\nHost: raw.test\r\n\r\n'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*ok$/)
    assert.match(await rawExchange(gw.ports.http!, 'GET /hints-list HTTP/1.1\r\nHost: raw.test\r\nConnection: close\r\n\r\n'), /HTTP\/1\.1 200 OK\r\n[\s\S]*ok$/)
  })

  it('passes on an Early Hints list of several preloads on one Link line, as a Node upstream writes it', async () => {
    const reply = await rawExchange(gw.ports.http!, 'GET /hints-two HTTP/1.1\r\nHost: raw.test\r\nConnection: close\r\n\r\n')
    assert.match(reply, /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/a\.css>; rel=preload; as=style, <\/b\.js>; rel=preload; as=script\r\n\r\nHTTP\/1\.1 200 OK\r\n/i)
    assert.match(reply, /\r\n\r\nok$/)
  })

  // The gateway holds the upstream's answer paused for the client when the upstream closes: undici 7
  // then ended the process after a `Connection: close` answer, and failed a keep-alive one as cut short
  // (paused-parser-end.ts).
  for (const path of ['/hint-flood', '/hint-flood?kept']) {
    it(`drops the early hints a client does not take, and completes the answer whose upstream then closed (${path})`, async () => {
      const client = net.connect(gw.ports.http!, '127.0.0.1')
      const flooded = once(upstream, 'flooded')
      client.write(`GET ${path} HTTP/1.1\r\nHost: raw.test\r\nConnection: close\r\n\r\n`)
      client.pause()
      await flooded
      let reply = ''
      client.setEncoding('latin1').on('data', (chunk: string) => (reply += chunk)).resume()
      await once(client, 'close')
      const hints = reply.split('HTTP/1.1 103 Early Hints').length - 1
      assert.ok(hints > 0 && hints < HINT_FLOOD / 2, `${hints} of ${HINT_FLOOD} hints relayed`)
      assert.ok(reply.endsWith('\r\n\r\nok') && reply.includes('HTTP/1.1 200 OK\r\n'), 'the final answer')
    })
  }

  it('reads and drops the rest of an upload the upstream answered early, so the client finishes', { timeout: 15_000 }, async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 'x')
    const req = http.request({ port: gw.ports.http, host: '127.0.0.1', path: '/early', method: 'POST', headers: { host: 'raw.test' } })
    const uploaded = new Promise<void>((resolve) => req.on('finish', resolve))
    req.end(body)
    const [res] = (await new Promise((resolve) => req.on('response', (r) => resolve([r])))) as [http.IncomingMessage]
    res.resume()
    assert.equal(res.statusCode, 401)
    // Without the gateway reading on, the upload stalls until the 60 s body idle timeout.
    await uploaded
  })

  it('answers CONNECT with 405, and counts it', async () => {
    const before = await requestsTotal('route="(none)",method="CONNECT"', 405)
    const reply = await rawExchange(gw.ports.http!, 'CONNECT raw.test:443 HTTP/1.1\r\nHost: raw.test:443\r\n\r\n')
    assert.match(reply, /^HTTP\/1\.1 405 Method Not Allowed\r\n/)
    assert.equal(await requestsTotal('route="(none)",method="CONNECT"', 405), before + 1)
  })

  // Cross-site tracing: an upstream answers TRACE with the request it got, Cookie and Authorization
  // included, for a script to read. nginx answers it 405 itself and closes; this gateway forwarded it.
  it('answers TRACE with 405 without forwarding it, closes the connection, and counts and logs it like other refusals', async () => {
    const before = await requestsTotal('route="(none)",method="TRACE"', 405)
    const since = gw.logs.length
    const reply = await rawUntilClosed(gw.ports.http!, 'TRACE /204 HTTP/1.1\r\nHost: raw.test\r\nCookie: session=secret\r\n\r\n')
    assert.match(reply, /^HTTP\/1\.1 405 Method Not Allowed\r\n/)
    assert.match(reply, /\r\nConnection: close\r\n/i)
    assert.doesNotMatch(reply, /secret/)
    assert.equal(await requestsTotal('route="(none)",method="TRACE"', 405), before + 1)
    const line = await loggedAfter(gw, since, 'request', (l) => l.method === 'TRACE')
    assert.deepEqual([line.route, line.path, line.status], ['(none)', '/204', 405])
  })

  // RFC 9112 3.2. Node's server answered it itself, with a bare 400 that no metric or log saw.
  it('answers an HTTP/1.1 request without Host 400, saying why, and counts and logs it like other refusals', async () => {
    const before = await requestsTotal('route="(none)",method="GET"', 400)
    const since = gw.logs.length
    const reply = await rawUntilClosed(gw.ports.http!, 'GET /no-host HTTP/1.1\r\n\r\n')
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\r\n\r\n400 Bad Request: missing or invalid Host header\n$/)
    assert.equal(await requestsTotal('route="(none)",method="GET"', 400), before + 1)
    const line = await loggedAfter(gw, since, 'request', (l) => l.path === '/no-host')
    assert.deepEqual([line.route, line.status], ['(none)', 400])
  })

  // Answered before routing, by the request server rather than the handler: logged all the same.
  it('logs a CONNECT, an expectation it does not take and an Upgrade with a body, as it logs the requests it routes', async () => {
    const refusals = [
      ['CONNECT raw.test:443 HTTP/1.1\r\nHost: raw.test:443\r\n\r\n', 'CONNECT', 405],
      ['GET /expect HTTP/1.1\r\nHost: raw.test\r\nExpect: teapot\r\n\r\n', 'GET', 417],
      ['GET /upgrade HTTP/1.1\r\nHost: raw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 1\r\n\r\nx', 'GET', 400],
    ] as const
    for (const [request, method, status] of refusals) {
      const since = gw.logs.length
      assert.match(await rawUntilClosed(gw.ports.http!, request), new RegExp(`^HTTP/1\\.1 ${status} `))
      const line = await loggedAfter(gw, since, 'request', (l) => l.method === method && l.status === status)
      assert.deepEqual([line.route, line.client], ['(none)', '127.0.0.1'])
    }
  })

  // catalogue MT-05
  it('counts responses cut short: with the status sent, or 499 when the client left first', async () => {
    const count = (code: number) => requestsTotal('route="raw",method="GET"', code)
    const [ok, closed] = [await count(200), await count(499)]
    await assert.rejects(get('/cut'))
    const arrived = once(upstream, 'slow')
    const client = net.connect(gw.ports.http!, '127.0.0.1')
    client.write('GET /slow HTTP/1.1\r\nHost: raw.test\r\n\r\n')
    await arrived
    client.destroy()
    await eventually(async () => (await count(200)) === ok + 1 && (await count(499)) === closed + 1, 3000, 'a cut-short 200 and a 499')
  })

  // catalogue LA-01, MT-05
  it("counts the requests that Node's parser refuses, with the answer they got", { timeout: 5000 }, async () => {
    const none = 'route="(none)",method="OTHER"'
    const [bad, tooLarge] = [await requestsTotal(none, 400), await requestsTotal(none, 431)]
    const smuggling = 'POST / HTTP/1.1\r\nHost: raw.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
    // Each says why, in the parser's words: a request typed into openssl s_client without -crlf, too.
    assert.match(await rawExchange(gw.ports.http!, smuggling), /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\r\n\r\n400 Bad Request: Transfer-Encoding can't be present with Content-Length\n$/)
    // The bare LF of a request typed into openssl s_client without -crlf also gets its fix; the same words
    // for another mistake after the version do not.
    assert.match(await rawExchange(gw.ports.http!, 'GET / HTTP/1.1\nHost: raw.test\n\n'), /\r\n\r\n400 Bad Request: Expected CRLF after version \(send CRLF line ends: openssl s_client -crlf\)\n$/)
    assert.match(await rawExchange(gw.ports.http!, 'GET / HTTP/1.1 x\r\nHost: raw.test\r\n\r\n'), /\r\n\r\n400 Bad Request: Expected CRLF after version\n$/)
    assert.match(await rawExchange(gw.ports.http!, `GET / HTTP/1.1\r\nHost: raw.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1\.1 431 /)
    // Also as the second request of a keep-alive connection, the usual shape of a desync probe.
    const client = net.connect(gw.ports.http!, '127.0.0.1')
    client.write('GET /304 HTTP/1.1\r\nHost: raw.test\r\n\r\n')
    assert.match(String((await once(client, 'data'))[0]), /^HTTP\/1\.1 304 /)
    client.write(smuggling)
    assert.match(String((await once(client, 'data'))[0]), /^HTTP\/1\.1 400 Bad Request\r\n/)
    client.destroy()
    assert.equal(await requestsTotal(none, 400), bad + 4)
    assert.equal(await requestsTotal(none, 431), tooLarge + 1)
  })
})

// catalogue UF-08, UF-10: what comes on a kept upstream connection beyond a response is never the
// answer to the next request sent on it, and a response whose length says there is no body keeps it.
describe('bytes an upstream sends beyond its response', () => {
  /** A fake response that an upstream writes after its real one, as if for the next request. */
  const SMUGGLED = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled'
  let upstream: net.Server
  let connections = 0
  let gw: TestGateway

  before(async () => {
    // Keep-alive, one answer per request head: `served <n>` (the request's number on its connection),
    // with SMUGGLED behind it for /extra, as the body of a HEAD for /head-body, and a length and no body
    // for any other HEAD; /close closes the connection after its answer, as it says.
    upstream = net.createServer((socket) => {
      connections++
      let received = ''
      let served = 0
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1')
        for (let end = received.indexOf('\r\n\r\n'); end >= 0; end = received.indexOf('\r\n\r\n')) {
          const [method, path] = received.slice(0, end).split(' ')
          received = received.slice(end + 4)
          const body = `served ${++served}`
          if (method === 'HEAD') socket.write(path === '/head-body' ? SMUGGLED : 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n')
          else if (path === '/close') socket.end(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
          else socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}${path === '/extra' ? SMUGGLED : ''}`)
        }
      })
      socket.on('error', () => undefined)
    })
    await listenOnLoopback(upstream)
    gw = await startGateway(`
listen: { http: 127.0.0.1:0 }
routes:
  - { host: kept.test, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
`)
  })
  after(async () => {
    await gw.close()
    upstream.close()
  })

  const send = (path: string, method = 'GET') => httpRequest({ port: gw.ports.http!, host: 'kept.test', path, method })

  it('closes the connection that carried them, and answers the next request on another', async () => {
    for (const [path, method] of [['/extra', 'GET'], ['/head-body', 'HEAD']] as const) {
      for (let i = 0; i < 5; i++) {
        assert.equal((await send(path, method)).status, 200)
        const next = await send('/next')
        assert.match(next.body, /^served \d+$/, `${method} ${path}, then GET: ${next.body}`)
      }
    }
  })

  it('keeps the connection after a HEAD whose Content-Length has no body behind it', async () => {
    assert.equal((await send('/first')).status, 200)
    const before = connections
    for (let i = 0; i < 5; i++) {
      const head = await send('/head', 'HEAD')
      assert.deepEqual([head.status, head.headers['content-length'], head.body], [200, '1000', ''])
      assert.match((await send('/next')).body, /^served \d+$/)
    }
    assert.equal(connections, before, 'no new upstream connection')
  })

  it('opens a new connection after a response that said Connection: close', async () => {
    assert.equal((await send('/close')).status, 200)
    const before = connections
    assert.equal((await send('/next')).body, 'served 1', 'the first request of a new connection')
    assert.equal(connections, before + 1)
  })
})
