/**
 * The client connections of the public listeners: each admitted against limits.connections, tracked
 * until it closes, counted for the connections gauge, and waited for (or closed) by a drain.
 */
import type net from 'node:net'
import type { Gauge } from 'prom-client'
import type { ListenerName, PublicListenerName } from './config/types.js'
import type { Overload } from './proxy/overload.js'

/** Every TCP connection admitted on a public listener, TLS passthrough included, until it closes. */
export class ClientConnections {
  private readonly open = new Map<net.Socket, PublicListenerName>()
  /** What allClosed() waits on: each is called as the last connection closes. */
  private readonly untilEmpty = new Set<() => void>()

  constructor(private readonly overload: Overload) {}

  /**
   * Every client connection of both public listeners passes here. One beyond `max` (limits.connections
   * of the config serving now) is closed at once, before a byte of it is read: no TLS work, and not a
   * handshake (it is not in portcullis_tls_handshakes_total), as Envoy's global connection limit
   * closes it.
   */
  admit(socket: net.Socket, listener: PublicListenerName, max: number): boolean {
    if (this.open.size >= max) {
      this.overload.rejected({ limit: 'connections' }, max)
      socket.destroy()
      return false
    }
    this.open.set(socket, listener)
    socket.once('close', () => {
      this.open.delete(socket)
      if (this.open.size === 0) for (const wake of this.untilEmpty) wake()
    })
    return true
  }

  /** Resolves once no connection is open, or after `ms`: what a drain waits for, without polling. */
  allClosed(ms: number): Promise<void> {
    if (this.open.size === 0 || ms <= 0) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(deadline)
        this.untilEmpty.delete(wake)
        resolve()
      }
      const deadline = setTimeout(wake, ms)
      this.untilEmpty.add(wake)
    })
  }

  get count(): number {
    return this.open.size
  }

  destroyAll(): void {
    for (const socket of this.open.keys()) socket.destroy()
  }

  /** Counted at the scrape, not per connection: a gauge of every bound public listener, 0 included. */
  collect(gauge: Gauge<'listener'>, listeners: Iterable<ListenerName>): void {
    const counts = new Map<PublicListenerName, number>()
    for (const name of listeners) if (name !== 'admin') counts.set(name, 0)
    for (const listener of this.open.values()) counts.set(listener, (counts.get(listener) ?? 0) + 1)
    for (const [listener, count] of counts) gauge.set({ listener }, count)
  }
}
