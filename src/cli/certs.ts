/**
 * `portcullis certs [--out DIR] [--force]`: writes the development PKI and says how to try it.
 */
import { join } from 'node:path'
import { writeDevPki } from '../tls/pki.js'

export async function runCerts(args: { out: string; force?: boolean }, log: (line: string) => void, err: (line: string) => void): Promise<number> {
  let result
  try {
    result = await writeDevPki(args.out, { force: args.force ?? false })
  } catch (error) {
    err(`portcullis certs: cannot write ${args.out}: ${(error as Error).message}`)
    return 1
  }
  if (result.unchanged) {
    log(`${args.out}: every file already exists, nothing written (--force replaces them)`)
  } else {
    for (const file of result.written) log(`wrote ${file}`)
  }
  const file = (name: string) => join(args.out, name)
  log(`with a route that serves ${file('server.crt')} and ${file('server.key')} for localhost and takes ${file('ca.crt')} as tls.clientCAs:`)
  log(`try: curl --cacert ${file('ca.crt')} --cert ${file('client.crt')} --key ${file('client.key')} https://localhost:8443/`)
  return 0
}
