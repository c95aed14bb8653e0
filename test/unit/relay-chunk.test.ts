/**
 * relayChunk's backpressure: a full client pauses the upstream until it drains, and a client already
 * gone holds nothing.
 */
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import type { Dispatcher } from 'undici'
import { relayChunk } from '../../src/proxy/upstream-request.js'

/** A dispatch controller that records whether it was paused and resumed. */
function recordingController(): { controller: Dispatcher.DispatchController; calls: string[] } {
  const calls: string[] = []
  const controller = { pause: () => calls.push('pause'), resume: () => calls.push('resume') } as unknown as Dispatcher.DispatchController
  return { controller, calls }
}

test('a full client pauses the upstream until it drains', () => {
  const client = new PassThrough({ highWaterMark: 1 })
  const { controller, calls } = recordingController()
  relayChunk(client, controller, Buffer.from('chunk'), 30_000)
  assert.deepEqual(calls, ['pause'])
  client.read()
  client.emit('drain')
  assert.deepEqual(calls, ['pause', 'resume'])
})

// It armed the send timeout, whose timer then held the process for 30 s.
test('a client already gone pauses nothing and arms no timeout', () => {
  const client = new PassThrough()
  client.on('error', () => undefined)
  client.destroy()
  const { controller, calls } = recordingController()
  relayChunk(client, controller, Buffer.from('chunk'), 30_000)
  assert.deepEqual(calls, [])
})
