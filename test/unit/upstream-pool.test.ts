/**
 * An upstream pool over a real loopback upstream: it lets go of the connections it closed.
 */
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { destroyUpstream, newUpstream } from '../../src/snapshot/upstreams.js'
import { eventually } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/upstream.js'

// Node 20 kept each closed socket's listener on the pool's signal, and the socket with it: memory grew
// with every upstream connection closed, for the life of the pool.
test('holds no closed connection: the pool-wide abort signal has a listener for each open one only', async () => {
  const server = http.createServer((_req, res) => res.setHeader('connection', 'close').end('ok'))
  await listenOnLoopback(server)
  const { port } = server.address() as AddressInfo
  const identity = { origin: `http://127.0.0.1:${port}`, serverName: '', crl: [], insecureSkipVerify: false, connectTimeout: 2000, idleTimeout: 60_000 }
  const upstream = newUpstream('test', { identity, context: undefined }, () => undefined)
  const listeners = () => getEventListeners(upstream.abortSockets.signal, 'abort').length
  try {
    for (let i = 0; i < 5; i++) {
      const { body } = await upstream.pool.request({ path: '/', method: 'GET' })
      assert.equal(await body.text(), 'ok')
    }
    await eventually(async () => listeners() === 0, 3000, 'every closed connection let go of')
  } finally {
    await destroyUpstream(upstream)
    server.close()
  }
})
