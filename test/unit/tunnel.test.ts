/**
 * Tunnels (WebSockets, TLS passthrough) close after a time without a byte either way, and only then.
 * Real loopback sockets: a client, the gateway's end of its connection, and an upstream connection
 * that the gateway's end relays to.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import { after, before, describe, it, type TestContext } from 'node:test'
import { setTimeout as pause } from 'node:timers/promises'
import { closeWhenIdle } from '../../src/proxy/tunnel.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const IDLE_MS = 200

let server: net.Server
before(async () => {
  server = net.createServer()
  await listenOnLoopback(server)
})
after(() => server.close())

/** client → gateway end ⇄ upstream, relayed both ways, under the bounds `bind` sets; closed after `t`. */
async function openTunnel(t: TestContext, bind: (gatewayEnd: net.Socket, toUpstream: net.Socket) => void) {
  const port = (server.address() as AddressInfo).port
  const accepted = once(server, 'connection')
  const client = net.connect(port, '127.0.0.1')
  const [gatewayEnd] = (await accepted) as [net.Socket]
  const upstreamAccepted = once(server, 'connection')
  const toUpstream = net.connect(port, '127.0.0.1')
  const [upstream] = (await upstreamAccepted) as [net.Socket]
  gatewayEnd.pipe(toUpstream)
  toUpstream.pipe(gatewayEnd)
  bind(gatewayEnd, toUpstream)
  const ends = [client, gatewayEnd, toUpstream, upstream]
  t.after(() => ends.forEach((end) => end.destroy()))
  // A socket closed with bytes unread resets its peer, which sees an error: the tests close some so.
  for (const end of ends) end.on('error', () => {})
  // Both ends read what reaches them, so that each sees the other close.
  client.resume()
  upstream.resume()
  const closed = { client: false, upstream: false }
  const bothClosed = Promise.all([closing(client), closing(upstream)])
  client.on('close', () => (closed.client = true))
  upstream.on('close', () => (closed.upstream = true))
  return { client, gatewayEnd, toUpstream, upstream, closed, bothClosed }
}

/** Resolves once `end` has closed, whether or not with an error (which events.once would reject on). */
function closing(end: net.Socket): Promise<unknown> {
  return new Promise((resolve) => end.once('close', resolve))
}

describe('tunnel idle timeout', () => {
  const idleTunnel = (t: TestContext) => openTunnel(t, (gatewayEnd, toUpstream) => closeWhenIdle(gatewayEnd, toUpstream, IDLE_MS))

  it('keeps a tunnel that carries bytes in either direction, and closes both ends once it falls quiet', { timeout: 10_000 }, async (t) => {
    const { client, upstream, closed, bothClosed } = await idleTunnel(t)
    const received: string[] = []
    upstream.on('data', (chunk: Buffer) => received.push(chunk.toString()))
    // Three idle periods of traffic, alternating directions.
    for (let i = 0; i < 9; i++) {
      await pause(IDLE_MS / 3)
      if (i % 2 === 0) client.write('up')
      else upstream.write('down')
    }
    assert.deepEqual(closed, { client: false, upstream: false }, 'open while bytes flow')
    assert.ok(received.length > 0, 'bytes were relayed')
    // Both ends close once quiet; a tunnel that never did would hold the test until its timeout.
    await bothClosed
  })

  it('counts bytes from the upstream alone as activity', async (t) => {
    const { upstream, closed } = await idleTunnel(t)
    for (let i = 0; i < 6; i++) {
      await pause(IDLE_MS / 3)
      upstream.write('tick')
    }
    assert.deepEqual(closed, { client: false, upstream: false })
  })
})
