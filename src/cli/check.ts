/**
 * `portcullis check [FILE]`: the same load and build as a start, stopped before listen(). Every issue of
 * the config and of the certificate files it names is listed, one per line, then any warnings (which
 * do not fail the check).
 */
import { ConfigError, formatIssue, problemReport, sortByPosition } from '../config/issues.js'
import { ConfigLoader } from '../config/load.js'
import { configWarnings } from '../snapshot/warnings.js'
import { buildSnapshot, fileIssues, retireSnapshot } from '../snapshot/snapshot.js'
import { ClientChains } from '../tls/peer-certificates.js'
import { newTicketSecret } from '../tls/ticket-keys.js'

export async function runCheck(file: string, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  try {
    const { config, issues } = await new ConfigLoader(file).loadForCheck()
    if (issues.length > 0) {
      // The files' own problems too, in the same run; a file already named is not named twice.
      const named = new Set(issues.map((issue) => issue.path))
      throw new ConfigError(sortByPosition([...issues, ...fileIssues(config).filter((issue) => !named.has(issue.path))]))
    }
    const snapshot = buildSnapshot(config, {
      tlsHooks: { onHandshake: () => undefined, onVerified: (socket) => socket.destroy() },
      upstreamHooks: { onHandshake: () => undefined },
      ticketSecrets: { shared: newTicketSecret(), own: newTicketSecret() },
      ticketEpoch: 0,
      clientChains: () => new ClientChains(),
    })
    retireSnapshot(snapshot, undefined)
    for (const warning of configWarnings(config, snapshot)) err(`warning: ${formatIssue(warning)}`)
    out(`${file}: ok (${config.routes.length} route${config.routes.length === 1 ? '' : 's'})`)
    return 0
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    for (const line of problemReport(error, file)) err(line)
    return 1
  }
}
