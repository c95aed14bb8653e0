/**
 * A route's maxRequestBody, as nginx's client_max_body_size: a Content-Length over it gets 413 before
 * anything reaches the upstream (and before 100 Continue), a chunked body that grows past it stops the
 * upstream request and gets 413, and the connection closes after either.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { httpRequest } from '../helpers/client.js'
import { eventually, requestsCounted, startGateway, type TestGateway } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const LIMIT = 1024

describe('maxRequestBody', () => {
  /** Each request the upstream saw: its path, the body bytes it read, and whether the body ended. */
  const seen: { path: string; bytes: number; ended: boolean }[] = []
  let upstream: http.Server
  /** Answers 401 as soon as a request comes, and never reads the body: an upload it refuses early. */
  let refusing: net.Server
  let gw: TestGateway

  before(async () => {
    upstream = http.createServer((req, res) => {
      const request = { path: req.url ?? '', bytes: 0, ended: false }
      seen.push(request)
      // /early answers before it reads the body, as an upstream that streams its answer to an upload.
      if (req.url === '/early') res.writeHead(200).write('early\n')
      req.on('data', (chunk: Buffer) => (request.bytes += chunk.length))
      req.on('end', () => {
        request.ended = true
        res.end(`${request.bytes}`)
      })
    })
    const port = await listenOnLoopback(upstream)
    refusing = net.createServer((socket) =>
      socket.once('data', () => {
        socket.pause()
        socket.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\ndenied')
      }),
    )
    const refusingPort = await listenOnLoopback(refusing)
    gw = await startGateway(`
listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
  - { name: limited, host: limited.test, maxRequestBody: 1KiB, upstream: { url: 'http://127.0.0.1:${port}' } }
  - { name: unlimited, host: open.test, upstream: { url: 'http://127.0.0.1:${port}' } }
  - { name: refusing, host: refusing.test, maxRequestBody: 64MiB, upstream: { url: 'http://127.0.0.1:${refusingPort}' } }
`)
  })
  after(async () => {
    await gw.close()
    upstream.closeAllConnections()
    upstream.close()
    refusing.close()
  })

  /**
   * Writes `request` and the first piece of `body`, then each other piece once `before` (if given)
   * holds for what has come back; resolves with all the gateway sent until it closed the connection.
   */
  const exchange = async (request: string, body: readonly string[] = [], before?: (received: string) => boolean) => {
    const socket = net.connect(gw.ports.http!, '127.0.0.1')
    await once(socket, 'connect')
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()))
    socket.on('error', () => undefined)
    const closed = once(socket, 'close')
    socket.write(request)
    for (const [i, piece] of body.entries()) {
      if (before && i > 0) await eventually(async () => before(received), 3000, 'the answer so far')
      if (socket.writable) socket.write(piece)
    }
    await closed
    return received
  }
  const seenPath = (path: string) => seen.filter((request) => request.path === path)

  it('takes a body of the limit exactly, and a larger one on a route without the key', async () => {
    const atLimit = await httpRequest({ port: gw.ports.http!, host: 'limited.test', path: '/exact', method: 'POST', body: 'x'.repeat(LIMIT) })
    assert.deepEqual([atLimit.status, atLimit.body], [200, `${LIMIT}`])
    const open = await httpRequest({ port: gw.ports.http!, host: 'open.test', path: '/open', method: 'POST', body: 'x'.repeat(4 * LIMIT) })
    assert.deepEqual([open.status, open.body], [200, `${4 * LIMIT}`])
  })

  it('answers 413 to a larger Content-Length without contacting the upstream, and closes the connection', async () => {
    const before = await requestsCounted(gw, 'route="limited",method="POST"', 413)
    const head = `POST /declared HTTP/1.1\r\nHost: limited.test\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`
    const answer = await exchange(head, ['x'.repeat(LIMIT + 1)])
    assert.match(answer, /^HTTP\/1\.1 413 /)
    assert.match(answer, /\r\nConnection: close\r\n/i)
    assert.match(answer, /\r\n\r\n413 [A-Za-z ]+: the route takes request bodies of 1024 bytes at most\n$/)
    assert.deepEqual(seenPath('/declared'), [])
    await eventually(async () => (await requestsCounted(gw, 'route="limited",method="POST"', 413)) === before + 1, 3000, 'the 413 counted')
  })

  it('answers 413 before 100 Continue, so the client never sends the body', async () => {
    const head = `POST /continue HTTP/1.1\r\nHost: limited.test\r\nContent-Length: ${10 * LIMIT}\r\nExpect: 100-continue\r\n\r\n`
    const answer = await exchange(head)
    assert.match(answer, /^HTTP\/1\.1 413 /, 'no 100 Continue first')
    assert.deepEqual(seenPath('/continue'), [])
  })

  it('stops the upstream request of a chunked body that grows past the limit, and answers 413', async () => {
    const head = 'POST /chunked HTTP/1.1\r\nHost: limited.test\r\nTransfer-Encoding: chunked\r\n\r\n'
    const chunk = `200\r\n${'x'.repeat(512)}\r\n`
    const answer = await exchange(head, [chunk, chunk, chunk, chunk, '0\r\n\r\n'])
    assert.match(answer, /^HTTP\/1\.1 413 /)
    assert.match(answer, /\r\nConnection: close\r\n/i)
    for (const request of seenPath('/chunked')) {
      assert.equal(request.ended, false, 'the upstream never got a whole body')
      assert.ok(request.bytes <= LIMIT, `the upstream got ${request.bytes} bytes`)
    }
  })

  it('cuts short a response begun before a chunked body grew past the limit', async () => {
    const head = 'POST /early HTTP/1.1\r\nHost: limited.test\r\nTransfer-Encoding: chunked\r\n\r\n'
    const chunk = `200\r\n${'x'.repeat(512)}\r\n`
    const answer = await exchange(head, [chunk, chunk, chunk, '0\r\n\r\n'], (received) => received.includes('early'))
    assert.match(answer, /^HTTP\/1\.1 200 [\s\S]*\r\n\r\n6\r\nearly\n\r\n$/, 'the head and the first chunk, no last chunk')
    assert.equal(seenPath('/early')[0]?.ended, false)
  })

  it('forwards a chunked body within the limit', async () => {
    const head = 'POST /chunked-small HTTP/1.1\r\nHost: limited.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
    const answer = await exchange(head, [`200\r\n${'x'.repeat(512)}\r\n`, `200\r\n${'x'.repeat(512)}\r\n`, '0\r\n\r\n'])
    assert.match(answer, /^HTTP\/1\.1 200 /)
    assert.match(answer, /\r\n\r\n1024$/)
  })

  // Python's http.client, for one, sends the whole body before it reads the answer.
  it('reads and drops the rest of a chunked body past the limit, so a client that sends it all first gets its 413', { timeout: 15_000 }, async () => {
    const req = http.request({ port: gw.ports.http, host: '127.0.0.1', path: '/all-first', method: 'POST', headers: { host: 'limited.test', 'transfer-encoding': 'chunked' } })
    const [[res]] = (await Promise.all([once(req, 'response'), once(req, 'finish'), req.end(Buffer.alloc(8 * 1024 * 1024, 'x'))])) as [[http.IncomingMessage], unknown, unknown]
    res.resume()
    assert.equal(res.statusCode, 413)
  })

  // The counted body is piped into the upstream request: once undici lets go of it, the rest must
  // still be read and dropped (request-body.ts), or the upload stalls until the body idle timeout.
  it('reads and drops the rest of a counted chunked upload the upstream answered early', { timeout: 15_000 }, async () => {
    const req = http.request({ port: gw.ports.http, host: '127.0.0.1', path: '/', method: 'POST', headers: { host: 'refusing.test', 'transfer-encoding': 'chunked' } })
    const uploaded = once(req, 'finish')
    req.end(Buffer.alloc(8 * 1024 * 1024, 'x'))
    const [res] = (await once(req, 'response')) as [http.IncomingMessage]
    res.resume()
    assert.equal(res.statusCode, 401)
    await uploaded
  })
})
