/**
 * Host names as routing keys. The route, and with it the TLS policy a request must have arrived under,
 * is chosen from `normalizeHost`'s result, so anything it lets through must have one meaning only:
 * whatever is odd (userinfo, a path, a zone id, a bare IPv6, an empty label) is refused rather than
 * guessed at, and the caller answers 400.
 */
import { isIPv4, isIPv6 } from 'node:net'

const MAX_NAME = 253 // RFC 1035 2.3.4, without the trailing dot
const MAX_LABEL = 63
const MAX_PORT = 65535

/**
 * The lower-case host of a Host header (or SNI name), without port, brackets or trailing dot:
 * `Example.COM:8443` → `example.com`, `[::1]:8443` → `::1`; undefined when it is not a valid host.
 */
export function normalizeHost(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.length === 0) return undefined
  if (raw.charCodeAt(0) === 0x5b /* [ */) return normalizeIpLiteral(raw)

  let name = raw
  const colon = raw.indexOf(':')
  if (colon !== -1) {
    // isPort also refuses a second colon: an unbracketed IPv6 address is not a Host (RFC 3986 3.2.2).
    if (!isPort(raw, colon + 1)) return undefined
    name = raw.slice(0, colon)
  }
  // `a.test.` is the same DNS name as `a.test`; keeping the dot let Host bypass Traefik's SNI check
  // (CVE-2022-23632). Only one dot: `a.test..` has an empty label.
  if (name.endsWith('.')) name = name.slice(0, -1)
  // Checked before lower-casing, on ASCII only: toLowerCase maps the Kelvin sign (U+212A) to `k`.
  return isHostName(name) ? name.toLowerCase() : undefined
}

/**
 * An SNI name as a routing key: normalizeHost's rules, but a port (or a bracketed IPv6 literal) is
 * refused, since SNI carries a bare DNS name only (RFC 6066 3). Both the certificate and the TLS policy
 * of a connection are chosen from this one result, so they can never disagree about a name.
 */
export function normalizeServerName(raw: string | undefined): string | undefined {
  return raw?.includes(':') ? undefined : normalizeHost(raw)
}

/** `*.example.com`: a wildcard for one label, the only form TLS certificates allow (RFC 6125 6.4.3). */
export function isWildcardHost(pattern: string): boolean {
  return pattern.startsWith('*.') && isHostName(pattern.slice(2))
}

/**
 * What a route's `host` may be: an IPv4 address in dotted-quad form (a ClientHello without SNI is routed
 * by the address it reached), or a DNS name or one-label wildcard of one, exactly as normalizeHost returns
 * it (lower case, no port, no trailing dot) so that some Host header can reach it. normalizeHost takes
 * what clients send; a route is held to DNS: no label starts or ends with a hyphen (RFC 1123 2.1), and
 * the last is not all digits (RFC 3696 2), so `01.2.3.4` and `1.1.1.1.1` are neither name nor address.
 * Underscores stay allowed, as normalizeHost allows them: Compose service names have them.
 */
export function isRouteHost(host: string): boolean {
  // isIPv4 takes no leading zeros (`01.2.3.4`, which WHATWG URL parsers read as octal).
  if (isIPv4(host)) return true
  const name = isWildcardHost(host) ? host.slice(2) : host
  return normalizeHost(name) === name && dnsNameProblem(name) === undefined
}

export type DnsNameProblem = 'numeric-last-label' | 'edge-hyphen'

/**
 * What keeps a name that normalizeHost takes from being a DNS name a route may have, for isRouteHost
 * and for the hint of its refusal: a last label of digits alone (RFC 3696 2), or a label that starts or
 * ends with a hyphen (RFC 1123 2.1).
 */
export function dnsNameProblem(name: string): DnsNameProblem | undefined {
  const labels = name.split('.')
  if (/^\d+$/.test(labels.at(-1)!)) return 'numeric-last-label'
  if (labels.some((label) => label.startsWith('-') || label.endsWith('-'))) return 'edge-hyphen'
  return undefined
}

/**
 * The entry for `host` in a map keyed by exact hosts and `*.suffix` wildcards: the exact host first,
 * else the wildcard one label up (exactly one label, as for certificate wildcards, Caddy and Traefik).
 * An exact entry hides the wildcard, as with nginx server names.
 */
export function lookupHost<V>(byHost: ReadonlyMap<string, V>, host: string): V | undefined {
  const exact = byHost.get(host)
  if (exact !== undefined) return exact
  const firstDot = host.indexOf('.')
  return firstDot > 0 ? byHost.get(`*${host.slice(firstDot)}`) : undefined
}

/** `[v6]` or `[v6]:port` → the lower-case address. No zone id (`%eth0`) and no IPvFuture. */
function normalizeIpLiteral(raw: string): string | undefined {
  const close = raw.indexOf(']')
  if (close === -1) return undefined
  if (close + 1 < raw.length && (raw.charCodeAt(close + 1) !== 0x3a /* : */ || !isPort(raw, close + 2))) return undefined
  const address = raw.slice(1, close)
  for (let i = 0; i < address.length; i++) {
    if (!isHexDigit(address.charCodeAt(i)) && address[i] !== ':' && address[i] !== '.') return undefined
  }
  return isIPv6(address) ? address.toLowerCase() : undefined
}

/**
 * Up to 5 ASCII digits from `start` to the end, at most 65535. None is a port too (RFC 3986 3.2.3,
 * RFC 9110 7.2: `a.test:` is `a.test`), as nginx and Go read it.
 */
function isPort(text: string, start: number): boolean {
  const length = text.length - start
  if (length > 5) return false
  let value = 0
  for (let i = start; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 0x30
    if (digit < 0 || digit > 9) return false
    value = value * 10 + digit
  }
  return value <= MAX_PORT
}

/** Dot-separated labels of [A-Za-z0-9_-], none empty or over 63, at most 253 in all. */
function isHostName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME) return false
  let label = 0
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c === 0x2e /* . */) {
      if (label === 0) return false
      label = 0
    } else if (isNameChar(c)) {
      if (++label > MAX_LABEL) return false
    } else {
      return false
    }
  }
  return label > 0
}

function isNameChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d /* - */ || c === 0x5f /* _ */
  )
}

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
}

/**
 * The address a client connected to, as a route host: a ClientHello without SNI (clients send none for
 * an IP address) is routed by it. `::ffff:10.0.0.1` (IPv4 on a dual-stack socket) is `10.0.0.1`.
 */
export function addressHost(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address
}

/** A host name or IP address as a URL or a Host header writes it: an IPv6 address in brackets. */
export function hostInUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}
