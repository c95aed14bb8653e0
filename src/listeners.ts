/**
 * What the gateway's listening sockets share: binding one (a failure names the address, and the file,
 * line and key that set it), and what `check` can know of that without binding (whether each host
 * resolves), closing one, and the client connections of the public listeners, each admitted against
 * limits.connections and tracked until it closes.
 */
import { lookup } from 'node:dns/promises'
import { once } from 'node:events'
import { isIP } from 'node:net'
import type net from 'node:net'
import type { Gauge } from 'prom-client'
import { formatIssue, issueAt, type ConfigIssue } from './config/issues.js'
import type { Config, ListenAddress, ListenerName, PublicListenerName } from './config/types.js'
import { ErrorCodes, PortcullisError } from './errors.js'
import { errorSummary, type Logger } from './log.js'
import type { Overload } from './proxy/overload.js'

type ConfigPlaces = Pick<Config, 'file' | 'positions'>

/**
 * Binds a listener; a failure (a port taken, a host that does not resolve) is PCL_ERR_LISTEN, said as a
 * config issue at `listen.NAME` of `config`, for a primary's admin listener too. Once bound, an error of
 * the listener (an accept() that fails for want of kernel memory) is logged and the listener goes on,
 * as nginx's "accept() failed": unheard, it would end the process.
 */
export async function listenOn(server: net.Server, name: ListenerName, address: ListenAddress, config: ConfigPlaces, logger: Logger): Promise<void> {
  server.listen(address.port, address.host)
  try {
    await once(server, 'listening')
  } catch (error) {
    throw new PortcullisError(ErrorCodes.LISTEN, formatIssue(listenIssue(name, address, error, config)), { cause: error })
  }
  server.on('error', (error) => logger.error({ listener: name, error: errorSummary(error) }, 'listener error; it goes on listening'))
}

/**
 * Each listen host of `config` that does not resolve, as the issue a start would fail with: looked up
 * as listen() looks it up (dns.lookup), where isLookedUp says so.
 */
export async function unresolvedListenHosts(config: ConfigPlaces & Pick<Config, 'listen'>): Promise<ConfigIssue[]> {
  const lookups = Object.entries(config.listen).map(async ([name, address]) => {
    if (!isLookedUp(address.host)) return []
    try {
      await lookup(address.host)
      return []
    } catch (error) {
      return [listenIssue(name as ListenerName, address, error, config)]
    }
  })
  return (await Promise.all(lookups)).flat()
}

/**
 * Whether `check` looks a listen host up: a name but localhost. An IP literal (0.0.0.0 and :: above all)
 * needs no lookup, and localhost none worth a resolver's time: checking the usual config stays fast and
 * works offline.
 */
export function isLookedUp(host: string): boolean {
  return isIP(host) === 0 && host.toLowerCase() !== 'localhost'
}

function listenIssue(name: ListenerName, address: ListenAddress, error: unknown, config: ConfigPlaces): ConfigIssue {
  return issueAt(config.file, config.positions, `listen.${name}`, `cannot listen on ${address.host}:${address.port}: ${(error as Error).message}`)
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
