/**
 * A config's problems as `check` and a refused start print them (config/issues.ts), and where files are
 * missing, one hint where one fits.
 */
import { fileURLToPath } from 'node:url'
import { displayPath } from '../config/file-paths.js'
import { problemReport, type ConfigError, type ConfigIssue } from '../config/issues.js'
import { devPkiFiles } from '../tls/dev-pki-files.js'

/** Where `npm run demo` writes its development PKI (demo/run.ts), which the demo's routes.yaml names. */
const DEMO_CERTS = fileURLToPath(new URL('../../certs', import.meta.url))
const DEMO_FILES = new Set(devPkiFiles(DEMO_CERTS))

export function printProblems(error: ConfigError, file: string, err: (line: string) => void, outcome?: string): void {
  for (const line of problemReport(error, file, outcome)) err(line)
  const hint = missingFilesHint(error.issues)
  if (hint) err(hint)
}

/**
 * A fresh checkout has none of the files of certs/ that the demo's routes.yaml names: listing them said
 * nothing of how to make them. Once for all of them, and only where they are the demo's: a development
 * PKI is no answer for /etc/portcullis/tls/tls.crt. Where the folders of the files are missing too, a
 * volume or Secret not mounted is the likely cause, and asked about.
 */
function missingFilesHint(issues: readonly ConfigIssue[]): string | undefined {
  const missing = issues.filter((issue) => issue.kind === 'missing-file' || issue.kind === 'missing-folder')
  if (missing.length === 0) return undefined
  if (missing.every((issue) => DEMO_FILES.has(issue.aboutFile!))) {
    const dir = displayPath(DEMO_CERTS)
    return `hint: these files are the demo's development PKI: npm run demo writes it to ${dir}/ before it starts, and portcullis certs --out ${dir} writes it without starting the demo`
  }
  if (!missing.every((issue) => issue.kind === 'missing-folder')) return undefined
  return missing.length === 1
    ? 'hint: the folder of this file does not exist either: is the volume or Secret meant to hold it mounted?'
    : 'hint: the folders of these files do not exist either: is the volume or Secret meant to hold them mounted?'
}
