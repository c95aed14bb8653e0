/**
 * What the gateway's listening sockets share: binding one (a failure names the address, and the file,
 * line and key that set it), and what `check` can know of that without binding (whether each host
 * resolves), and closing one.
 */
import { lookup } from 'node:dns/promises'
import { once } from 'node:events'
import { isIP } from 'node:net'
import type net from 'node:net'
import { formatIssue, issueAt, type ConfigIssue } from './config/issues.js'
import type { Config, ListenAddress, ListenerName } from './config/types.js'
import { ErrorCodes, PortcullisError } from './errors.js'
import { errorSummary, type Logger } from './log.js'

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
