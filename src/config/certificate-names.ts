/** The names of certificates a config lists (tls.allowedClients, upstream.subjectAltNames), checked and resolved. */
import type { PartialRoute } from './checkable.js'
import type { Report } from './issues.js'
import { shownValue } from './shown-value.js'
import type { AllowedClients, CertificateNames } from './types.js'

/** A SHA-256 fingerprint as OpenSSL prints it (AB:CD:…) or as hex alone. */
const SHA256_FINGERPRINT = /^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$/

/** Of a list the schema may have refused in part, the entries that are text. */
export function writtenNames(list: readonly (string | undefined)[] | undefined): string[] {
  return (list ?? []).filter((name): name is string => name !== undefined)
}

/** The URI and DNS names of a mapping of them, DNS names in lower case (they are compared so). */
export function certificateNames(raw: { readonly uri?: readonly (string | undefined)[]; readonly dns?: readonly (string | undefined)[] }): CertificateNames {
  return { uri: writtenNames(raw.uri), dns: writtenNames(raw.dns).map((name) => name.toLowerCase()) }
}

/** tls.allowedClients (at `at`) resolved, a fingerprint that is none reported; fingerprints in lower-case hex without colons. */
export function resolveAllowedClients(
  raw: NonNullable<Exclude<PartialRoute['tls'], 'passthrough' | undefined>['allowedClients']>,
  at: string,
  report: Report,
): AllowedClients {
  raw.fingerprint?.forEach((fingerprint, i) => {
    if (fingerprint !== undefined && !SHA256_FINGERPRINT.test(fingerprint)) {
      report(`${at}.fingerprint[${i}]`, `${shownValue(fingerprint)} is no SHA-256 fingerprint: 64 hex digits, with or without colons (openssl x509 -noout -fingerprint -sha256)`)
    }
  })
  return {
    ...certificateNames(raw),
    commonName: writtenNames(raw.commonName),
    fingerprint: writtenNames(raw.fingerprint).map((fingerprint) => fingerprint.replaceAll(':', '').toLowerCase()),
  }
}
