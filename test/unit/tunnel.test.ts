/**
 * Tunnels (WebSockets, TLS passthrough) close after a time without a byte either way, and only then.
 * Real loopback sockets: a client, the gateway's end of its connection, and an upstream connection
 * that the gateway's end relays to.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as pause } from 'node:timers/promises'
import { closeWhenIdle } from '../../src/proxy/tunnel.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const IDLE_MS = 200

describe('tunnel idle timeout', () => {
  let server: net.Server

  before(async () => {
    server = net.createServer()
    await listenOnLoopback(server)
  })
  after(() => server.close())

  /** client → gateway end ⇄ upstream, relayed both ways, under closeWhenIdle. */
  const openTunnel = async () => {
    const port = (server.address() as AddressInfo).port
    const accepted = once(server, 'connection')
    const client = net.connect(port, '127.0.0.1')
    const [gatewayEnd] = (await accepted) as [net.Socket]
    const upstreamAccepted = once(server, 'connection')
    const toUpstream = net.connect(port, '127.0.0.1')
    const [upstream] = (await upstreamAccepted) as [net.Socket]
    gatewayEnd.pipe(toUpstream)
    toUpstream.pipe(gatewayEnd)
    closeWhenIdle(gatewayEnd, toUpstream, IDLE_MS)
    // Both ends read what reaches them, so that each sees the other close.
    client.resume()
    upstream.resume()
    const closed = { client: false, upstream: false }
    const bothClosed = Promise.all([once(client, 'close'), once(upstream, 'close')])
    client.on('close', () => (closed.client = true))
    upstream.on('close', () => (closed.upstream = true))
    return { client, upstream, closed, bothClosed }
  }

  it('keeps a tunnel that carries bytes in either direction, and closes both ends once it falls quiet', { timeout: 10_000 }, async () => {
    const { client, upstream, closed, bothClosed } = await openTunnel()
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

  it('counts bytes from the upstream alone as activity', async () => {
    const { upstream, closed } = await openTunnel()
    for (let i = 0; i < 6; i++) {
      await pause(IDLE_MS / 3)
      upstream.write('tick')
    }
    assert.deepEqual(closed, { client: false, upstream: false })
    upstream.destroy()
  })
})
