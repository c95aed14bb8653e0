/**
 * A route's `upstream`, resolved: its url parsed, the files it names made absolute, its serverName
 * checked, its timeouts in milliseconds, and every rule of its keys checked (resolve.ts resolves the
 * rest of the route).
 */
import { isIP } from 'node:net'
import { normalizeServerName } from '../routing/host.js'
import { certificateNames } from './certificate-names.js'
import type { PartialRoute } from './checkable.js'
import {
  checkDuration,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_HEALTH_CHECK_INTERVAL,
  DEFAULT_HEALTH_CHECK_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_RESPONSE_TIMEOUT,
  parseDuration,
} from './duration.js'
import { crlFiles, type FilePathOf } from './file-paths.js'
import { checkReadHeader } from './header-changes.js'
import type { Report } from './issues.js'
import { shownValue, shownWhole } from './shown-value.js'
import type { HealthCheck, UpstreamConfig } from './types.js'

/** `passthrough` is undefined where it is not known (see resolveRoute), as `whole` says which rules run. */
export function resolveUpstream(
  raw: NonNullable<PartialRoute['upstream']>,
  at: string,
  passthrough: boolean | undefined,
  filePath: FilePathOf,
  report: Report,
  whole: boolean,
): UpstreamConfig {
  const urls = upstreamUrls(raw.url, `${at}.url`, passthrough, report)
  const first = urls[0]?.parsed
  const isHttps = first?.protocol === 'https:'
  for (const key of ['ca', 'crl', 'cert', 'key', 'serverName', 'subjectAltNames', 'insecureSkipVerify'] as const) {
    if (raw[key] !== undefined && first && !isHttps) report(`${at}.${key}`, 'only applies to https:// upstreams')
  }
  // What a passthrough route would ignore: it relays bytes, with no path to add and no response to time.
  if (first?.protocol === 'tcp:') {
    for (const { parsed, path } of urls) {
      if (parsed.pathname !== '' && parsed.pathname !== '/') report(path, 'tcp:// relays the raw TLS stream, which has no path: write tcp://host:port')
    }
    if (raw.timeouts?.response !== undefined) report(`${at}.timeouts.response`, 'only applies to http:// and https:// upstreams: a passthrough connection has no response to time')
    if (raw.timeouts?.idle !== undefined) report(`${at}.timeouts.idle`, 'only applies to http:// and https:// upstreams: a passthrough connection is the client\'s, never kept idle')
    if (raw.balance !== undefined) report(`${at}.balance`, 'only applies to http:// and https:// upstreams: passthrough connections are shared in turn')
    if (raw.stickyCookie !== undefined) report(`${at}.stickyCookie`, 'only applies to http:// and https:// upstreams: a passthrough connection carries no cookie the gateway reads')
    if (raw.maxRequests !== undefined) report(`${at}.maxRequests`, 'only applies to http:// and https:// upstreams: a passthrough connection is no request')
    if (raw.retryOn !== undefined) report(`${at}.retryOn`, 'only applies to http:// and https:// upstreams: a passthrough connection gets no status')
    if (raw.healthCheck?.path !== undefined) report(`${at}.healthCheck.path`, "a passthrough route's check is a TCP connect, which asks for no path: leave it out")
    if (raw.healthCheck?.status !== undefined) report(`${at}.healthCheck.status`, "a passthrough route's check is a TCP connect, which gets no status: leave it out")
    if (raw.healthCheck?.host !== undefined) report(`${at}.healthCheck.host`, "a passthrough route's check is a TCP connect, which sends no Host: leave it out")
    if (raw.healthCheck?.body !== undefined) report(`${at}.healthCheck.body`, "a passthrough route's check is a TCP connect, which gets no body: leave it out")
  }
  checkReadHeader(
    `${at}.hashHeader`,
    raw.hashHeader,
    { chosen: raw.balance === 'headerHash', choice: 'balance: headerHash', what: 'chooses the url (e.g. X-Tenant-ID)', whole },
    report,
  )
  checkDuration(`${at}.slowStart`, raw.slowStart, report, { positive: true })
  if (raw.slowStart !== undefined && (raw.balance === 'clientIPHash' || raw.balance === 'headerHash')) {
    report(`${at}.slowStart`, `does not go with ${raw.balance}: a request's url is its hash's, which no weight of the moment may change (nginx refuses slow_start with ip_hash and hash too)`)
  }
  // undici reads a timeout of 0 as none at all.
  for (const key of ['connect', 'response', 'idle'] as const) checkDuration(`${at}.timeouts.${key}`, raw.timeouts?.[key], report, { positive: true })
  if (whole && raw.crl !== undefined && !raw.ca) {
    report(`${at}.crl`, "needs upstream.ca: OpenSSL checks the CRL of every CA of the upstream's chain, its root's too, so they must be CAs whose CRLs you hold, not the built-in roots")
  }
  if (whole && raw.cert && !raw.key) report(`${at}.key`, 'is required with upstream.cert')
  if (whole && raw.key && !raw.cert) report(`${at}.cert`, 'is required with upstream.key')

  const weights = raw.weights && urlWeights(raw.weights, raw.url, `${at}.weights`, report)
  if (raw.stickyCookie !== undefined && typeof raw.url === 'string') report(`${at}.stickyCookie`, 'keeps a client on one url of a list: url is one url')
  if (raw.slowStart !== undefined && typeof raw.url === 'string') report(`${at}.slowStart`, "ramps up a url's share of a list's requests: url is one url")
  if (raw.subjectAltNames !== undefined && raw.insecureSkipVerify) {
    report(`${at}.subjectAltNames`, 'names what the upstream is verified by: insecureSkipVerify turns verification off')
  }
  if (raw.retryOn !== undefined && typeof raw.url === 'string') report(`${at}.retryOn`, 'sends a request to the next url of a list: url is one url')
  raw.retryOn?.forEach((status, i) => {
    if (status !== undefined && status < 500 && status !== 429) report(`${at}.retryOn[${i}]`, `${status} answers the request as it was sent, wherever it goes: only 429 and 500 to 599 are retried`)
  })
  const hostnames = urls.map(({ parsed }) => parsed.hostname.replace(/^\[(.*)\]$/, '$1'))
  const serverName = raw.serverName === undefined ? undefined : configuredServerName(`${at}.serverName`, raw.serverName, hostnames, report)
  const defaultPort = first?.protocol === 'https:' ? 443 : 80
  return {
    urls: urls.map(({ text, path, parsed }, i) => ({
      url: text,
      path,
      hostname: hostnames[i]!,
      port: parsed.port ? Number(parsed.port) : defaultPort,
      // SNI must be a DNS name (RFC 6066 3): an IP-literal upstream gets none and is verified against the IP SAN.
      serverName: serverName ?? (isIP(hostnames[i]!) ? '' : hostnames[i]!),
      weight: weights?.[i] ?? 1,
    })),
    protocol: (first?.protocol ?? 'https:') as UpstreamConfig['protocol'],
    balance: raw.balance ?? 'roundRobin',
    ...(raw.balance === 'headerHash' && raw.hashHeader !== undefined && { hashHeader: raw.hashHeader.toLowerCase() }),
    ...(raw.stickyCookie !== undefined && { stickyCookie: raw.stickyCookie }),
    ...(raw.slowStart !== undefined && { slowStart: parseDuration(raw.slowStart) }),
    ...(raw.retryOn !== undefined && { retryOn: raw.retryOn.filter((status): status is number => status !== undefined) }),
    ...(raw.maxRequests !== undefined && { maxRequests: raw.maxRequests }),
    pathPrefix: first ? pathPrefix(first) : '',
    ...(raw.ca && { ca: filePath(`${at}.ca`, raw.ca) }),
    crl: crlFiles(raw.crl, `${at}.crl`, filePath),
    ...(raw.cert && { cert: filePath(`${at}.cert`, raw.cert) }),
    ...(raw.key && { key: filePath(`${at}.key`, raw.key) }),
    ...(raw.subjectAltNames && { subjectAltNames: certificateNames(raw.subjectAltNames) }),
    insecureSkipVerify: raw.insecureSkipVerify ?? false,
    timeouts: {
      connect: parseDuration(raw.timeouts?.connect ?? DEFAULT_CONNECT_TIMEOUT)!,
      response: parseDuration(raw.timeouts?.response ?? DEFAULT_RESPONSE_TIMEOUT)!,
      idle: parseDuration(raw.timeouts?.idle ?? DEFAULT_IDLE_TIMEOUT)!,
    },
    ...(raw.healthCheck && { healthCheck: healthCheck(raw.healthCheck, `${at}.healthCheck`, first?.protocol === 'tcp:', report, whole) }),
  }
}

type RawHealthCheck = NonNullable<NonNullable<PartialRoute['upstream']>['healthCheck']>

/** `tcp`: the check of a passthrough route, a TCP connect without a path. */
function healthCheck(raw: RawHealthCheck, at: string, tcp: boolean, report: Report, whole: boolean): HealthCheck {
  const { path } = raw
  if (whole && path === undefined && !tcp) report(`${at}.path`, 'is required: the path each url is asked for (e.g. /healthz)')
  // undici refuses to send a path with a space or a control character.
  if (path !== undefined && !/^\/[!-~]*$/.test(path)) report(`${at}.path`, `${shownValue(path)} is not a request path: visible ASCII, other characters percent-encoded`)
  for (const key of ['interval', 'timeout'] as const) checkDuration(`${at}.${key}`, raw[key], report, { positive: true })
  const bodyProblem = raw.body === undefined ? undefined : regularExpressionProblem(raw.body)
  if (bodyProblem) report(`${at}.body`, bodyProblem)
  const statuses = raw.status === undefined || tcp ? undefined : [raw.status].flat().filter((status): status is number => status !== undefined)
  return {
    path: tcp ? undefined : path,
    ...(raw.host !== undefined && !tcp && { host: raw.host }),
    ...(statuses && { statuses }),
    ...(raw.body !== undefined && !tcp && { body: raw.body }),
    interval: parseDuration(raw.interval ?? DEFAULT_HEALTH_CHECK_INTERVAL)!,
    timeout: parseDuration(raw.timeout ?? DEFAULT_HEALTH_CHECK_TIMEOUT)!,
    fails: raw.fails ?? 1,
    passes: raw.passes ?? 1,
  }
}

/** Why `source` is no regular expression, in JavaScript's words; undefined where it is one. */
function regularExpressionProblem(source: string): string | undefined {
  try {
    new RegExp(source)
    return undefined
  } catch (error) {
    return `${shownValue(source)} is not a regular expression: ${(error as Error).message.replace(/^Invalid regular expression: \/.*\/\w*: /, '')}`
  }
}

/**
 * The urls that parse, of `url` written as one or a list, each with the key that names it. Those of a
 * list must agree with the first on what the route's requests share (their scheme and path), and
 * name another upstream each: listed twice, one would take twice the requests.
 */
function upstreamUrls(
  raw: string | readonly (string | undefined)[] | undefined,
  at: string,
  passthrough: boolean | undefined,
  report: Report,
): { text: string; path: string; parsed: URL }[] {
  if (raw === undefined) return []
  const written = typeof raw === 'string' ? [{ text: raw, path: at }] : raw.flatMap((text, i) => (text === undefined ? [] : [{ text, path: `${at}[${i}]` }]))
  const urls = written.flatMap(({ text, path }) => {
    const parsed = upstreamUrl(text, path, passthrough, report)
    return parsed ? [{ text, path, parsed }] : []
  })
  const first = urls[0]?.parsed
  const seen = new Map<string, string>()
  return urls.filter(({ path, parsed }) => {
    if (parsed.protocol !== first!.protocol) return void report(path, `every url of the list has the scheme of the first, ${first!.protocol}//`)
    if (pathPrefix(parsed) !== pathPrefix(first!)) return void report(path, `every url of the list has the path of the first, ${first!.pathname}`)
    const twin = seen.get(parsed.host)
    if (twin !== undefined) return void report(path, `names the same upstream as ${twin}`)
    seen.set(parsed.host, path)
    return true
  })
}

/** The weights, where there is one for each url of the list as written. */
function urlWeights(
  raw: readonly (number | undefined)[],
  url: string | readonly (string | undefined)[] | undefined,
  at: string,
  report: Report,
): readonly (number | undefined)[] | undefined {
  if (typeof url === 'string') return void report(at, 'shares the requests of a list of urls: url is one url')
  if (url && url.length !== raw.length) return void report(at, `has ${raw.length} weights for ${url.length} urls: write one for each url, in their order`)
  if (raw.every((weight) => weight === 0)) return void report(at, 'are all 0: no url would take a new client (a weight of 0 drains one url of the list)')
  return raw
}

/** The path a url puts before each request's: '' for none. */
function pathPrefix(url: URL): string {
  return url.pathname.replace(/\/$/, '')
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
 * A serverName, checked, and kept as it is compared: lower case, without a trailing dot. An IP address
 * is never sent as SNI (RFC 6066 3): one the urls do not all name is refused, and one they do gives
 * '' (no SNI; the IP SAN is verified).
 */
function configuredServerName(path: string, raw: string, hostnames: readonly string[], report: Report): string {
  const address = raw.replace(/^\[(.*)\]$/, '$1')
  if (isIP(address)) {
    if (hostnames.some((hostname) => hostname !== address)) report(path, 'an IP address is never sent as SNI (RFC 6066 3); leave serverName out to verify the IP of the url')
    return ''
  }
  const name = normalizeServerName(raw)
  if (name === undefined) {
    report(path, `${shownValue(raw)} is not a DNS name (no port, wildcard, spaces or brackets)`)
    return raw
  }
  return name
}
