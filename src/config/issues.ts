/**
 * Config problems: ConfigIssue (file, line, column, key path, message), its one-line form that `check`,
 * the log and POST /reload all print, and ConfigError, which carries every issue of a load.
 */
import { ErrorCodes, PortcullisError } from '../errors.js'
import { cappedForLog } from '../log.js'
import { secretLike } from './shown-value.js'
import type { Position } from './types.js'

/** One problem in a config: where it is and what is wrong. */
export interface ConfigIssue {
  readonly file: string
  readonly line?: number
  readonly col?: number
  /** Key path such as `routes[2].upstream.ca`; '' for the document itself. */
  readonly path: string
  readonly message: string
  /**
   * The absolute path of the one file, named at `path`, that this issue is about: one the rules cannot
   * reach (config/file-paths.ts), or one read and found wrong (snapshot/route-files.ts). A refused
   * reload watches it, so that its arrival or repair reloads.
   */
  readonly aboutFile?: string
  /** This issue counts that many others, not listed one by one (YAML errors past the first few). */
  readonly unlisted?: number
  /**
   * What the issue is, for code that tells some apart (cli/problems.ts, reload/reloader.ts), set where
   * it is found: its message may be reworded. 'missing-file': `aboutFile` does not exist;
   * 'missing-folder': nor does its folder (config/file-paths.ts); 'key-mismatch': the key file
   * `aboutFile` is not the private key of its certificate (snapshot/route-files.ts).
   */
  readonly kind?: IssueKind
}

export type IssueKind = 'missing-file' | 'missing-folder' | 'key-mismatch'

/** `routes.yaml:14:11 routes[2].upstream.ca: certs/leaf.pem holds a certificate that is not a CA` */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}:${issue.col ?? 1}`
  const path = shownKeyPath(issue.path)
  return visible(path ? `${where} ${path}: ${issue.message}` : `${where}: ${issue.message}`)
}

/** A key path as an issue shows it: a key that looks like a secret (a line of a key pasted as a key) as …. */
function shownKeyPath(path: string): string {
  return path
    .split('.')
    .map((key) => (secretLike(key) ? '…' : key))
    .join('.')
}

/**
 * The issue's line with each character of the config it quotes that prints as nothing, breaks the
 * line, or reorders what follows (a NUL, a newline, a zero-width space, a right-to-left override) written
 * as its escape: `check`, the log and the POST /reload answer show one line per issue, as it is in the file.
 */
function visible(line: string): string {
  return line.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (char) => `\\u${char.codePointAt(0)!.toString(16).padStart(4, '0')}`)
}

/** `warning: routes.yaml:9:13 routes[0].tls.cert: expired on …`, as `check` prints a warning. */
export function formatWarning(warning: ConfigIssue): string {
  return `warning: ${formatIssue(warning)}`
}

/**
 * What `portcullis check` prints for a ConfigError: each issue, then each warning known beside them (as
 * `nginx -t` prints its warnings beside its errors), then `FILE: [outcome, ]N problems`.
 */
export function problemReport(error: ConfigError, file: string, outcome?: string): string[] {
  const total = error.issues.reduce((sum, issue) => sum + (issue.unlisted ?? 1), 0)
  const count = `${total} problem${total === 1 ? '' : 's'}`
  return [...error.issues.map(formatIssue), ...error.warnings.map(formatWarning), `${file}: ${outcome ? `${outcome}, ` : ''}${count}`]
}

/** A config's problems, or its warnings, as the log takes them (cappedForLog): `portcullis check` lists them all. */
export function cappedIssuesForLog(lines: readonly string[], more: string): string[] {
  return cappedForLog(lines, `${more}; portcullis check lists them all`)
}

/** How the rules say a problem: at a key path, in words (resolve.ts makes it an issue at its place). */
export type Report = (path: string, message: string) => void

export function issueAt(
  file: string,
  positions: ReadonlyMap<string, Position>,
  path: string,
  message: string,
): ConfigIssue {
  return { file, path, message, ...positions.get(nearestKnown(path, positions)) }
}

/** A key that is missing or unknown has no position of its own: use the nearest parent that has one. */
function nearestKnown(path: string, positions: ReadonlyMap<string, Position>): string {
  let candidate = path
  while (candidate && !positions.has(candidate)) {
    const parent = candidate.replace(/(\.[^.[\]]+|\[\d+\])$/, '')
    // A top-level key (`listen`) has no parent key: the issue is about the document.
    candidate = parent === candidate ? '' : parent
  }
  return candidate
}

export function sortByPosition(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0))
}

/**
 * Thrown when a config cannot be loaded or built; `issues` lists every issue found, in file order. Its
 * message, which the log takes, is capped as the log's lines are (cappedIssuesForLog): a start that 1,000
 * routes' files failed logged all their problems in one record.
 */
export class ConfigError extends PortcullisError {
  readonly issues: readonly ConfigIssue[]
  /**
   * The config's warnings, where they can be known beside its errors: those of a config read as written
   * whose errors are in the files it names or its listen hosts (snapshot/load-config.ts, cli/check.ts).
   * None where a value was refused, which is then read as its default or not at all.
   */
  readonly warnings: readonly ConfigIssue[]
  constructor(issues: readonly ConfigIssue[], options?: ErrorOptions & { warnings?: readonly ConfigIssue[] }) {
    super(ErrorCodes.CONFIG, cappedIssuesForLog(issues.map(formatIssue), 'more problems').join('\n'), options)
    this.issues = issues
    this.warnings = options?.warnings ?? []
  }
}
