/**
 * The files a config names: each path made absolute against the folder of routes.yaml, and checked
 * that it can be reached, with an issue that says why not (missing, or a folder the gateway's user may
 * not enter) and never echoes a key or certificate pasted where its path belongs.
 */
import { statSync } from 'node:fs'
import { dirname, parse, relative, resolve as resolvePath } from 'node:path'
import { issueAt, type ConfigIssue, type IssueKind } from './issues.js'
import { isBase64OfKeyOrCertificate, isPemText, secretLike } from './shown-value.js'
import type { CrlFile, Position } from './types.js'

/**
 * A file's path as messages show it: relative to the working directory when shorter, but for `/`
 * (systemd's default), where `etc/portcullis/ca.crt` would read as relative to routes.yaml's folder.
 */
export function displayPath(file: string): string {
  const cwd = process.cwd()
  if (cwd === parse(cwd).root) return file
  const rel = relative(cwd, file)
  return rel.length < file.length && !rel.startsWith('..') ? rel : file
}

/**
 * A file that cannot be reached, as an error may show it: where the gateway looked (`absolute`, the
 * value resolved against the folder of routes.yaml), as every other message about a file shows it. A
 * key or certificate pasted where its path belongs (`value`) must not be echoed into the error, the log
 * and the POST /reload answer: PEM text, or base64 of PEM or DER (what `kubectl get secret -o yaml`
 * shows of tls.key), or another secret as shown-value.ts tells it.
 */
function shownPath(path: string, value: string, absolute: string): string {
  if (isPemText(value)) return 'this is PEM content; write the path of a file that holds it'
  if (isBase64OfKeyOrCertificate(value.trim())) {
    return "this is base64 content (a Kubernetes Secret's data?); decode it into a file (base64 -d) and write that file's path"
  }
  // Read by its segments: a path's / is base64's own, and a path in mixed case with digits is no token.
  const looks = value.split('/').map(secretLike).find((found) => found !== undefined)
  if (looks) return `this is ${looks}, not a path; write the path of a file that holds it`
  // `cert: |` with the path on the next line: a block scalar keeps the line break at its end.
  const trimmed = value.replace(/[\r\n]+$/, '')
  if (trimmed !== value && !/[\r\n]/.test(trimmed)) {
    const key = /(?:^|\.)([^.[\]]+)$/.exec(path)?.[1]
    const onItsLine = key ? ` (${key}: ${trimmed})` : ''
    return `${displayPath(absolute.replace(/[\r\n]+$/, ''))} with a line break at its end, which a | or > block keeps: write |- or >-, or the path on the key's line${onItsLine}`
  }
  return displayPath(absolute)
}

/** Why a system call could not reach a file, where the reason is not that it is missing. */
const UNREACHABLE: Record<string, string> = {
  EACCES: 'permission denied on a folder of its path, for the user the gateway runs as',
  EPERM: 'operation not permitted',
  ELOOP: 'a loop of symbolic links',
  // Node's code for a path with a NUL in it.
  ERR_INVALID_ARG_VALUE: 'no file name holds a NUL (\\u0000)',
}

/**
 * 'missing', another reason the file cannot be reached, or undefined when it can be. A certificate in a
 * folder the gateway's user may not enter (a Secret mounted 0700 for root) is not "not found": the
 * user would look for a typo. The reason is worded from the error code alone: Node's message quotes
 * the path, which may be a pasted key (see shownPath).
 */
function unreachable(absolute: string): string | undefined {
  try {
    return statSync(absolute, { throwIfNoEntry: false }) ? undefined : 'missing'
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? ''
    // A path component that is a file, or a name too long to be a file's (PEM or base64 pasted in).
    if (code === 'ENOTDIR' || code === 'ENAMETOOLONG') return 'missing'
    return UNREACHABLE[code] ?? code
  }
}

/**
 * Whether the folder of a missing file is missing too, as where a volume or Secret is not mounted. Not
 * said of a value shown as other than its path (pasted PEM), whose "folder" is no folder of anyone's.
 */
function missingKind(absolute: string, shown: string): IssueKind {
  if (shown !== displayPath(absolute)) return 'missing-file'
  try {
    return statSync(dirname(absolute), { throwIfNoEntry: false }) ? 'missing-file' : 'missing-folder'
  } catch {
    // Unreadable for another reason: not known to be missing.
    return 'missing-file'
  }
}

/** The absolute path of the file named by `value`, the value of the key at `path`. */
export type FilePathOf = (path: string, value: string) => string

/**
 * Resolves the value of the key at `path` to an absolute path; a file it cannot reach adds an issue to
 * `issues`, about that file (so that a refused reload watches it).
 */
export function filePathResolver(file: string, positions: ReadonlyMap<string, Position>, issues: ConfigIssue[]): FilePathOf {
  const baseDir = dirname(resolvePath(file))
  return (path, value) => {
    const absolute = resolvePath(baseDir, value)
    const problem = unreachable(absolute)
    if (problem) {
      const shown = shownPath(path, value, absolute)
      const missing = problem === 'missing'
      const message = missing ? `file not found: ${shown}` : `cannot read ${shown}: ${problem}`
      issues.push({ ...issueAt(file, positions, path, message), aboutFile: absolute, ...(missing && { kind: missingKind(absolute, shown) }) })
    }
    return absolute
  }
}

/**
 * A `crl` key, one file or a list, as absolute paths, each with the key path that names it: the list
 * item where there is one. An item the schema refused (checkable.ts) is a hole, which the items after
 * it keep their indexes around.
 */
export function crlFiles(raw: string | readonly (string | undefined)[] | undefined, at: string, filePath: FilePathOf): CrlFile[] {
  if (raw === undefined) return []
  const named = typeof raw === 'string' ? [{ file: raw, path: at }] : raw.map((file, i) => ({ file, path: `${at}[${i}]` }))
  return named.flatMap(({ file, path }) => (file === undefined ? [] : [{ file: filePath(path, file), path }]))
}
