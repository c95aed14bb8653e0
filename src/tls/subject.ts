/**
 * One way to print a certificate subject, everywhere: XFCC headers, metric labels and error messages.
 */
import type { X509Certificate } from 'node:crypto'

/**
 * RFC 2253 order (most specific first), e.g. `CN=alice,O=A`. Node prints one attribute per line in
 * certificate order, each value already escaped by OpenSSL as RFC 2253 asks (`\,` `\+` `\;` …, and
 * control characters as \XX, so no line break survives); the lines are only reordered and joined.
 */
export function subjectRfc2253(cert: X509Certificate): string {
  return cert.subject.split('\n').filter(Boolean).reverse().join(',')
}
