/**
 * `portcullis check [FILE]`: the same load and build as a start, stopped before listen(), and a lookup
 * of each listen host, as listen() would make it; a PORTCULLIS_LOG_LEVEL that a start refuses is refused
 * here too, with its words and exit code. Every issue of the config, of the certificate files it
 * names and of its listen hosts is listed, one per line, then any warnings (which do not fail the check).
 */
import { ConfigError, formatWarning, sortByPosition, type ConfigIssue } from '../config/issues.js'
import { ConfigLoader } from '../config/load.js'
import type { Config } from '../config/types.js'
import { unresolvedListenHosts } from '../listeners.js'
import { logLevelRefusal } from '../log.js'
import { configWarnings } from '../snapshot/warnings.js'
import { checkedConfig } from '../snapshot/load-config.js'
import { buildSnapshot, retireSnapshot } from '../snapshot/snapshot.js'
import { OcspLookups } from '../tls/ocsp-lookups.js'
import { ClientChains } from '../tls/peer-certificates.js'
import { newTicketSecret, TICKET_KEY_LIFETIME_MS } from '../tls/ticket-keys.js'
import { printProblems } from './problems.js'

/** A config that passed the check, and its warnings. */
interface CheckedFile {
  readonly config: Config
  readonly warnings: ConfigIssue[]
}

export async function runCheck(file: string, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const badLogLevel = logLevelRefusal()
  if (badLogLevel) {
    err(badLogLevel)
    return 2
  }
  try {
    const { config, warnings } = await checkConfig(file)
    for (const warning of warnings) err(formatWarning(warning))
    out(`${file}: ok (${config.routes.length} route${config.routes.length === 1 ? '' : 's'})`)
    return 0
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    printProblems(error, file, err)
    return 1
  }
}

/** What `check` finds in `file`: the config and its warnings, or a ConfigError listing every problem. */
export async function checkConfig(file: string): Promise<CheckedFile> {
  // The config as far as it reads (a YAML error throws here), for its listen hosts, which are listed
  // with the other problems.
  const loaded = await new ConfigLoader(file).load()
  const unresolved = await unresolvedListenHosts(loaded.config)
  let checked: CheckedFile | ConfigError
  try {
    checked = build(checkedConfig(loaded))
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    checked = error
  }
  if (unresolved.length === 0 && !(checked instanceof ConfigError)) return checked
  const issues = checked instanceof ConfigError ? checked.issues : []
  throw new ConfigError(sortByPosition([...issues, ...unresolved]), { warnings: checked.warnings })
}

/** The build of a start, up to listen(). */
function build(config: Config): CheckedFile {
  const snapshot = buildSnapshot(config, {
    tlsHooks: { onHandshake: () => undefined, onVerified: (socket) => socket.destroy(), onRefusedCertificate: (socket) => socket.destroy() },
    upstreamHooks: { onHandshake: () => undefined },
    ticketSecrets: { shared: newTicketSecret(), own: newTicketSecret() },
    ticketEpoch: 0,
    ticketKeyLifetimeMs: TICKET_KEY_LIFETIME_MS,
    clientChains: () => new ClientChains(),
    ocspLookups: new OcspLookups({ onLookup: () => undefined }),
  })
  retireSnapshot(snapshot, undefined)
  return { config, warnings: configWarnings(config, snapshot) }
}
