/**
 * `portcullis check [FILE]`: the same load and build as a start, stopped before listen(). Every issue of
 * the config and of the certificate files it names is listed, one per line, then any warnings (which
 * do not fail the check).
 */
import { ConfigError, formatIssue, problemReport, type ConfigIssue } from '../config/issues.js'
import { ConfigLoader } from '../config/load.js'
import type { Config } from '../config/types.js'
import { configWarnings } from '../snapshot/warnings.js'
import { loadConfig } from '../snapshot/load-config.js'
import { buildSnapshot, retireSnapshot } from '../snapshot/snapshot.js'
import { ClientChains } from '../tls/peer-certificates.js'
import { newTicketSecret, TICKET_KEY_LIFETIME_MS } from '../tls/ticket-keys.js'

export async function runCheck(file: string, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  try {
    const { config, warnings } = await checkConfig(file)
    for (const warning of warnings) err(`warning: ${formatIssue(warning)}`)
    out(`${file}: ok (${config.routes.length} route${config.routes.length === 1 ? '' : 's'})`)
    return 0
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    for (const line of problemReport(error, file)) err(line)
    return 1
  }
}

/** What `check` finds in `file`: the config and its warnings, or a ConfigError listing every problem. */
export async function checkConfig(file: string): Promise<{ config: Config; warnings: ConfigIssue[] }> {
  const config = await loadConfig(new ConfigLoader(file))
  const snapshot = buildSnapshot(config, {
    tlsHooks: { onHandshake: () => undefined, onVerified: (socket) => socket.destroy() },
    upstreamHooks: { onHandshake: () => undefined },
    ticketSecrets: { shared: newTicketSecret(), own: newTicketSecret() },
    ticketEpoch: 0,
    ticketKeyLifetimeMs: TICKET_KEY_LIFETIME_MS,
    clientChains: () => new ClientChains(),
  })
  retireSnapshot(snapshot, undefined)
  return { config, warnings: configWarnings(config, snapshot) }
}
