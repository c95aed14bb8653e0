/**
 * A TLS connection that OpenSSL stopped after a fatal alert with an unassigned code: Node reports no
 * error and never finishes a write on it again. It must still close, as Envoy and nginx close it at
 * once, rather than hold a file descriptor for good.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { RequestServer } from '../../src/proxy/server.js'
import type { Snapshot } from '../../src/snapshot/snapshot.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { sendTlsAlert } from '../helpers/tls-alert.js'

describe('a TLS connection stopped by an unknown fatal alert', () => {
  let pki: TestPki
  let listener: tls.Server
  const refusals: number[] = []

  before(async () => {
    pki = await makeTestPki()
    const requests = new RequestServer(
      () => ({}) as Snapshot,
      {
        request: (_snapshot, _policy, _req, res) => res.end('ok'),
        upgrade: (_snapshot, _policy, _req, socket) => socket.destroy(),
        refused: (status) => refusals.push(status),
      },
      { headersTimeoutMs: 500 },
    )
    listener = tls.createServer({ cert: pki.srv.cert, key: pki.srv.key }, (socket) => requests.accept(socket))
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  })
  after(async () => {
    listener.close()
    await pki.cleanup()
  })

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
})
