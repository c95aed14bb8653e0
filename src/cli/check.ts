/**
 * `portcullis check [FILE]`: the same load and build as a start, stopped before listen(). Every issue of
 * the config and of the certificate files it names is listed, one per line, then any warnings (which
 * do not fail the check).
 */
import { ConfigError, formatIssue } from '../config/issues.js'
import { loadConfig } from '../config/load.js'
import { configWarnings } from '../config/warnings.js'
import { buildSnapshot, retireSnapshot } from '../snapshot.js'

export async function runCheck(file: string, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  try {
    const config = await loadConfig(file)
    const snapshot = buildSnapshot(config, {
      tlsHooks: { onHandshake: () => undefined, onVerified: (socket) => socket.destroy() },
      upstreamHooks: { onHandshake: () => undefined },
    })
    retireSnapshot(snapshot, undefined)
    for (const warning of configWarnings(config, snapshot)) err(`warning: ${formatIssue(warning)}`)
    out(`${file}: ok (${config.routes.length} route${config.routes.length === 1 ? '' : 's'})`)
    return 0
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    for (const issue of error.issues) err(formatIssue(issue))
    err(`${file}: ${error.issues.length} problem${error.issues.length === 1 ? '' : 's'}`)
    return 1
  }
}
