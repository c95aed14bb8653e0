/**
 * Reads a file the config names (routes.yaml, a certificate, a key, a CA bundle, a CRL) without ever
 * hanging the gateway on it: a FIFO would block the read until a writer comes, and a device such as
 * /dev/zero never ends, so anything that is not a regular file is refused before it is even opened
 * (opening one can have effects of its own: a FIFO's blocked writer is let go, a tty becomes ours).
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, statSync, type Stats } from 'node:fs'

/** Far above any certificate bundle, or a routes.yaml of 20,000 routes (about 3 MB). */
const MAX_BYTES = 64 * 1024 * 1024

export function readRegularFile(file: string): Buffer {
  checkRegular(statSync(file))
  // O_NONBLOCK and O_NOCTTY in case the path was swapped for something else since: then the fstat
  // below refuses it, and the open has neither waited for a writer nor taken a terminal.
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
  try {
    checkRegular(fstatSync(fd))
    return readFileSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * Why `file` could not be read (`error`, from readRegularFile), as a message says it. Permission denied
 * says who the gateway runs as and whose the file is: a key mounted root-owned 0600 in a container run
 * as uid 1000 is the usual cause, and EACCES alone leaves the user to find that out.
 */
export function readFailure(file: string, error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException
  if (code !== 'EACCES') return message
  const facts = process.getuid && process.getgid ? [`portcullis runs as uid ${process.getuid()}, gid ${process.getgid()}`] : []
  let where = ''
  try {
    const { uid, gid, mode } = statSync(file)
    facts.push(`the file is owned by ${uid}:${gid}, mode ${(mode & 0o7777).toString(8).padStart(3, '0')}`)
  } catch (statError) {
    // stat needs no permission on the file itself, only on the folders above it.
    if ((statError as NodeJS.ErrnoException).code === 'EACCES') where = ' on a folder of its path'
  }
  return `permission denied${where}${facts.length > 0 ? ` (${facts.join('; ')})` : ''}`
}

function checkRegular(stat: Stats): void {
  if (stat.isDirectory()) throw new Error('is a directory, not a file')
  if (!stat.isFile()) throw new Error('not a regular file')
  if (stat.size > MAX_BYTES) throw new Error(`larger than ${MAX_BYTES / 1024 / 1024} MiB`)
}
