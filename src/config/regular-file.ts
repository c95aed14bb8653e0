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

function checkRegular(stat: Stats): void {
  if (!stat.isFile()) throw new Error('not a regular file')
  if (stat.size > MAX_BYTES) throw new Error(`larger than ${MAX_BYTES / 1024 / 1024} MiB`)
}
