/**
 * Requests as they arrive on one connection: pipelined requests go upstream one at a time and in
 * order, none after a response that closes the connection, and framing Node's parser lets through but
 * a proxy must not pass on (transfer codings, HTTP/1.0 with Transfer-Encoding, HTTP/2.0 over HTTP/1)
 * is refused with a closed connection, as are request lines of other versions, HTTP/0.9 at once.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import { after, before, beforeEach, describe, it } from 'node:test'
import { eventually, requestsCounted, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { rawExchange, rawUntilClosed, type TlsTarget } from '../helpers/raw.js'
import { listenOnLoopback } from '../helpers/upstream.js'
import { echoWebSockets } from '../helpers/websocket.js'

/** Many times what a socket's buffers hold, so that the client's response must wait for them to drain. */
const LARGE_BODY = 8 * 1024 * 1024

describe('requests on one connection', () => {
  let pki: TestPki
  let upstream: http.Server
  /** Paths the upstream was asked for, in arrival order, and the most it held at once. */
  let seen: string[] = []
  /** Paths of requests whose connection closed before their body was through. */
  let cutShort: string[] = []
  let mostAtOnce = 0
  let gw: TestGateway

  before(async () => {
    pki = await makeTestPki()
    let inFlight = 0
    upstream = echoWebSockets(http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`)
      mostAtOnce = Math.max(mostAtOnce, ++inFlight)
      req.resume()
      req.on('close', () => req.complete || cutShort.push(req.url!))
      // Answered a while after it came, for pipelined requests to queue behind it; /at-once at once.
      setTimeout(() => {
        inFlight--
        // /stream has no Content-Length: an HTTP/1.0 client's connection must close after it.
        if (req.url === '/stream') res.write('streamed\n')
        if (req.url === '/large') res.write(Buffer.alloc(LARGE_BODY, 'x'))
        res.end(`${req.url}\n`)
      }, req.url === '/at-once' ? 0 : 100)
    }))
    await listenOnLoopback(upstream)
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
    gw = await startGateway(`
listen: { http: 127.0.0.1:0, https: 127.0.0.1:0 }
routes:
  - { host: plain.test, upstream: { url: '${url}' } }
  - { host: open.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }, upstream: { url: '${url}' } }
`)
  })
  beforeEach(() => {
    seen = []
    cutShort = []
    mostAtOnce = 0
  })
  after(async () => {
    await gw.close()
    upstream.close()
    await pki.cleanup()
  })

  const statusLines = (reply: string) => reply.match(/^HTTP\/1\.1 \d{3}/gm) ?? []

  /** The one answer is `status`, the connection closed after it, and nothing reached the upstream. */
  const assertRefused = (reply: string, status: number) => {
    assert.deepEqual(statusLines(reply), [`HTTP/1.1 ${status}`])
    assert.match(reply, /^Connection: close$/im)
    assert.deepEqual(seen, [])
  }

  it('sends pipelined requests upstream one at a time, and answers them in order', async () => {
    const requests = ['/1', '/2', '/3'].map((path) => `GET ${path} HTTP/1.1\r\nHost: plain.test\r\n\r\n`).join('')
    const reply = await rawExchange(gw.ports.http!, requests, 800)
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200'])
    assert.deepEqual(reply.match(/^\/\d$/gm), ['/1', '/2', '/3'])
    assert.deepEqual(seen, ['GET /1', 'GET /2', 'GET /3'])
    assert.equal(mostAtOnce, 1)
  })

  it('handles no request pipelined behind a response that closes the connection', async () => {
    const requests =
      'GET / HTTP/1.1\r\nHost: open.test\r\n\r\n' + 'POST /after HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 2\r\n\r\nhi'
    const reply = await rawUntilClosed(gw.ports.http!, requests)
    assertRefused(reply, 421)
  })

  for (const [what, first, closes] of [
    ['an HTTP/1.0 response that ends with the connection', 'GET /stream HTTP/1.0\r\nHost: plain.test\r\nConnection: keep-alive\r\n\r\n', 'HTTP/1.1 200'],
    ['a 417', 'GET /a HTTP/1.1\r\nHost: plain.test\r\nExpect: something\r\n\r\n', 'HTTP/1.1 417'],
  ] as const) {
    it(`handles no request pipelined behind ${what}`, async () => {
      const reply = await rawUntilClosed(gw.ports.http!, `${first}DELETE /behind HTTP/1.1\r\nHost: plain.test\r\n\r\n`)
      assert.deepEqual(statusLines(reply), [closes])
      assert.ok(!seen.includes('DELETE /behind'), seen.join())
    })
  }

  // The 404 is answered at once: on Node 20 its write completes before Node detaches it from the
  // socket, and an Upgrade taken as soon as it was parsed took the socket from it and threw out of the
  // process. Before that, the Upgrade closed the connection, and the answer to the request ahead of it
  // was lost, though its upstream had acted on it.
  const h2cUpgrade = 'GET /h2c HTTP/1.1\r\nHost: plain.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n'
  for (const [ahead, status] of [
    ['an upstream', 200],
    ['the gateway itself (a 404)', 404],
  ] as const) {
    it(`answers an Upgrade pipelined behind a response from ${ahead} after that response, and keeps serving`, async () => {
      const host = status === 404 ? 'nowhere.test' : 'plain.test'
      const reply = await rawUntilClosed(gw.ports.http!, `GET /1 HTTP/1.1\r\nHost: ${host}\r\n\r\n${h2cUpgrade}`)
      // h2c is ignored: the request is answered as an ordinary one, on a connection that closes after it.
      assert.deepEqual(statusLines(reply), [`HTTP/1.1 ${status}`, 'HTTP/1.1 200'])
      assert.match(reply, /^\/h2c$/m)
      assert.equal(statusLines(await rawExchange(gw.ports.http!, 'GET /2 HTTP/1.1\r\nHost: plain.test\r\n\r\n')).length, 1, 'still serving')
    })
  }

  it('makes a WebSocket of an Upgrade pipelined behind a POST once the POST is answered', async () => {
    const upgrade = 'GET /ws HTTP/1.1\r\nHost: plain.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
    const reply = await rawExchange(gw.ports.http!, `POST /pay HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 2\r\n\r\nhi${upgrade}`, 800)
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200', 'HTTP/1.1 101'])
    assert.deepEqual(seen, ['POST /pay'])
  })

  it('sends the whole of a large answer that an Upgrade is pipelined behind, with a request between them', async () => {
    const reply = await rawUntilClosed(gw.ports.http!, `GET /large HTTP/1.1\r\nHost: plain.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: plain.test\r\n\r\n${h2cUpgrade}`, 10_000)
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200'])
    assert.ok(reply.length > LARGE_BODY, `${reply.length} characters`)
    assert.deepEqual(seen, ['GET /large', 'GET /2', 'GET /h2c'])
  })

  // Its response, made by the gateway on a socket Node had let go of, never heard of the socket's
  // drain (a body over about 64 KiB was cut off at the response timeout), and its connection stayed
  // open for as long as the client kept its side open.
  it('sends the whole of a large answer to an Upgrade it ignored (h2c), then closes the connection whatever the client does', async () => {
    const client = net.connect({ port: gw.ports.http!, host: '127.0.0.1', allowHalfOpen: true })
    client.write('GET /large HTTP/1.1\r\nHost: plain.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n')
    let received = 0
    client.on('data', (chunk: Buffer) => (received += chunk.length))
    await once(client, 'end')
    assert.ok(received > LARGE_BODY, `${received} bytes`)
    // The client keeps its side open, and writes on: a connection closed at the other end answers with a reset.
    client.on('error', () => undefined)
    await eventually(
      async () => {
        if (!client.destroyed) client.write('x')
        return client.destroyed
      },
      3000,
      'the gateway closed the connection',
    )
    client.destroy()
  })

  // catalogue LA-04: headers just under the 16 KiB limit, split across TLS records, on a keep-alive connection.
  it('serves headers just under the limit that come in several TLS records, and the next request on that connection', async () => {
    const big = `GET /big HTTP/1.1\r\nHost: open.test\r\nX-Big: ${'a'.repeat(14_000)}\r\n\r\n`
    const pieces = [big.slice(0, 5000), big.slice(5000, 10_000), big.slice(10_000), 'GET /after HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n']
    const reply = await rawUntilClosed({ port: gw.ports.https!, servername: 'open.test', ca: pki.caS.cert }, pieces)
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200', 'HTTP/1.1 200'])
    assert.deepEqual(seen, ['GET /big', 'GET /after'])
  })

  // catalogue LA-03: http-proxy sends DELETE and OPTIONS with Content-Length: 0 and the chunked body behind it.
  for (const method of ['DELETE', 'OPTIONS']) {
    it(`sends a chunked ${method} body upstream as its body, never as a request of its own`, async () => {
      const inner = '0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: plain.test\r\n\r\n'
      const request = `${method} /x HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`
      assert.deepEqual(statusLines(await rawUntilClosed(gw.ports.http!, request)), ['HTTP/1.1 200'])
      // The upstream's parser would have read a second request by now.
      await new Promise((resolve) => setTimeout(resolve, 100))
      assert.deepEqual(seen, [`${method} /x`])
    })
  }

  it('serves a chunked body whatever the case of its coding name (RFC 9112 7)', async () => {
    const reply = await rawUntilClosed(gw.ports.http!, 'POST /x HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n')
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200'])
  })

  it('answers a Connection: close request that stray bytes follow', async () => {
    const reply = await rawUntilClosed(gw.ports.http!, 'POST /closing HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\nContent-Length: 1\r\n\r\nAX')
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200'])
  })

  it('sends 100 Continue once a request is routed, and answers an unroutable one without it', async () => {
    const expecting = (host: string) => `POST /up HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n`
    const refused = await rawExchange(gw.ports.http!, expecting('nowhere.test'))
    assert.deepEqual(statusLines(refused), ['HTTP/1.1 404'], 'no 100 Continue: the client keeps its body')
    assert.match(refused, /^Connection: close$/im)
    const routed = await rawExchange(gw.ports.http!, expecting('plain.test'), 300)
    assert.deepEqual(statusLines(routed), ['HTTP/1.1 100'], 'the body is awaited')
  })

  it('answers an expectation it does not know with 417, and counts it with its method, one outside the closed set as OTHER', async () => {
    for (const [method, label] of [['GET', 'GET'], ['PROPFIND', 'OTHER']]) {
      const before = await requestsCounted(gw, `route="(none)",method="${label}"`, 417)
      const reply = await rawExchange(gw.ports.http!, `${method} / HTTP/1.1\r\nHost: plain.test\r\nExpect: something\r\n\r\n`)
      assert.deepEqual(statusLines(reply), ['HTTP/1.1 417'], method)
      assert.deepEqual(seen, [])
      assert.equal(await requestsCounted(gw, `route="(none)",method="${label}"`, 417), before + 1, method)
    }
  })

  it('answers a malformed chunked body with 400 before the upstream answers, and stops the upstream request', async () => {
    const counted = async () =>
      (await gw.gateway.metrics.requests.get()).values.find((v) => v.labels.code === '400' && v.labels.route !== '(none)')?.value ?? 0
    const before = await counted()
    const socket = net.connect(gw.ports.http!, '127.0.0.1')
    let reply = ''
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')))
    socket.write('POST /bad-chunk HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n')
    await eventually(async () => seen.includes('POST /bad-chunk'), 3000, 'the upstream has the request')
    socket.write('zz\r\n')
    await eventually(async () => socket.destroyed || reply.includes('\r\n\r\n'), 3000, 'an answer')
    socket.destroy()
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 400'])
    assert.match(reply, /^Connection: close$/im)
    await eventually(async () => cutShort.includes('/bad-chunk'), 3000, 'the upstream request stopped')
    assert.equal(await counted(), before + 1, "counted as the route's 400")
  })

  it('answers the request ahead of a pipelined one whose body is malformed, then refuses that one', async () => {
    const requests =
      'GET /first HTTP/1.1\r\nHost: plain.test\r\n\r\n' + 'POST /second HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\nzz\r\n'
    const reply = await rawUntilClosed(gw.ports.http!, requests)
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200', 'HTTP/1.1 400'])
    assert.match(reply, /^\/first$/m)
    assert.deepEqual(seen, ['GET /first'])
  })

  for (const [what, second, refusal] of [
    ['malformed headers', 'GET /x HTTP/1.1\r\nHost plain.test\r\n\r\n', 'HTTP/1.1 400'],
    ['headers too large', `GET /x HTTP/1.1\r\nHost: plain.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 'HTTP/1.1 431'],
    ['a CONNECT', 'CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n', 'HTTP/1.1 405'],
  ] as const) {
    it(`answers the request ahead of a pipelined one with ${what}, then refuses that one, as nginx`, async () => {
      const reply = await rawUntilClosed(gw.ports.http!, `GET /first HTTP/1.1\r\nHost: plain.test\r\n\r\n${second}`)
      assert.deepEqual(statusLines(reply), ['HTTP/1.1 200', refusal])
      assert.match(reply, /^\/first$/m)
      assert.deepEqual(seen, ['GET /first'])
    })
  }

  // Node stops passing the socket's drain on to the response ahead of a CONNECT: a large one stalled
  // until the response timeout cut it off, and the 405 never came.
  it('sends the whole of a large answer ahead of a pipelined CONNECT that a slow reader has yet to read, then the 405', async () => {
    const client = net.connect(gw.ports.http!, '127.0.0.1')
    client.pause()
    client.write('GET /large HTTP/1.1\r\nHost: plain.test\r\n\r\nCONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n')
    await new Promise((resolve) => setTimeout(resolve, 300))
    const chunks: Buffer[] = []
    client.on('data', (chunk: Buffer) => chunks.push(chunk))
    client.resume()
    await once(client, 'end')
    const reply = Buffer.concat(chunks).toString('latin1')
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200', 'HTTP/1.1 405'])
    assert.ok(reply.length > LARGE_BODY, `${reply.length} bytes`)
    assert.match(reply, /\/large\n\r\n0\r\n\r\nHTTP\/1\.1 405 /, 'the last chunk, then the 405')
  })

  /**
   * A client that sends its whole body before it reads its answer (Python's http.client does): the
   * head, then 64 KiB chunks for `ms`, then it reads. Resolves with what it read.
   */
  const uploadThenRead = async (head: string, ms: number, port = gw.ports.http!) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.pause()
    socket.on('error', () => undefined)
    socket.write(head)
    const chunk = Buffer.alloc(64 * 1024, 'x')
    const until = Date.now() + ms
    while (Date.now() < until && socket.writable) {
      socket.write(chunk)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    let reply = ''
    socket.on('data', (data: Buffer) => (reply += data.toString('latin1')))
    socket.resume()
    await eventually(async () => socket.destroyed || reply.includes('\r\n\r\n'), 3000, 'an answer or a close').catch(() => undefined)
    socket.destroy()
    return reply
  }

  it('closes lingeringly: a client still uploading when it is refused reads the refusal, not a reset', async () => {
    const malformed = await uploadThenRead('POST /up HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nzz\r\n', 500)
    assert.deepEqual(statusLines(malformed), ['HTTP/1.1 400'])
    const refused = await uploadThenRead('POST /up HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 500)
    assert.deepEqual(statusLines(refused), ['HTTP/1.1 501'])
    // Refused by the parser at its head, before it is a request.
    const smuggling = await uploadThenRead('POST /up HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', 500)
    assert.deepEqual(statusLines(smuggling), ['HTTP/1.1 400'])
    const plainToHttps = await uploadThenRead('POST /up HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 100000000\r\n\r\n', 500, gw.ports.https!)
    assert.deepEqual(statusLines(plainToHttps), ['HTTP/1.1 400'])
    const upgradeWithBody = await uploadThenRead('POST /up HTTP/1.1\r\nHost: plain.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 100000000\r\n\r\n', 500)
    assert.deepEqual(statusLines(upgradeWithBody), ['HTTP/1.1 400'])
  })

  // catalogue LA-01, LA-02
  for (const [what, request, status] of [
    ['a transfer coding other than chunked', 'POST / HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n', 501],
    ['Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n', 400],
    ['a request line of HTTP/2.0', 'GET / HTTP/2.0\r\nHost: plain.test\r\n\r\n', 505],
    ['a transfer coding of gzip alone', 'POST / HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n', 501],
    // Request smuggling shapes (HAProxy's http_transfer_encoding.vtc, Node CVE-2022-32213/32214/32215,
    // CVE-2022-35256, CVE-2024-27982): Node's parser refuses each, as long as the gateway never asks
    // for its insecureHTTPParser.
    ['Content-Length and Transfer-Encoding together', 'POST / HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['chunked twice', 'POST / HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', 400],
    ['a transfer coding after chunked', 'POST / HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n', 400],
    ['two Content-Length headers', 'POST / HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi', 400],
    ['a signed Content-Length', 'POST / HTTP/1.1\r\nHost: plain.test\r\nContent-Length: +2\r\n\r\nhi', 400],
    ['a space before the colon', 'POST / HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', 400],
    ['an obs-folded Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: x\r\n chunked\r\n\r\n0\r\n\r\n', 400],
    ['bare LF line ends', 'GET / HTTP/1.1\nHost: plain.test\n\n', 400],
    ['a NUL in a header value', 'GET / HTTP/1.1\r\nHost: plain.test\r\nX: a\x00b\r\n\r\n', 400],
    ['a chunk size that overflows', 'POST / HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\na\r\n0\r\n\r\n', 400],
    // catalogue LA-04: past 100, the gateway's own headers, added last, may fall beyond what the upstream reads.
    ['more than 100 header fields', `GET / HTTP/1.1\r\nHost: plain.test\r\n${'a: b\r\n'.repeat(100)}\r\n`, 431],
  ] as const) {
    it(`refuses ${what} with ${status}, closes, and forwards nothing`, async () => {
      const reply = await rawUntilClosed(gw.ports.http!, request + 'GET /next HTTP/1.1\r\nHost: plain.test\r\n\r\n')
      assertRefused(reply, status)
    })
  }

  it('forwards a request of 100 header fields', async () => {
    const reply = await rawExchange(gw.ports.http!, `GET /hundred HTTP/1.1\r\nHost: plain.test\r\n${'a: b\r\n'.repeat(99)}\r\n`)
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200'])
    assert.deepEqual(seen, ['GET /hundred'])
  })

  it('serves a request line behind many empty lines, which a server ignores (RFC 9112 2.2)', async () => {
    // 64 MiB of them, read in many reads: watching for an HTTP/0.9 line must not cost per byte seen so far.
    const request = Buffer.concat([Buffer.alloc(64 * 1024 * 1024, '\r\n'), Buffer.from('GET /late HTTP/1.1\r\nHost: plain.test\r\n\r\n')])
    const reply = await rawExchange(gw.ports.http!, request)
    assert.deepEqual(statusLines(reply), ['HTTP/1.1 200'])
    assert.deepEqual(seen, ['GET /late'])
  })

  it("answers HTTP/0.9's simple request on the plaintext listener with 400 at once, and closes", async () => {
    const reply = await rawUntilClosed(gw.ports.http!, ['\r\n', 'GET /', '\r\n'])
    assertRefused(reply, 400)
  })

  it('answers a request line of HTTP/2.1 whose version came in two reads with 505 on the plaintext listener, as in one', async () => {
    assertRefused(await rawUntilClosed(gw.ports.http!, ['GET / HT', 'TP/2.1\r\nHost: plain.test\r\n\r\n']), 505)
  })

  it("answers HTTP/2's connection preface (curl --http2-prior-knowledge) with 505, saying the listener speaks HTTP/1.x", async () => {
    const reply = await rawUntilClosed(gw.ports.http!, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
    assertRefused(reply, 505)
    assert.match(reply, /this listener speaks HTTP\/1\.x/)
  })

  describe('request lines of other versions, over TLS', () => {
    const secure = (): TlsTarget => ({ port: gw.ports.https!, servername: 'open.test', ca: pki.caS.cert })

    // Node's parser reads a request line without a version as HTTP/0.9 and then waits for a header
    // block, which an HTTP/0.9 client never sends: the headers timeout (20 s) would answer it, with a 408.
    for (const [what, request, status] of [
      ["HTTP/0.9's simple request, a request line without a version", 'GET /\r\n', 400],
      ['a simple request ended by a bare LF, as openssl s_client sends a line typed into it', 'GET /\n', 400],
      ['a request line of HTTP/0.9 with no header block behind it', 'GET / HTTP/0.9\r\n', 400],
      ['a simple request and an empty line', 'GET /\r\n\r\n', 400],
      ['a request line of HTTP/0.9 with headers', 'GET / HTTP/0.9\r\nHost: open.test\r\n\r\n', 400],
      ['a request line of HTTP/3.0', 'GET / HTTP/3.0\r\nHost: open.test\r\n\r\n', 505],
      ['a request line of HTTP/2.1', 'GET / HTTP/2.1\r\nHost: open.test\r\n\r\n', 505],
      ['a request line of HTTP/1.2, which Node\'s parser refuses', 'GET / HTTP/1.2\r\nHost: open.test\r\n\r\n', 400],
      ['a version that is no HTTP-version (HTTP/2.00)', 'GET / HTTP/2.00\r\nHost: open.test\r\n\r\n', 400],
    ] as const) {
      it(`answers ${what} with ${status} at once, closes, and forwards nothing`, async () => {
        const reply = await rawUntilClosed(secure(), request)
        assertRefused(reply, status)
      })
    }

    it('counts an HTTP/0.9 request as other refusals are counted', async () => {
      const before = await requestsCounted(gw, 'route="(none)",method="GET"', 400)
      await rawUntilClosed(secure(), 'GET /\r\n')
      assert.equal(await requestsCounted(gw, 'route="(none)",method="GET"', 400), before + 1)
    })

    // RFC 9110 6.6.1: an origin server with a clock sends Date in every 4xx, as nginx does in these;
    // Node's ServerResponse adds it to the gateway's other answers.
    for (const [what, target, request] of [
      ['an HTTP/0.9 request', secure, 'GET /\r\n'],
      ['a request line of HTTP/3.0', secure, 'GET / HTTP/3.0\r\n\r\n'],
      ['plain HTTP on the HTTPS port', () => gw.ports.https!, 'GET / HTTP/1.1\r\nHost: open.test\r\n\r\n'],
    ] as const) {
      it(`dates its refusal of ${what}, written before any ServerResponse`, async () => {
        const reply = await rawUntilClosed(target(), request)
        const date = /^Date: (.+)$/im.exec(reply)?.[1]
        assert.ok(date, reply)
        assert.equal(new Date(date).toUTCString(), date, 'an IMF-fixdate')
      })
    }

    it('waits for the rest of a request whose first line came alone, or in pieces', async () => {
      const reply = await rawExchange(secure(), ['GET /pie', 'ces HTTP/1.1\r\n', 'Host: open.test\r\n', '\r\n'])
      assert.deepEqual(statusLines(reply), ['HTTP/1.1 200'])
      assert.deepEqual(seen, ['GET /pieces'])
    })

    it('refuses a simple request that came in pieces', async () => {
      const reply = await rawUntilClosed(secure(), ['GE', 'T /pie', 'ces\r\n'])
      assert.deepEqual(statusLines(reply), ['HTTP/1.1 400'])
    })

    // The parser refuses a version in the read that ends the line: one split over two reads used to
    // get 400, the same line in one read 505.
    for (const [version, pieces, status] of [
      ['HTTP/3.0', ['GET / HTTP/3.', '0\r\nHost: open.test\r\n\r\n'], 505],
      ['HTTP/1.2', ['GET / HTTP/1.', '2\r\nHost: open.test\r\n\r\n'], 400],
    ] as const) {
      it(`answers a request line of ${version} whose version came in two reads with ${status}, as in one`, async () => {
        assertRefused(await rawUntilClosed(secure(), [...pieces]), status)
      })
    }

    // On a later request of a keep-alive connection the same split line still got 400: only the
    // connection's first request line was watched.
    const first = 'GET /first HTTP/1.1\r\nHost: open.test\r\n\r\n'
    const postHead = 'POST /first HTTP/1.1\r\nHost: open.test\r\nContent-Length: 5\r\n\r\n'
    const posted = [postHead, 'hello']
    const answered = 'GET /at-once HTTP/1.1\r\nHost: open.test\r\n\r\n'
    for (const [what, before, pieces, status] of [
      ['HTTP/3.0 behind a GET', [first], ['GET / HTTP/3.', '0\r\nHost: open.test\r\n\r\n'], 505],
      // Node lets go of a request once it is answered: the watch took that for the next head parsed.
      ['HTTP/3.0 behind a GET answered before it began', [answered], ['GET / HTTP/3.', '0\r\nHost: open.test\r\n\r\n'], 505],
      // A line pipelined behind a request may begin in that request's last read, behind its body too.
      ['HTTP/3.0 begun in the read of the GET before it', [], [`${first}GET / HTTP/3.`, '0\r\nHost: open.test\r\n\r\n'], 505],
      ['HTTP/3.0 begun in the read of the POST body before it', [postHead], ['helloGET / HTTP/3.', '0\r\nHost: open.test\r\n\r\n'], 505],
      ['HTTP/3.0 behind a POST whose body came in a read of its own', posted, ['GET / HTTP/3.', '0\r\nHost: open.test\r\n\r\n'], 505],
      ['HTTP/1.2 behind a GET', [first], ['GET / HTTP/1.', '2\r\nHost: open.test\r\n\r\n'], 400],
    ] as const) {
      it(`answers a later request line of ${what}, its version in two reads, with ${status}, as in one`, async () => {
        const sent = [...before, ...pieces]
        const reply = await rawUntilClosed(secure(), sent)
        assert.deepEqual(statusLines(reply), ['HTTP/1.1 200', `HTTP/1.1 ${status}`])
        assert.match(reply, /^Connection: close$/im)
        assert.deepEqual(seen, [sent[0]!.slice(0, sent[0]!.indexOf(' HTTP'))])
      })
    }

    it('waits for the rest of a later request that came in pieces, the first of them behind the request before it', async () => {
      const reply = await rawExchange(secure(), [`${first}GET /sec`, 'ond HTTP/1.1\r\nHo', 'st: open.test\r\n', '\r\n'])
      assert.deepEqual(statusLines(reply), ['HTTP/1.1 200', 'HTTP/1.1 200'])
      assert.deepEqual(seen, ['GET /first', 'GET /second'])
    })
  })
})
