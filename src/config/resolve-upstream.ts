/**
 * A route's `upstream`, resolved: its url parsed, the files it names made absolute, its serverName
 * checked, its timeouts in milliseconds, and every rule of its keys checked (resolve.ts resolves the
 * rest of the route).
 */
import { isIP } from 'node:net'
import { normalizeServerName } from '../routing/host.js'
import type { PartialRoute } from './checkable.js'
import { checkDuration, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT, parseDuration } from './duration.js'
import { crlFiles, type FilePathOf } from './file-paths.js'
import type { Report } from './issues.js'
import { shownValue, shownWhole } from './shown-value.js'
import type { UpstreamConfig } from './types.js'

/** `passthrough` is undefined where it is not known (see resolveRoute), as `whole` says which rules run. */
export function resolveUpstream(
  raw: NonNullable<PartialRoute['upstream']>,
  at: string,
  passthrough: boolean | undefined,
  filePath: FilePathOf,
  report: Report,
  whole: boolean,
): UpstreamConfig {
  const url = raw.url === undefined ? undefined : upstreamUrl(raw.url, `${at}.url`, passthrough, report)
  const isHttps = url?.protocol === 'https:'
  for (const key of ['ca', 'crl', 'cert', 'key', 'serverName', 'insecureSkipVerify'] as const) {
    if (raw[key] !== undefined && url && !isHttps) report(`${at}.${key}`, 'only applies to https:// upstreams')
  }
  // What a passthrough route would ignore: it relays bytes, with no path to add and no response to time.
  if (url?.protocol === 'tcp:') {
    if (url.pathname !== '' && url.pathname !== '/') report(`${at}.url`, 'tcp:// relays the raw TLS stream, which has no path: write tcp://host:port')
    if (raw.timeouts?.response !== undefined) report(`${at}.timeouts.response`, 'only applies to http:// and https:// upstreams: a passthrough connection has no response to time')
    if (raw.timeouts?.idle !== undefined) report(`${at}.timeouts.idle`, 'only applies to http:// and https:// upstreams: a passthrough connection is the client\'s, never kept idle')
  }
  // undici reads a timeout of 0 as none at all.
  for (const key of ['connect', 'response', 'idle'] as const) checkDuration(`${at}.timeouts.${key}`, raw.timeouts?.[key], report, { positive: true })
  if (whole && raw.crl !== undefined && !raw.ca) {
    report(`${at}.crl`, "needs upstream.ca: OpenSSL checks the CRL of every CA of the upstream's chain, its root's too, so they must be CAs whose CRLs you hold, not the built-in roots")
  }
  if (whole && raw.cert && !raw.key) report(`${at}.key`, 'is required with upstream.cert')
  if (whole && raw.key && !raw.cert) report(`${at}.cert`, 'is required with upstream.key')

  const hostname = url ? url.hostname.replace(/^\[(.*)\]$/, '$1') : ''
  const defaultPort = url?.protocol === 'https:' ? 443 : 80
  return {
    url: raw.url ?? '',
    protocol: (url?.protocol ?? 'https:') as UpstreamConfig['protocol'],
    hostname,
    port: url?.port ? Number(url.port) : defaultPort,
    pathPrefix: url && url.pathname !== '/' ? url.pathname.replace(/\/$/, '') : '',
    ...(raw.ca && { ca: filePath(`${at}.ca`, raw.ca) }),
    crl: crlFiles(raw.crl, `${at}.crl`, filePath),
    ...(raw.cert && { cert: filePath(`${at}.cert`, raw.cert) }),
    ...(raw.key && { key: filePath(`${at}.key`, raw.key) }),
    serverName: resolveServerName(`${at}.serverName`, raw.serverName, url && hostname, report),
    insecureSkipVerify: raw.insecureSkipVerify ?? false,
    timeouts: {
      connect: parseDuration(raw.timeouts?.connect ?? DEFAULT_CONNECT_TIMEOUT)!,
      response: parseDuration(raw.timeouts?.response ?? DEFAULT_RESPONSE_TIMEOUT)!,
      idle: parseDuration(raw.timeouts?.idle ?? DEFAULT_IDLE_TIMEOUT)!,
    },
  }
}

/**
 * The url parsed, or undefined where it is no URL or not of a form a route can forward to. Where
 * `passthrough` is not known, any scheme a route takes is taken.
 */
function upstreamUrl(text: string, at: string, passthrough: boolean | undefined, report: Report): URL | undefined {
  // host:port parses, with `host:` for its scheme. A host alone (`orders`, as a Kubernetes Service is
  // named) does not, and is said as lacking its scheme too, but on a passthrough route, whose tcp://
  // needs a port as well; not a number alone, which is no host, nor a scheme without its colon
  // (`http//orders`).
  const bare = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(:\d+)?(\/(?!\/)\S*)?$/i.exec(text)
  if (bare && (bare[2] !== undefined || (!passthrough && (/[a-z]/i.test(bare[1]!) || isIP(bare[1]!) !== 0)))) {
    const schemes = passthrough ? ['tcp://'] : ['https://', 'http://']
    const write = shownWhole(text) ? schemes.map((scheme) => scheme + text).join(' or ') : `${schemes.join(' or ')} before it`
    report(at, `${shownValue(text)} has no scheme: write ${write}`)
    return undefined
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    const port = /^[a-z]+:\/\/[^/]*:(\d+)(\/|$)/i.exec(text)?.[1]
    const shown = shownValue(text)
    report(at, port !== undefined && Number(port) > 65535 ? `${shown}: port ${port} is over 65535` : `${shown} is not a URL (e.g. https://orders.internal:8443)`)
    return undefined
  }
  const allowed = passthrough ? ['tcp:'] : passthrough === false ? ['http:', 'https:'] : ['http:', 'https:', 'tcp:']
  if (!allowed.includes(url.protocol)) {
    report(at, passthrough ? 'a passthrough route needs tcp://host:port' : `must be ${allowed.map((scheme) => `${scheme}//`).join(' or ')}${schemeHint(url.protocol)}`)
    return undefined
  }
  if (url.username || url.password || url.search || url.hash || !url.hostname) {
    report(at, 'must be scheme://host[:port][/path] with no user, query or fragment')
    return undefined
  }
  if (url.protocol === 'tcp:' && !url.port) report(at, 'tcp:// needs a port')
  // Every connection to it fails, so every request would get 502; nginx refuses it too.
  else if (url.port === '0') report(at, "port 0 is no server's port: write the port the upstream listens on")
  return url
}

/** What a route that is not passthrough may have meant by a url of `scheme`. */
function schemeHint(scheme: string): string {
  if (scheme === 'tcp:') return " (tcp:// forwards the raw TLS stream: that is a route with 'tls: passthrough')"
  if (scheme === 'wss:' || scheme === 'ws:') return ` (WebSockets go through an ${scheme === 'wss:' ? 'https' : 'http'}:// upstream)`
  return ''
}

/**
 * SNI must be a DNS name (RFC 6066 3): an IP-literal upstream gets none and is verified against the IP
 * SAN. A serverName is checked, and kept as it is compared: lower case, without a trailing dot.
 * `hostname` is the url's, undefined where the url is not known (refused, or no URL): an IP address
 * is then not compared with it.
 */
function resolveServerName(path: string, raw: string | undefined, hostname: string | undefined, report: Report): string {
  if (raw === undefined) return hostname === undefined || isIP(hostname) ? '' : hostname
  const address = raw.replace(/^\[(.*)\]$/, '$1')
  if (isIP(address)) {
    if (hostname !== undefined && address !== hostname) report(path, 'an IP address is never sent as SNI (RFC 6066 3); leave serverName out to verify the IP of the url')
    return ''
  }
  const name = normalizeServerName(raw)
  if (name === undefined) {
    report(path, `${shownValue(raw)} is not a DNS name (no port, wildcard, spaces or brackets)`)
    return raw
  }
  return name
}
