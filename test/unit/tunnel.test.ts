/**
 * Tunnels (WebSockets, TLS passthrough) close after a time without a byte either way, or once bytes
 * relayed to one side have waited a while for it to take them, and only then. Real loopback sockets:
 * a client, the gateway's end of its connection, and an upstream connection that the gateway's end
 * relays to.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import { after, before, describe, it, type TestContext } from 'node:test'
import { setTimeout as pause } from 'node:timers/promises'
import { relayTunnel, type TunnelBounds, type TunnelTimeout } from '../../src/proxy/tunnel.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const IDLE_MS = 200
const SEND_MS = 300

let server: net.Server
before(async () => {
  server = net.createServer()
  await listenOnLoopback(server)
})
after(() => server.close())

/** client → gateway end ⇄ upstream, relayed both ways within `bounds`; closed after `t`. */
async function openTunnel(t: TestContext, bounds: Omit<TunnelBounds, 'onTimeout'>) {
  const port = (server.address() as AddressInfo).port
  const accepted = once(server, 'connection')
  const client = net.connect(port, '127.0.0.1')
  const [gatewayEnd] = (await accepted) as [net.Socket]
  const upstreamAccepted = once(server, 'connection')
  const toUpstream = net.connect(port, '127.0.0.1')
  const [upstream] = (await upstreamAccepted) as [net.Socket]
  const timeouts: TunnelTimeout[] = []
  relayTunnel(gatewayEnd, toUpstream, { ...bounds, onTimeout: (timeout) => timeouts.push(timeout) })
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
  return { client, gatewayEnd, toUpstream, upstream, closed, bothClosed, timeouts }
}

/** Resolves once `end` has closed, whether or not with an error (which events.once would reject on). */
function closing(end: net.Socket): Promise<unknown> {
  return new Promise((resolve) => end.once('close', resolve))
}

/** Writes to `end` as fast as it takes the bytes, until it closes. */
function flood(end: net.Socket): void {
  const chunk = Buffer.alloc(64 * 1024, 'x')
  const pump = () => {
    while (!end.destroyed && end.write(chunk));
    if (!end.destroyed) end.once('drain', pump)
  }
  pump()
}

describe('tunnel idle timeout', () => {
  // The send bound is an hour here: only the idle bound can close these tunnels.
  const idleTunnel = (t: TestContext) => openTunnel(t, { idleMs: IDLE_MS, sendMs: 3_600_000 })

  it('keeps a tunnel that carries bytes in either direction, and closes both ends once it falls quiet', { timeout: 10_000 }, async (t) => {
    const { client, upstream, closed, bothClosed, timeouts } = await idleTunnel(t)
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
    assert.deepEqual(timeouts, ['idle'])
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

describe('tunnel send bound', () => {
  // The idle bound is the default hour here: only the send bound can close these tunnels.
  const boundTunnel = (t: TestContext) => openTunnel(t, { sendMs: SEND_MS })

  // A side that stops reading stalls the relay toward it, and pipe() stops reading the other side: nothing
  // moves, and before the send bound a client that never read (or had gone, its FIN queued behind the
  // bytes it sent) held both sockets and their buffers until the hour's idle bound.
  for (const stopped of ['upstream', 'client'] as const) {
    it(`closes both ends once the ${stopped} stops reading`, { timeout: 10_000 }, async (t) => {
      const tunnel = await boundTunnel(t)
      const writer = stopped === 'upstream' ? tunnel.client : tunnel.upstream
      tunnel[stopped].pause()
      flood(writer)
      // The gateway's two sockets close, and the writer sees it (the stopped side, which reads nothing,
      // would not). A tunnel left open would hold the test until its timeout.
      await Promise.all([closing(tunnel.gatewayEnd), closing(tunnel.toUpstream), closing(writer)])
      assert.deepEqual(tunnel.timeouts, [`${stopped}_not_reading`])
    })
  }

  it('keeps a tunnel whose reader is slower than its writer but keeps taking bytes', { timeout: 10_000 }, async (t) => {
    const { client, upstream, toUpstream, closed } = await boundTunnel(t)
    // The upstream reads 1 MiB every 50 ms: the writer outruns it, and the gateway's writes to it wait
    // (each 'drain' ends a wait), but never a whole send bound.
    let budget = 0
    upstream.pause().on('data', (chunk: Buffer) => {
      budget -= chunk.length
      if (budget <= 0) upstream.pause()
    })
    const reader = setInterval(() => {
      budget = 1024 * 1024
      upstream.resume()
    }, 50)
    t.after(() => clearInterval(reader))
    let drains = 0
    toUpstream.on('drain', () => drains++)
    flood(client)
    await pause(5 * SEND_MS)
    assert.deepEqual(closed, { client: false, upstream: false })
    assert.ok(drains >= 5, `the gateway's writes to the upstream waited and drained (${drains} drains)`)
  })

  it('keeps a quiet tunnel, and one whose bytes are all taken', async (t) => {
    const { client, upstream, closed } = await boundTunnel(t)
    await pause(2 * SEND_MS)
    client.write('up')
    upstream.write('down')
    await pause(2 * SEND_MS)
    assert.deepEqual(closed, { client: false, upstream: false })
  })
})
