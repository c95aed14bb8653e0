/**
 * A config's problems as `check` and a refused start print them (config/issues.ts), and where files of
 * certificates or keys are missing, one hint on how to make some.
 */
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { displayPath } from '../config/file-paths.js'
import { problemReport, type ConfigError, type ConfigIssue } from '../config/issues.js'

/** Where `npm run demo` writes its development PKI (demo/run.ts), which the demo's routes.yaml names. */
const DEMO_CERTS = fileURLToPath(new URL('../../certs', import.meta.url))

export function printProblems(error: ConfigError, file: string, err: (line: string) => void, outcome?: string): void {
  for (const line of problemReport(error, file, outcome)) err(line)
  const hint = missingCertificatesHint(error.issues)
  if (hint) err(hint)
}

/**
 * A fresh checkout has no certs/, which the demo's routes.yaml names, and a new config may name files
 * yet to be made: listing them said nothing of how. Once for all of them. Not for a CRL, which
 * `portcullis certs` does not write.
 */
function missingCertificatesHint(issues: readonly ConfigIssue[]): string | undefined {
  const missing = issues.filter((issue) => issue.kind === 'missing-file' && !/\.crl(?:\[\d+\])?$/.test(issue.path)).map((issue) => issue.aboutFile!)
  if (missing.length === 0) return undefined
  if (missing.every((file) => dirname(file) === DEMO_CERTS)) {
    const dir = displayPath(DEMO_CERTS)
    return `hint: these files are the demo's development PKI: npm run demo writes it to ${dir}/ before it starts, and portcullis certs --out ${dir} writes it without starting the demo`
  }
  return 'hint: portcullis certs --out DIR writes a development PKI to try a config with: ca, server, client and gateway .crt and .key in DIR'
}
