/**
 * Reads a file the config names (routes.yaml, a certificate, a key, a CA bundle, a CRL) without ever
 * hanging the gateway on it: a FIFO would block the read until a writer comes, and a device such as
 * /dev/zero never ends, so anything that is not a regular file is refused before a byte is read.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs'

/** Far above any certificate bundle, or a routes.yaml of 20,000 routes (about 3 MB). */
const MAX_BYTES = 64 * 1024 * 1024

export function readRegularFile(file: string): Buffer {
  // Without O_NONBLOCK, opening a FIFO waits for a writer; on a regular file it changes nothing.
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) throw new Error('not a regular file')
    if (stat.size > MAX_BYTES) throw new Error(`larger than ${MAX_BYTES / 1024 / 1024} MiB`)
    return readFileSync(fd)
  } finally {
    closeSync(fd)
  }
}
