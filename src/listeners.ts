/**
 * What the gateway's listening sockets share: binding one (a failure names the address, and the file,
 * line and key that set it),
 * closing one, and the client connections of the public listeners, each admitted against
 * limits.connections and tracked until it closes.
 */
import { once } from 'node:events'
import type net from 'node:net'
import type { Gauge } from 'prom-client'
import { formatIssue, issueAt } from './config/issues.js'
import type { Config, ListenAddress, ListenerName } from './config/types.js'
import { ErrorCodes, PortcullisError } from './errors.js'
import type { Overload } from './proxy/overload.js'

export type PublicListenerName = Exclude<ListenerName, 'admin'>

/**
 * Binds a listener; a failure (a port taken, a host that does not resolve, which check cannot see) is
 * PCL_ERR_LISTEN, said as a config issue at `listen.NAME` of `config`, for a primary's admin listener too.
 */
export async function listenOn(server: net.Server, name: ListenerName, address: ListenAddress, config: Pick<Config, 'file' | 'positions'>): Promise<void> {
  server.listen(address.port, address.host)
  try {
    await once(server, 'listening')
  } catch (error) {
    const issue = issueAt(config.file, config.positions, `listen.${name}`, `cannot listen on ${address.host}:${address.port}: ${(error as Error).message}`)
    throw new PortcullisError(ErrorCodes.LISTEN, formatIssue(issue), { cause: error })
  }
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

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
