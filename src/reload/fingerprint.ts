/**
 * The files a config depends on, and a fingerprint of their bytes: a watcher event reloads only when
 * the fingerprint moved, so noise in a shared folder (/tmp, an editor's swap files) costs one hash.
 */
import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import { readRegularFile } from '../config/regular-file.js'
import type { Config } from '../config/types.js'

/** routes.yaml and every certificate, key, CA bundle and CRL it names, as absolute paths. */
export function referencedFiles(config: Config): string[] {
  const files = new Set<string>([resolve(config.file)])
  for (const { tls, upstream } of config.routes) {
    if (tls && tls !== 'passthrough') [tls.cert, tls.key, tls.clientCAs, ...tls.crl].forEach((f) => f && files.add(f))
    for (const file of [upstream.ca, ...upstream.crl, upstream.cert, upstream.key]) if (file) files.add(file)
  }
  return [...files]
}

export function sameFiles(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((file, i) => file === b[i])
}

export function fingerprint(files: readonly string[]): string {
  const hash = createHash('sha256')
  for (const file of files) {
    hash.update(file).update('\0')
    try {
      hash.update(readRegularFile(file))
    } catch (error) {
      hash.update(`unreadable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
    hash.update('\0')
  }
  return hash.digest('hex')
}
