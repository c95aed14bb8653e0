/**
 * A TLS connection that OpenSSL stopped after a fatal alert with an unassigned code: Node reports no
 * error and never finishes a write on it again. It must still close, as Envoy and nginx close it at
 * once, rather than hold a file descriptor for good; a response that is only long must not.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { RequestServer } from '../../src/proxy/server.js'
import type { Snapshot } from '../../src/snapshot/snapshot.js'
import { eventually } from '../helpers/gateway.js'
import { rawUntilClosed } from '../helpers/raw.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { sendTlsAlert } from '../helpers/tls-alert.js'
import { listenOnLoopback } from '../helpers/upstream.js'

describe('a TLS connection stopped by an unknown fatal alert', () => {
  let pki: TestPki
  let listener: tls.Server
  const refusals: number[] = []
  /** The responses that emitted 'close': what releases a request's slot and upstream pool. */
  let closedResponses = 0
  /** The targets of the requests handed on. */
  const handled: string[] = []

  before(async () => {
    pki = await makeTestPki()
    const requests = new RequestServer(
      () => ({}) as Snapshot,
      {
        // Answers after 100 ms, as an upstream would: by then the client's alert has stopped the connection.
        // /stream is written a chunk every 100 ms for three times the finish deadline, then ended.
        request: (_snapshot, _policy, req, res) => {
          handled.push(req.url!)
          res.once('close', () => closedResponses++)
          if (req.url !== '/stream') return void setTimeout(() => res.end('ok'), 100)
          let chunks = 0
          const writing = setInterval(() => (++chunks < 15 ? res.write(`chunk ${chunks}\n`) : res.end('last\n')), 100)
          res.once('finish', () => clearInterval(writing)).once('close', () => clearInterval(writing))
        },
        upgrade: async (_snapshot, _policy, _req, socket) => void socket.destroy(),
        refused: (_snapshot, status) => refusals.push(status),
      },
      { headersTimeoutMs: 500, finishDeadlineMs: 500 },
    )
    listener = tls.createServer({ cert: pki.srv.cert, key: pki.srv.key }, (socket) => requests.accept(socket))
    await listenOnLoopback(listener)
  })
  after(async () => {
    listener.close()
    await pki.cleanup()
  })

  // catalogue LA-08
  it('is closed once its headers time out, although its 408 can never be written', async () => {
    const raw = await sendTlsAlert((listener.address() as AddressInfo).port, 'srv.test', 255)
    const started = Date.now()
    // The headers timeout (0.5 s, checked every second), then the refusal's write deadline (5 s).
    const closed = await Promise.race([once(raw, 'close').then(() => true), new Promise((resolve) => setTimeout(resolve, 9_000, false))])
    raw.destroy()
    assert.equal(closed, true, 'the gateway kept the connection open')
    assert.deepEqual(refusals, [408])
    assert.ok(Date.now() - started >= 500)
  })

  it('is closed when its response cannot be written, which closes the response too', async () => {
    const raw = await sendTlsAlert((listener.address() as AddressInfo).port, 'srv.test', 255, 'GET / HTTP/1.1\r\nHost: srv.test\r\n\r\n')
    // The answer (100 ms), then the finish deadline (0.5 s).
    const closed = await Promise.race([once(raw, 'close').then(() => true), new Promise((resolve) => setTimeout(resolve, 5_000, false))])
    raw.destroy()
    assert.equal(closed, true, 'the gateway kept the connection open')
    // The server side closes just after the client sees it go.
    await eventually(async () => closedResponses === 1, 3000, 'the response closed')
  })

  it('is closed when its response cannot be written, with a pipelined request queued behind that response', async () => {
    const pipelined = 'GET /first HTTP/1.1\r\nHost: srv.test\r\n\r\nGET /second HTTP/1.1\r\nHost: srv.test\r\n\r\n'
    const closedBefore = closedResponses
    const raw = await sendTlsAlert((listener.address() as AddressInfo).port, 'srv.test', 255, pipelined)
    const closed = await Promise.race([once(raw, 'close').then(() => true), new Promise((resolve) => setTimeout(resolve, 5_000, false))])
    raw.destroy()
    assert.equal(closed, true, 'the gateway kept the connection open')
    await eventually(async () => closedResponses > closedBefore, 3000, 'the response closed')
    assert.ok(handled.includes('/first'))
    assert.ok(!handled.includes('/second'), 'the request queued behind it was handed on after its connection had closed')
  })

  it('is told from a healthy response, which is left alone past the finish deadline while it is still being written', async () => {
    const target = { port: (listener.address() as AddressInfo).port, servername: 'a.test', ca: pki.caS.cert }
    const reply = await rawUntilClosed(target, 'GET /stream HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n')
    assert.match(reply, /chunk 14\n\r\n[\s\S]*last\n\r\n0\r\n\r\n$/)
  })
})
