/**
 * One way to print a certificate subject, everywhere: XFCC headers, metric labels and error messages.
 */
import type { X509Certificate } from 'node:crypto'

/** RFC 4514 escaping of one attribute value; control characters as \XX hex so no CR LF survives. */
function escapeDnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]|[ ]$/g, (c) => `\\${c}`)
    .replace(/[\x00-\x1f\x7f]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`)
}

/**
 * RFC 2253 order (most specific first), e.g. `CN=alice,O=A`. Node prints one attribute per line in
 * certificate order, each value already escaped by OpenSSL as RFC 2253 asks (control characters as
 * \XX, so no line break survives); a value Node prints as a JSON string is escaped here.
 */
export function subjectRfc2253(cert: X509Certificate): string {
  return cert.subject
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const eq = line.indexOf('=')
      const raw = line.slice(eq + 1)
      return `${line.slice(0, eq)}=${raw.startsWith('"') ? escapeDnValue(JSON.parse(raw) as string) : raw}`
    })
    .reverse()
    .join(',')
}
