/**
 * Cross-field rules and resolution of a config as far as the schema passed it (all of it, or with the
 * values it refused taken out: checkable.ts): defaults, durations to milliseconds, file paths made
 * absolute, upstream URLs parsed. Every rule that fails adds an issue; none stops the others.
 */
import { availableParallelism } from 'node:os'
import { isIP } from 'node:net'
import { domainToASCII } from 'node:url'
import { dnsNameProblem, isRouteHost, type DnsNameProblem } from '../routing/host.js'
import { routeKey } from '../routing/table.js'
import { checkDuration, DEFAULT_OCSP_TIMEOUT, DEFAULT_RATE_LIMIT_PERIOD, DEFAULT_SHUTDOWN_GRACE, parseDuration } from './duration.js'
import { crlFiles, filePathResolver, type FilePathOf } from './file-paths.js'
import { checkReadHeader, resolveRouteHeaders, type PlaceholderScope } from './header-changes.js'
import { issueAt, type ConfigIssue, type Report } from './issues.js'
import { parseIpRange, type IpRange } from './ip-ranges.js'
import { isWildcardHost, parseListenAddress } from './listen-address.js'
import { DEFAULT_CONNECTION_LIMIT, DEFAULT_REQUEST_LIMIT } from './limits.js'
import { checkSize, parseSize } from './size.js'
import { normalizePath, routingPath } from '../routing/path.js'
import type { CheckableConfig, PartialRoute } from './checkable.js'
import { resolveAllowedClients } from './certificate-names.js'
import { resolveForwardAuth } from './forward-auth.js'
import { resolveUpstream } from './resolve-upstream.js'
import { secretLike, shownValue } from './shown-value.js'
import type { RawConfig, Workers } from './schema.js'
import type { Config, ListenAddress, ListenerName, Position, RateLimit, RouteConfig, RouteTlsConfig } from './types.js'

/**
 * The config as far as it resolves, and every issue its rules find. A config with issues is good for
 * nothing but reading its files for more issues (`portcullis check` lists them all in one run).
 */
export function resolveConfig(
  raw: CheckableConfig,
  file: string,
  positions: ReadonlyMap<string, Position>,
): { config: Config; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = []
  const report = (path: string, message: string) => issues.push(issueAt(file, positions, path, message))
  const filePath = filePathResolver(file, positions, issues)

  checkDuration('shutdown.grace', raw.shutdown?.grace, report)
  const listen = resolveListen(raw.listen ?? {}, report)
  // Which listeners there are is not known where the schema refused one: the rules that ask are left out.
  const listenKnown = !raw.listenRefused
  if (listenKnown && !raw.listen?.https && !raw.listen?.http) {
    report('listen', 'needs at least one public listener: https or http')
  }
  if (listenKnown && raw.httpsRedirect !== undefined && !(raw.listen?.https && raw.listen.http)) {
    report('httpsRedirect', 'needs listen.http, whose requests it redirects, and listen.https, where they go')
  }
  const mergeSlashes = raw.mergeSlashes ?? true
  // A route left out keeps its place, so every other route keeps its index and key path.
  const whole = (index: number) => !raw.partialRoutes?.has(index)
  const routes = raw.routes.flatMap((route, index) => (route ? [resolveRoute(route, index, filePath, report, mergeSlashes, whole(index))] : []))
  // Not a route the schema refused in part: a key it refused (a misspelt path or tls) may be what tells it apart.
  checkRouteSet(routes.filter((route) => whole(route.index)), raw, listenKnown ? listen : undefined, report)

  const config: Config = {
    file,
    listen,
    workers: workerCount(raw.workers),
    shutdown: { grace: parseDuration(raw.shutdown?.grace ?? DEFAULT_SHUTDOWN_GRACE)! },
    limits: {
      connections: raw.limits?.connections ?? DEFAULT_CONNECTION_LIMIT,
      requests: raw.limits?.requests ?? DEFAULT_REQUEST_LIMIT,
    },
    mergeSlashes,
    accessLog: raw.accessLog ?? false,
    requestId: raw.requestId ?? false,
    proxyProtocol: raw.proxyProtocol && { trustedIPs: resolveIpRanges(raw.proxyProtocol.trustedIPs, 'proxyProtocol.trustedIPs', report) },
    forwardedFor: raw.forwardedFor && { trustedIPs: resolveIpRanges(raw.forwardedFor.trustedIPs, 'forwardedFor.trustedIPs', report) },
    httpsRedirect: raw.httpsRedirect,
    routes,
    positions,
  }
  return { config, issues }
}

/** A `workers` setting (or --workers) as a number of processes: `auto` is one per CPU, the default one. */
export function workerCount(workers: Workers | undefined): number {
  return workers === 'auto' ? availableParallelism() : (workers ?? 1)
}

/**
 * Two listeners on one port collide when their hosts are the same, either is a wildcard, or one is
 * localhost, which the bind resolves to a loopback address (127.0.0.1 or ::1, as /etc/hosts orders them).
 */
function overlap(a: string, b: string): boolean {
  const addresses = (host: string) => (host.toLowerCase() === 'localhost' ? ['127.0.0.1', '::1'] : [host.toLowerCase()])
  return isWildcardHost(a) || isWildcardHost(b) || addresses(a).some((address) => addresses(b).includes(address))
}

function resolveListen(raw: RawConfig['listen'], report: Report): Config['listen'] {
  const listen: Partial<Record<ListenerName, ListenAddress>> = {}
  for (const [key, text] of Object.entries(raw) as [ListenerName, string | undefined][]) {
    if (text === undefined) continue
    // A secret is no host name to look up, and `check` would quote it back from getaddrinfo's error.
    const address = secretLike(text) ? undefined : parseListenAddress(text)
    if (address) listen[key] = address
    else report(`listen.${key}`, listenAddressProblem(text))
  }
  const admin = listen.admin
  for (const key of ['https', 'http'] as const) {
    const address = listen[key]
    if (admin && address && address.port !== 0 && address.port === admin.port) {
      report('listen.admin', `must not share a port with listen.${key}: the admin endpoints are never public`)
    }
  }
  const { https, http } = listen
  if (https && http && https.port !== 0 && https.port === http.port && overlap(https.host, http.host)) {
    report('listen.http', 'must not share an address and port with listen.https')
  }
  return listen
}

function resolveIpRanges(texts: readonly (string | undefined)[], at: string, report: Report): IpRange[] {
  return texts.flatMap((text, index) => {
    if (text === undefined) return []
    const range = parseIpRange(text)
    if (!range) report(`${at}[${index}]`, `${shownValue(text)} is not an IP address or a CIDR range (e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)`)
    return range ? [range] : []
  })
}

/** `requests` is raw.requests, there: a rateLimit without it (the schema refused it) is none. */
function rateLimit(requests: number, raw: NonNullable<PartialRoute['rateLimit']>): RateLimit {
  const by = raw.by ?? 'address'
  return {
    requests,
    per: parseDuration(raw.per ?? DEFAULT_RATE_LIMIT_PERIOD)!,
    burst: raw.burst ?? requests,
    by,
    ...(by === 'header' && raw.header !== undefined && { header: raw.header.toLowerCase() }),
  }
}

/** Why `text` is not host:port: the slips of Go's and Caddy's `:8443`, and a port out of range, in words. */
function listenAddressProblem(text: string): string {
  const port = /:(\d+)$/.exec(text)?.[1]
  const shown = shownValue(text)
  if (port !== undefined && Number(port) > 65535) return `${shown}: port ${port} is over 65535`
  if (/^:\d+$/.test(text)) return `${shown} has no host: write 0.0.0.0${text} for every IPv4 address, or '[::]${text}' for IPv6 and IPv4`
  return `${shown} is not host:port (e.g. 0.0.0.0:8443 or '[::]:8443': quote an IPv6 one, or YAML reads its [ ] as a list)`
}

/**
 * A route; one the schema refused in part (not `whole`) has each value it refused taken out, and gets
 * only the checks of values that are there: a rule that asks for a key that is missing is left out,
 * as the key the schema refused may be that one (`clinetCAs`, or a `cert` a level too shallow).
 */
function resolveRoute(raw: PartialRoute, index: number, filePath: FilePathOf, report: Report, mergeSlashes: boolean, whole: boolean): RouteConfig {
  const at = `routes[${index}]`
  const host = raw.host?.toLowerCase() ?? ''
  if (raw.host !== undefined && !isRouteHost(host)) report(`${at}.host`, `${shownValue(raw.host)} is not a host name or a *.wildcard${routeHostHint(host)}`)
  if (raw.path !== undefined) checkRoutePath(raw.path, `${at}.path`, mergeSlashes, report)
  if (raw.tls === 'passthrough' && raw.path !== undefined && raw.path !== '/') {
    report(`${at}.path`, 'a passthrough route cannot match a path: the request is never decrypted here')
  }
  const tls = raw.tls === 'passthrough' ? 'passthrough' : raw.tls && resolveRouteTls(raw.tls, `${at}.tls`, filePath, report, whole)
  checkSize(`${at}.maxRequestBody`, raw.maxRequestBody, report)
  if (raw.tls === 'passthrough' && raw.maxRequestBody !== undefined) {
    report(`${at}.maxRequestBody`, 'a passthrough route has no request bodies to limit: its requests are never decrypted here')
  }
  // Not where the schema refused the route in part: the path it took out may be the route's.
  if (raw.stripPath && (raw.path === '/' || (whole && raw.path === undefined))) {
    report(`${at}.stripPath`, 'needs a path: a route without one has no prefix to strip')
  }
  if (raw.tls === 'passthrough' && raw.forwardAuth !== undefined) {
    report(`${at}.forwardAuth`, 'a passthrough route has no requests to ask about: they are never decrypted here')
  }
  if (raw.tls === 'passthrough' && raw.compress !== undefined) {
    report(`${at}.compress`, 'a passthrough route has no responses to compress: they are never decrypted here')
  }
  if (raw.tls === 'passthrough' && raw.headers !== undefined) {
    report(`${at}.headers`, 'a passthrough route has no headers to change: its requests are never decrypted here')
  }
  if (raw.tls === 'passthrough' && raw.rateLimit !== undefined) {
    report(`${at}.rateLimit`, 'a passthrough route has no requests to count: they are never decrypted here')
  }
  checkDuration(`${at}.rateLimit.per`, raw.rateLimit?.per, report, { positive: true })
  if (whole && raw.rateLimit?.by === 'clientCert' && !(typeof raw.tls === 'object' && raw.tls.clientCAs)) {
    report(`${at}.rateLimit.by`, 'clientCert needs tls.clientCAs: without them no client certificate is asked for')
  }
  checkReadHeader(
    `${at}.rateLimit.header`,
    raw.rateLimit?.header,
    { chosen: raw.rateLimit?.by === 'header', choice: 'by: header', what: 'is the bucket (e.g. X-API-Key)', whole },
    report,
  )
  // Unknown where the schema refused the route's tls, or a key that may be it (`tsl: passthrough`).
  const passthrough = raw.tls === 'passthrough' || (whole || raw.tls !== undefined ? false : undefined)
  return {
    index,
    name: raw.name ?? host,
    host,
    path: raw.path ?? '/',
    tls,
    stripPath: raw.stripPath ?? false,
    maxRequestBody: raw.maxRequestBody === undefined ? undefined : parseSize(raw.maxRequestBody),
    compress: raw.compress ?? false,
    forwardAuth: raw.forwardAuth && resolveForwardAuth(raw.forwardAuth, `${at}.forwardAuth`, report),
    headers: resolveRouteHeaders(raw.headers, `${at}.headers`, report, placeholderScope(raw.tls, whole)),
    rateLimit: raw.rateLimit?.requests === undefined ? undefined : rateLimit(raw.rateLimit.requests, raw.rateLimit),
    allowedIPs: raw.allowedIPs && resolveIpRanges(raw.allowedIPs, `${at}.allowedIPs`, report),
    deniedIPs: raw.deniedIPs && resolveIpRanges(raw.deniedIPs, `${at}.deniedIPs`, report),
    upstream: resolveUpstream(raw.upstream ?? {}, `${at}.upstream`, passthrough, filePath, report, whole),
  }
}

/** Request paths are normalized and decoded before routing: a prefix that doing so changes matches nothing. */
function checkRoutePath(path: string, at: string, mergeSlashes: boolean, report: Report): void {
  const normalized = normalizePath(path, { mergeSlashes })
  const routed = normalized === undefined ? undefined : routingPath(normalized, { mergeSlashes })
  if (routed !== path) {
    const steps = `${mergeSlashes ? 'repeated slashes merged, ' : ''}. and .. resolved, escapes of ASCII decoded`
    report(at, `never matches: request paths are normalized before routing (${steps})${routed && !secretLike(routed) ? `; write ${routed}` : ''}`)
  } else if (path.includes('?')) {
    report(at, 'never matches: a route matches the path, and the query after ? is not part of it')
  } else if (path.includes('\0')) {
    report(at, 'never matches: a request path with a NUL (%00) is refused')
  } else if (percentEncodeNonAscii(path) !== path) {
    // Clients send é as %C3%A9, and routing decodes escapes of ASCII only (routing/path.ts).
    const encoded = percentEncodeNonAscii(path)
    report(at, `never matches: request paths are ASCII, other characters percent-encoded${secretLike(encoded) ? '' : `; write ${encoded}`}`)
  }
}

/**
 * A route's tls mapping. One whose cert or key the schema refused keeps the other, and its other files,
 * so that one run of check lists their problems too.
 */
function resolveRouteTls(raw: Exclude<PartialRoute['tls'], 'passthrough' | undefined>, at: string, filePath: FilePathOf, report: Report, whole: boolean): RouteTlsConfig {
  if (whole && raw.crl !== undefined && !raw.clientCAs) report(`${at}.crl`, 'needs tls.clientCAs: a CRL only applies to client certificates')
  if (whole && raw.ocsp !== undefined && !raw.clientCAs) report(`${at}.ocsp`, 'needs tls.clientCAs: OCSP is asked about client certificates')
  if (raw.ocsp) checkDuration(`${at}.ocsp.timeout`, raw.ocsp.timeout, report, { positive: true })
  const responder = raw.ocsp?.responder
  if (responder !== undefined && /^https?:\/\//.test(responder) && !URL.canParse(responder)) report(`${at}.ocsp.responder`, `${shownValue(responder)} is not a url that parses`)
  if (whole && raw.clientCertRequired !== undefined && !raw.clientCAs) {
    report(`${at}.clientCertRequired`, 'needs tls.clientCAs: without them no client certificate is asked for')
  }
  if (whole && raw.forwardClientCert && raw.forwardClientCert !== 'none' && !raw.clientCAs) {
    report(`${at}.forwardClientCert`, 'needs tls.clientCAs: there is no verified client certificate to forward')
  }
  if (whole && raw.allowedClients !== undefined && !raw.clientCAs) report(`${at}.allowedClients`, 'needs tls.clientCAs: without them no client certificate is asked for')
  if (raw.allowedClients !== undefined && raw.clientCertRequired === false) {
    report(`${at}.allowedClients`, 'needs a client certificate: with clientCertRequired: false, a client without one would be served')
  }
  const file = (key: 'cert' | 'key' | 'clientCAs') => raw[key] && filePath(`${at}.${key}`, raw[key])
  const [cert, key, clientCAs] = [file('cert'), file('key'), file('clientCAs')]
  const crl = crlFiles(raw.crl, `${at}.crl`, filePath)
  return {
    cert,
    key,
    ...(clientCAs && { clientCAs }),
    clientCertRequired: raw.clientCertRequired ?? true,
    crl,
    ...(raw.allowedClients && { allowedClients: resolveAllowedClients(raw.allowedClients, `${at}.allowedClients`, report) }),
    ...(raw.ocsp && {
      ocsp: {
        ...(raw.ocsp.responder && { responder: raw.ocsp.responder }),
        unreachable: raw.ocsp.unreachable ?? 'refuse',
        timeoutMs: parseDuration(raw.ocsp.timeout ?? DEFAULT_OCSP_TIMEOUT)!,
      },
    }),
    minVersion: raw.minVersion ?? 'TLSv1.2',
    forwardClientCert: raw.forwardClientCert ?? (raw.clientCAs ? 'xfcc' : 'none'),
  }
}

/**
 * What a route's requests have for the placeholders of its headers (header-changes.ts); unknown where
 * the schema refused its tls, or a key that may be it.
 */
function placeholderScope(tls: PartialRoute['tls'], whole: boolean): PlaceholderScope | undefined {
  if (!whole && tls === undefined) return undefined
  return { tls: typeof tls === 'object', clientCertificates: typeof tls === 'object' && tls.clientCAs !== undefined }
}

/** '/café' → '/caf%C3%A9', as a client sends it (a lone surrogate becomes U+FFFD, as UTF-8 has none). */
function percentEncodeNonAscii(path: string): string {
  return path.replace(/[^\x00-\x7f]+/g, (text) => [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase()}`).join(''))
}

/** What to write instead of a route host that isRouteHost refuses, where one spelling is meant. */
function routeHostHint(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1')
  if (isIP(bare) === 6) return '; an IPv6 address is not taken as a route host yet'
  // A site address of Caddy's carries its scheme (https://example.com); a route's host does not.
  const authority = /^[a-z][a-z\d+.-]*:\/\/([^/]+)\/?$/.exec(host)?.[1] ?? host
  // Clients send a port in Host and a trailing dot in Host or SNI; both are removed before routing.
  const name = authority.replace(/:\d+$/, '').replace(/\.$/, '')
  // Clients send an internationalized name in its ASCII form (IDNA), in SNI and in Host alike.
  const ascii = /[^\x00-\x7f]/.test(name) ? domainToASCII(name) : name
  if (ascii !== host && ascii && isRouteHost(ascii)) return `; write ${ascii}`
  return DNS_NAME_HINTS[dnsNameProblem(name) ?? 'none']
}

const DNS_NAME_HINTS: Record<DnsNameProblem | 'none', string> = {
  // The URL standard parses a host that ends in a number as IPv4 (`0x7f.1` too), so no name does.
  'numeric-last-label': '; a host whose last label is a number is an IPv4 address (RFC 3696 2): four numbers of 0 to 255, without leading zeros',
  'edge-hyphen': '; a label cannot start or end with a hyphen (RFC 1123 2.1)',
  none: '',
}

/** A route's tls as its TLS policy, to compare two routes' by: the files, not the keys that name them. */
function tlsPolicyOf(tls: RouteConfig['tls']): string {
  // clientCertRequired may differ: the host's handshake then takes a client without a certificate, and
  // each route that requires one refuses such a client's requests (proxy/route-selection.ts). So may
  // clientCAs, where every route has some: the handshake takes the clients of each, and each route
  // refuses those of the others; and allowedClients, which each route holds its requests to
  // (proxy/route-client-checks.ts).
  const shared =
    tls === undefined || tls === 'passthrough'
      ? tls
      : { ...tls, clientCertRequired: undefined, clientCAs: tls.clientCAs !== undefined, allowedClients: undefined, crl: tls.crl.map(({ file }) => file) }
  return JSON.stringify(shared)
}

/**
 * Rules across routes: unique host+path, unique explicit names, one TLS policy per host, a listener for
 * every route (unless which listeners there are is not known: `listen` undefined).
 */
function checkRouteSet(routes: RouteConfig[], raw: CheckableConfig, listen: Config['listen'] | undefined, report: Report): void {
  const byKey = new Map<string, RouteConfig>()
  const firstOfHost = new Map<string, RouteConfig>()
  const explicitNames = new Map<string, number>()
  for (const route of routes) {
    const at = `routes[${route.index}]`
    const key = routeKey(route)
    const twin = byKey.get(key)
    if (twin) report(`${at}.path`, `same host and path as routes[${twin.index}] (${route.host}${route.path})`)
    else byKey.set(key, route)

    // SNI picks the certificate and client-auth policy before the path is known, so a host has one policy.
    const first = firstOfHost.get(route.host)
    if (!first) firstOfHost.set(route.host, route)
    else if (tlsPolicyOf(first.tls) !== tlsPolicyOf(route.tls)) {
      report(`${at}.tls`, `must equal routes[${first.index}].tls (but for clientCAs, clientCertRequired and allowedClients): every route of ${route.host} shares one TLS policy`)
    }

    const name = raw.routes[route.index]?.name
    if (name !== undefined) {
      const other = explicitNames.get(name)
      if (other !== undefined) report(`${at}.name`, `${shownValue(name)} is already the name of routes[${other}]`)
      else explicitNames.set(name, route.index)
    }

    if (!listen) continue
    // A listener written but not host:port is reported as that, not again here.
    if (route.tls && !listen.https && !raw.listen?.https) report(`${at}.tls`, 'needs listen.https')
    if (!route.tls && !listen.http && !raw.listen?.http) report(at, 'has no tls and listen.http is not set, so nothing would serve it')
  }
}
