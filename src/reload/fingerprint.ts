/**
 * The files a config depends on, and a digest of each one's bytes: a watcher event reloads only when
 * one of them moved, so noise in a shared folder (/tmp, an editor's swap files) costs a hash of each.
 */
import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import type { ConfigIssue } from '../config/issues.js'
import { readRegularFile } from '../config/regular-file.js'
import type { Config, CrlFile } from '../config/types.js'

/** routes.yaml and every certificate, key, CA bundle and CRL it names, as absolute paths. */
export function referencedFiles(config: Config): string[] {
  const files = new Set<string>([resolve(config.file)])
  const add = (...named: (string | undefined)[]) => {
    for (const file of named) if (file) files.add(file)
  }
  const crlFiles = (crl: readonly CrlFile[]) => crl.map(({ file }) => file)
  for (const { tls, upstream } of config.routes) {
    if (tls && tls !== 'passthrough') add(tls.cert, tls.key, tls.clientCAs, ...crlFiles(tls.crl))
    add(upstream.ca, ...crlFiles(upstream.crl), upstream.cert, upstream.key)
  }
  return [...files]
}

/** Each file's SHA-256, or why it could not be read, by absolute path. */
export type FileDigests = ReadonlyMap<string, string | undefined>

const UNREADABLE = 'unreadable: '

function digestOf(file: string): string {
  try {
    return createHash('sha256').update(readRegularFile(file)).digest('hex')
  } catch (error) {
    return UNREADABLE + ((error as NodeJS.ErrnoException).code ?? (error as Error).message)
  }
}

/** The digests of `files`: those in `known` as they are there, the others read now. */
export function digestsOf(files: readonly string[], known: FileDigests = new Map()): Map<string, string | undefined> {
  return new Map(files.map((file) => [file, known.has(file) ? known.get(file) : digestOf(file)]))
}

/**
 * The files to watch after a refused load, with their digests. `beforeLoad`: those of the files
 * watched then, read before the load; `attempted`: those of a config the rules passed, read before
 * its snapshot was built (which refused it). The files of the config `serving` and of the attempt keep
 * those digests. A file that only the refused config names, in an issue, is watched too, so that its
 * arrival or repair reloads: missing (a Secret that lands after its ConfigMap), out of reach (a folder
 * the gateway's user may not enter, a loop of symlinks), no file (a folder), or read and found wrong.
 * One watched already keeps its digest of `beforeLoad`: with none, as if changed, every watcher event
 * of its folders would run the refused reload again. One new to the watch gets why it cannot be read
 * now, so that an event that leaves it so reloads nothing, or no digest where it can be read: it may
 * have come, or changed, unseen, since the load read it, and the next event reloads.
 */
export function digestsAfterRefusal(
  issues: readonly ConfigIssue[],
  { serving, beforeLoad, attempted }: { readonly serving: Config; readonly beforeLoad: FileDigests; readonly attempted: FileDigests | undefined },
): FileDigests {
  const named = issues.flatMap(({ aboutFile: file }) => (file ? [[file, beforeLoad.has(file) ? beforeLoad.get(file) : unreadFileDigest(file)] as const] : []))
  return new Map([...named, ...digestsOf(referencedFiles(serving), beforeLoad), ...(attempted ?? [])])
}

function unreadFileDigest(file: string): string | undefined {
  const digest = digestOf(file)
  return digest.startsWith(UNREADABLE) ? digest : undefined
}

/** Whether each file of `then` has the same digest in `now`; one with none in `then` has changed. */
export function sameDigests(then: FileDigests, now: FileDigests): boolean {
  for (const [file, digest] of then) if (digest === undefined || now.get(file) !== digest) return false
  return true
}

/** The files of `now` whose digest `then` does not have: what a reload reads anew. */
export function changedFiles(then: FileDigests, now: FileDigests): string[] {
  return [...now].filter(([file, digest]) => digest === undefined || then.get(file) !== digest).map(([file]) => file)
}
