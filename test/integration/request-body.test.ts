/**
 * Request bodies against the request server's timeouts, with real sockets: an upload may last as long
 * as it keeps moving; one that stops for the body idle timeout ends its connection.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as pause } from 'node:timers/promises'
import { RequestServer } from '../../src/proxy/server.js'
import type { Snapshot } from '../../src/snapshot/snapshot.js'
import { eventually } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const IDLE_MS = 300

describe('request body timeouts', () => {
  let listener: net.Server
  /** The gateway's side of each connection, in the order they came. */
  const accepted: net.Socket[] = []

  before(async () => {
    const requests = new RequestServer(
      () => ({}) as Snapshot,
      {
        // Answers with the number of body bytes received (/length: the Content-Length header seen).
        // /late-read starts reading the body late, as when the upstream is slow to take it;
        // /late-answer answers late, as a slow upstream does; /early answers at once and never reads it,
        // as an upstream that refuses an upload early.
        request(_snapshot, _policy, req, res) {
          if (req.url === '/early') return void res.end('early')
          let bytes = 0
          const read = () => {
            req.on('data', (chunk: Buffer) => (bytes += chunk.length))
            const answer = () => res.end(req.url === '/length' ? String(req.headers['content-length']) : String(bytes))
            req.on('end', () => setTimeout(answer, req.url === '/late-answer' ? 2 * IDLE_MS : 0))
          }
          if (req.url === '/late-read') setTimeout(read, 2 * IDLE_MS)
          else read()
        },
        upgrade: async (_snapshot, _policy, _req, socket) => void socket.destroy(),
        refused: () => undefined,
      },
      { bodyIdleTimeoutMs: IDLE_MS },
    )
    listener = net.createServer((socket) => {
      accepted.push(socket)
      requests.accept(socket)
    })
    await listenOnLoopback(listener)
  })
  after(() => listener.close())

  /** Sends a body in `pieces` (default: 5 bytes one at a time), `gapMs` apart; resolves with what came back. */
  const upload = async (gapMs: number, path = '/', pieces: readonly Buffer[] = Array.from({ length: 5 }, () => Buffer.from('x'))) => {
    const socket = net.connect((listener.address() as AddressInfo).port, '127.0.0.1')
    await once(socket, 'connect')
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()))
    const closed = once(socket, 'close')
    const length = pieces.reduce((sum, piece) => sum + piece.length, 0)
    socket.write(`POST ${path} HTTP/1.1\r\nHost: body.test\r\nContent-Length: ${length}\r\n\r\n`)
    for (const piece of pieces) {
      if (socket.destroyed || !socket.writable) break
      await pause(gapMs)
      if (socket.writable) socket.write(piece)
    }
    await Promise.race([closed, pause(IDLE_MS * 4)])
    socket.destroy()
    return received
  }

  it('takes an upload that lasts longer than the idle timeout as long as it keeps moving', async () => {
    assert.match(await upload(IDLE_MS / 3), /^HTTP\/1\.1 200 [\s\S]*\r\n\r\n5$/)
  })

  it('does not blame the client while the gateway itself is not reading the body', async () => {
    // More than the socket buffers hold: the client cannot send the rest, and is silent, until the
    // gateway starts reading, 2 × IDLE_MS late.
    const size = 8 * 1024 * 1024
    assert.match(await upload(0, '/late-read', [Buffer.alloc(size, 'x')]), new RegExp(`\\r\\n\\r\\n${size}$`))
  })

  it('stops the clock once the body is in, however long the answer takes', async () => {
    assert.match(await upload(0, '/late-answer'), /\r\n\r\n5$/)
  })

  // catalogue LA-04
  it('reads every header, not only the first 2,000 (the body length may come after them)', async () => {
    const socket = net.connect((listener.address() as AddressInfo).port, '127.0.0.1')
    socket.write(`POST /length HTTP/1.1\r\nHost: body.test\r\n${'a: b\r\n'.repeat(2100)}Content-Length: 5\r\n\r\nhello`)
    const [answer] = (await once(socket, 'data')) as [Buffer]
    socket.destroy()
    assert.match(answer.toString(), /^HTTP\/1\.1 200 [\s\S]*\r\n\r\n5$/)
  })

  // catalogue LA-05
  it('ends the connection of an upload that stops for the idle timeout', async () => {
    assert.equal(await upload(IDLE_MS * 2), '')
  })

  describe('the rest of a body answered early', () => {
    /** A connection that has sent the head of a 10-byte upload to /early, and one byte of its body. */
    const answeredEarly = async () => {
      const socket = net.connect((listener.address() as AddressInfo).port, '127.0.0.1')
      socket.write('POST /early HTTP/1.1\r\nHost: body.test\r\nContent-Length: 10\r\n\r\nx')
      let received = ''
      socket.on('data', (chunk: Buffer) => (received += chunk.toString()))
      await once(socket, 'data')
      return { socket, received: () => received }
    }

    // nginx's lingering_timeout on a body it discards; Node would wait for its keep-alive timeout (65 s).
    it('ends the connection once the client leaves it silent for 5 s', { timeout: 15_000 }, async () => {
      const { socket } = await answeredEarly()
      const started = performance.now()
      await once(socket, 'close')
      const seconds = (performance.now() - started) / 1000
      assert.ok(seconds > 4 && seconds < 10, `closed after ${seconds.toFixed(1)} s`)
    })

    // Each left a 'close' listener on the connection, which held its request and response.
    it('leaves nothing on the connection for each upload answered early once its rest has come', async () => {
      const { socket, received } = await answeredEarly()
      const gatewaySide = accepted.at(-1)!
      const before = gatewaySide.listenerCount('close')
      for (let answers = 1; answers < 15; answers++) {
        socket.write('x'.repeat(9))
        socket.write('POST /early HTTP/1.1\r\nHost: body.test\r\nContent-Length: 10\r\n\r\nx')
        await eventually(async () => received().match(/HTTP\/1\.1 200 /g)?.length === answers + 1, 3000, `answer ${answers + 1}`)
      }
      assert.ok(gatewaySide.listenerCount('close') <= before + 1, `${gatewaySide.listenerCount('close')} 'close' listeners, ${before} after the first`)
      socket.destroy()
    })

    it('keeps the connection for the next request once the rest has come, a byte at a time', { timeout: 20_000 }, async () => {
      const { socket, received } = await answeredEarly()
      for (let i = 0; i < 9; i++) {
        await pause(600)
        socket.write('x')
      }
      // Past the 5 s of silence, now that the body is in: the connection is idle, under the keep-alive timeout.
      await pause(5500)
      socket.write('POST /length HTTP/1.1\r\nHost: body.test\r\nContent-Length: 2\r\n\r\nhi')
      await eventually(async () => received().endsWith('\r\n\r\n2'))
      assert.equal(received().match(/HTTP\/1\.1 200 /g)?.length, 2)
      socket.destroy()
    })
  })
})
