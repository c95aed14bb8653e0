/**
 * The demo's echo upstream on its own: `npm run demo` starts it on a fixed port that may be taken.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import { test } from 'node:test'
import { startEchoUpstream } from '../../demo/echo-upstream.js'
import { makeTestPki } from '../helpers/pki.js'

test('rejects when its port is taken, rather than crash the process with an unhandled error', async () => {
  const pki = await makeTestPki()
  const taken = net.createServer().listen(0, '127.0.0.1')
  try {
    await once(taken, 'listening')
    const { port } = taken.address() as AddressInfo
    await assert.rejects(startEchoUpstream({ cert: pki.up.cert, key: pki.up.key, port }), { code: 'EADDRINUSE' })
  } finally {
    taken.close()
    await pki.cleanup()
  }
})
