/**
 * One way to print a certificate's names, everywhere: XFCC headers, metric labels, error messages and
 * log lines.
 */
import type { X509Certificate } from 'node:crypto'

/**
 * RFC 2253 order (most specific first), e.g. `CN=alice,O=A`. Node prints one RDN per line in
 * certificate order, each value already escaped by OpenSSL as RFC 2253 asks (`\,` `\+` `\;` …, and
 * control characters as \XX, so no line break survives); the lines are only reordered and joined, and
 * the attributes of a multi-valued RDN, which Node separates with ` + `, are joined with `+`. An empty
 * subject (RFC 5280 4.1.2.6 allows one beside a critical subjectAltName, as SPIFFE workload
 * certificates have) is undefined in Node, and printed as ''.
 */
export function subjectRfc2253(cert: X509Certificate): string {
  return nameRfc2253(cert.subject)
}

/** The issuer's name, as subjectRfc2253 prints the issuer's own subject. */
export function issuerRfc2253(cert: X509Certificate): string {
  return nameRfc2253(cert.issuer)
}

/**
 * A peer's certificate is its own text, unverified: where a log line names one, each name is cut at
 * this length, so that a scanner's certificate with a name of kilobytes makes no line of kilobytes.
 */
const MAX_NAME_LENGTH = 256

/** `text` (a name, a serial number) of a peer's certificate, cut at MAX_NAME_LENGTH for a log line. */
export function boundedForLog(text: string): string {
  return text.length > MAX_NAME_LENGTH ? `${text.slice(0, MAX_NAME_LENGTH)}…` : text
}

function nameRfc2253(printed: string | undefined): string {
  const rdns = (printed ?? '').split('\n').filter(Boolean)
  return rdns.reverse().map((rdn) => rdn.replaceAll(' + ', '+')).join(',')
}
