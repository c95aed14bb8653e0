/**
 * The files of the development PKI that `portcullis certs` and `npm run demo` write (pki.ts), apart from
 * its generator, which loads @peculiar/x509: cli/problems.ts, which every start loads, names them too.
 */
import { join } from 'node:path'

export const DEV_PKI_NAMES = ['ca', 'server', 'client', 'gateway'] as const

/** The files of the development PKI in `dir`, each certificate before its key. */
export function devPkiFiles(dir: string): string[] {
  return DEV_PKI_NAMES.flatMap((name) => [join(dir, `${name}.crt`), join(dir, `${name}.key`)])
}
