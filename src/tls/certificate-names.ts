/**
 * The names a certificate carries (its URI and DNS subjectAltNames, its subject's common names), and
 * whether it carries one of a list: the names a route takes its clients by (tls.allowedClients) and
 * an upstream is verified by (upstream.subjectAltNames). A listed name that ends in * stands for every
 * name it begins (spiffe://example.org/ns/prod/*); DNS names are compared in lower case.
 */
import type { X509Certificate } from 'node:crypto'
import type { CertificateNames } from '../config/types.js'

/** The certificate's subjectAltName entries of one kind, in order, as Node prints them (quoted ones unquoted). */
export function subjectAltNames(cert: X509Certificate, kind: 'URI' | 'DNS'): string[] {
  const names: string[] = []
  for (const entry of (cert.subjectAltName ?? '').split(/, (?=[A-Za-z ]+:)/)) {
    if (!entry.startsWith(`${kind}:`)) continue
    const value = entry.slice(kind.length + 1)
    names.push(value.startsWith('"') ? (JSON.parse(value) as string) : value)
  }
  return names
}

/** Whether `certificate` carries a name of `listed`, of any kind. */
export function carriesName(listed: CertificateNames, certificate: X509Certificate): boolean {
  const commonNames = () => (certificate.subject ?? '').split('\n').flatMap((line) => (line.startsWith('CN=') ? [line.slice(3)] : []))
  return (
    matchesAny(listed.uri, () => subjectAltNames(certificate, 'URI')) ||
    matchesAny(listed.dns, () => subjectAltNames(certificate, 'DNS').map((name) => name.toLowerCase())) ||
    matchesAny(listed.commonName, commonNames)
  )
}

/** Whether one of `names` is a pattern of `patterns`: the same, or begun by one that ends in *. */
function matchesAny(patterns: readonly string[] | undefined, names: () => readonly string[]): boolean {
  if (!patterns?.length) return false
  return names().some((name) => patterns.some((pattern) => (pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern)))
}
