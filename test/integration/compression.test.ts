/**
 * routes[].compress: a response the upstream sent uncompressed reaches a client that accepts it in
 * Brotli or gzip, as its Accept-Encoding prefers, with Vary: Accept-Encoding, no Content-Length and a
 * weak ETag; one already encoded, too small, of another type, a range, a HEAD's or one marked
 * no-transform goes as it came; a streamed body's chunks reach the client as the upstream sends them.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import zlib from 'node:zlib'
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const JSON_BODY = JSON.stringify({ items: Array.from({ length: 200 }, (_, id) => ({ id, name: `item ${id}` })) })

/** The answers of the upstream, by path: each a status, its headers and its body. */
const ANSWERS: Record<string, [number, http.OutgoingHttpHeaders, string | Buffer]> = {
  '/json': [200, { 'content-type': 'application/json; charset=utf-8', etag: '"v1"', 'accept-ranges': 'bytes', vary: 'Origin' }, JSON_BODY],
  '/small': [200, { 'content-type': 'text/plain' }, 'short'],
  '/png': [200, { 'content-type': 'image/png' }, Buffer.alloc(4096)],
  '/encoded': [200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }, zlib.gzipSync('already')],
  '/no-transform': [200, { 'content-type': 'text/html', 'cache-control': 'public, no-transform' }, 'x'.repeat(4096)],
  '/range': [206, { 'content-type': 'text/plain', 'content-range': 'bytes 0-4095/8192' }, 'x'.repeat(4096)],
  '/problem': [404, { 'content-type': 'application/problem+json' }, JSON_BODY],
}

interface RawReply {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: Buffer
}

describe('a route with compress', () => {
  let upstream: http.Server
  /** The responses to /stream, their first chunk sent and the rest held. */
  const streams: http.ServerResponse[] = []
  /** Whether the upstream got all of /flood out, and whether its response closed. */
  const flooding = { finished: false, closed: false }
  /** 64 MiB of text that does not compress (random base64), written as fast as the gateway takes it. */
  const flood = (res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.on('finish', () => (flooding.finished = true)).on('close', () => (flooding.closed = true))
    let left = 1024
    const more = () => {
      while (left-- > 0) if (!res.write(randomBytes(48 * 1024).toString('base64'))) return void res.once('drain', more)
      res.end()
    }
    more()
  }
  let gw: TestGateway

  before(async () => {
    upstream = http.createServer((req, res) => {
      if (req.url === '/flood') return void flood(res)
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/plain' }).write('first\n')
        return void streams.push(res)
      }
      const [status, headers, body] = ANSWERS[req.url!]!
      res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) }).end(body)
    })
    await listenOnLoopback(upstream)
    const url = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`
    gw = await startGateway(`
listen: { http: 127.0.0.1:0 }
routes:
  - { host: z.test, compress: true, upstream: { url: '${url}' } }
  - { host: plain.z.test, upstream: { url: '${url}' } }
  - { host: slow.z.test, compress: true, upstream: { url: '${url}', timeouts: { response: 1s } } }
`)
  })
  after(async () => {
    await gw?.close()
    upstream?.closeAllConnections()
    upstream?.close()
  })

  const fetchRaw = (path: string, acceptEncoding?: string, { host = 'z.test', method = 'GET' } = {}) =>
    new Promise<RawReply>((resolve, reject) => {
      const headers = { host, ...(acceptEncoding !== undefined && { 'accept-encoding': acceptEncoding }) }
      http
        .request({ port: gw.ports.http!, host: '127.0.0.1', path, method, headers, agent: false }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
        })
        .on('error', reject)
        .end()
    })

  it("compresses with the coding the client's Accept-Encoding prefers, Brotli among equals", async () => {
    const cases: [string, string, (body: Buffer) => Buffer][] = [
      ['gzip', 'gzip', zlib.gunzipSync],
      ['br', 'br', zlib.brotliDecompressSync],
      ['gzip, deflate, br', 'br', zlib.brotliDecompressSync],
      ['br;q=0.5, GZIP', 'gzip', zlib.gunzipSync],
      ['*', 'br', zlib.brotliDecompressSync],
    ]
    for (const [accepted, coding, decode] of cases) {
      const reply = await fetchRaw('/json', accepted)
      assert.equal(reply.headers['content-encoding'], coding, accepted)
      assert.equal(decode(reply.body).toString(), JSON_BODY, accepted)
      assert.ok(reply.body.length < JSON_BODY.length / 3, `${accepted}: ${reply.body.length} bytes`)
      assert.deepEqual(
        [reply.headers['content-length'], reply.headers['accept-ranges'], reply.headers.etag, reply.headers.vary],
        [undefined, undefined, 'W/"v1"', 'Origin, Accept-Encoding'],
      )
    }
    const problem = await fetchRaw('/problem', 'gzip')
    assert.deepEqual([problem.status, problem.headers['content-encoding']], [404, 'gzip'], 'any status with a body, a +json type')
  })

  it('sends the body as it came to a client that takes no coding, saying that it varies', async () => {
    for (const accepted of [undefined, 'identity', 'gzip;q=0, br;q=0', '*;q=0', 'deflate']) {
      const reply = await fetchRaw('/json', accepted)
      assert.deepEqual(
        [reply.headers['content-encoding'], reply.headers['content-length'], reply.headers.etag, reply.headers.vary, reply.body.toString()],
        [undefined, String(JSON_BODY.length), '"v1"', 'Origin, Accept-Encoding', JSON_BODY],
        String(accepted),
      )
    }
  })

  it('leaves alone a body already encoded, too small, of another type, marked no-transform, a range, and a HEAD', async () => {
    for (const path of ['/encoded', '/small', '/png', '/no-transform', '/range']) {
      const reply = await fetchRaw(path, 'gzip, br')
      const [, headers, body] = ANSWERS[path]!
      assert.deepEqual([reply.headers['content-encoding'], reply.headers.vary, reply.body], [headers['content-encoding'], undefined, Buffer.from(body)], path)
    }
    const head = await fetchRaw('/json', 'gzip', { method: 'HEAD' })
    assert.deepEqual([head.headers['content-encoding'], head.headers['content-length']], [undefined, String(JSON_BODY.length)])
  })

  it('compresses nothing on a route without compress', async () => {
    const reply = await fetchRaw('/json', 'gzip, br', { host: 'plain.z.test' })
    assert.deepEqual([reply.headers['content-encoding'], reply.headers.vary, reply.body.toString()], [undefined, 'Origin', JSON_BODY])
  })

  it('holds the upstream back while a client takes nothing, and closes both once it has taken nothing for the timeout', async () => {
    const socket = net.connect(gw.ports.http!, '127.0.0.1')
    socket.write('GET /flood HTTP/1.1\r\nHost: slow.z.test\r\nAccept-Encoding: gzip\r\n\r\n')
    socket.pause()
    await eventually(async () => flooding.closed)
    assert.equal(flooding.finished, false, 'the upstream could not get its 64 MiB out past a client that read nothing')
    socket.resume()
    await once(socket, 'close')
  })

  it('passes each chunk of a streamed body on as it comes, not when the encoder would', async () => {
    const request = http.request({ port: gw.ports.http!, host: '127.0.0.1', path: '/stream', headers: { host: 'z.test', 'accept-encoding': 'gzip' }, agent: false })
    request.end()
    const [res] = (await once(request, 'response')) as [http.IncomingMessage]
    assert.equal(res.headers['content-encoding'], 'gzip')
    const decoded = res.pipe(zlib.createGunzip())
    const [first] = (await once(decoded, 'data')) as [Buffer]
    assert.equal(first.toString(), 'first\n', 'while the upstream holds the rest')
    streams.splice(0).forEach((stream) => stream.end('last\n'))
    const [last] = (await once(decoded, 'data')) as [Buffer]
    assert.equal(last.toString(), 'last\n')
  })
})
