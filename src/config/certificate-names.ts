/** The names of certificates a config lists (tls.allowedClients, upstream.subjectAltNames), resolved. */
import type { CertificateNames } from './types.js'

/** Of a list the schema may have refused in part, the entries that are text. */
export function writtenNames(list: readonly (string | undefined)[] | undefined): string[] {
  return (list ?? []).filter((name): name is string => name !== undefined)
}

/** The URI and DNS names of a mapping of them, DNS names in lower case (they are compared so). */
export function certificateNames(raw: { readonly uri?: readonly (string | undefined)[]; readonly dns?: readonly (string | undefined)[] }): CertificateNames {
  return { uri: writtenNames(raw.uri), dns: writtenNames(raw.dns).map((name) => name.toLowerCase()) }
}
