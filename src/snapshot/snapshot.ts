/**
 * A Snapshot is everything one config version needs to serve: the route table, the TLS policy servers
 * and the upstream pools (a pool may outlive its snapshot: upstreams.ts). It is built completely
 * (every file read, every context created) or not at all, then swapped in by the gateway in one
 * assignment. A request keeps the snapshot it started on.
 */
import type { X509Certificate } from 'node:crypto'
import { ConfigError, sortByPosition } from '../config/issues.js'
import { inRanges } from '../config/ip-ranges.js'
import type { Config, RateLimit, RouteConfig, UpstreamConfig } from '../config/types.js'
import { Balancer, keyHash, type UrlFull, type UrlScore } from '../routing/balancer.js'
import { addressHost, normalizeServerName } from '../routing/host.js'
import { RateLimiter } from '../routing/rate-limit.js'
import { compileRouteTable, routeKey, type RouteTable } from '../routing/table.js'
import { createTlsPolicy, policyId, type HostCertificate, type TlsPolicy, type TlsPolicyHooks, type TlsPolicySpec } from '../tls/ingress.js'
import type { OcspLookups } from '../tls/ocsp-lookups.js'
import { caBundleUnion, type CaBundle } from '../tls/pem.js'
import type { ClientChains } from '../tls/peer-certificates.js'
import type { TicketSecrets } from '../tls/ticket-keys.js'
import { identityKey, upstreamTlsContext, upstreamIdentity, type UpstreamHandshakeEvent, type UpstreamIdentity } from '../tls/upstream.js'
import { RouteFiles, type CaWithoutCrl, type LoadedCertificate, type LoadedCrl } from './route-files.js'
import { newUpstream, retireUpstream, type NewIdentity, type Upstream } from './upstreams.js'
import { configWarnings } from './warnings.js'

/**
 * A route as it serves. `name`, `host` and `path` are its config's, the same values lifted to the top:
 * the route table matches on host and path (RoutableRoute), and every metric and log line names it.
 */
export interface Route {
  readonly name: string
  readonly host: string
  readonly path: string
  readonly config: RouteConfig
  /** The TLS policy of a terminated route; undefined for plaintext and passthrough routes. */
  readonly policy?: TlsPolicy
  /** The pool of each url of an HTTP route's upstream, in the order of `config.upstream.urls`; undefined for passthrough routes. */
  readonly upstreams?: readonly Upstream[]
  /** Which url of the upstream each request or passthrough connection goes to. */
  readonly balancer: Balancer
  /** Whether it serves a client of this address (its allowedIPs and deniedIPs; every address without them). */
  readonly allowsClient: (address: string | undefined) => boolean
  /** Its rateLimit's buckets; undefined without one. */
  readonly rateLimiter?: RateLimiter
  /**
   * Its own tls.clientCAs, where its host's handshake takes those of its other routes too (their
   * union, `ofHost`): a client must have a certificate of its own (proxy/route-client-checks.ts).
   * Undefined where its CAs are its host's.
   */
  readonly clientCAs?: { readonly own: readonly X509Certificate[]; readonly ofHost: readonly X509Certificate[] }
}

export type IngressDecision =
  | { readonly kind: 'terminate'; readonly policy: TlsPolicy; readonly route?: Route }
  | { readonly kind: 'passthrough'; readonly route: Route }
  | { readonly kind: 'reject' }

export interface Snapshot {
  readonly config: Config
  /** Every route, in the config's order. */
  readonly routes: readonly Route[]
  readonly table: RouteTable<Route>
  readonly upstreams: ReadonlyMap<string, Upstream>
  readonly certificates: readonly LoadedCertificate[]
  readonly crls: readonly LoadedCrl[]
  readonly casWithoutCrl: readonly CaWithoutCrl[]
  readonly caBundlesWithKey: readonly string[]
  /** The TLS policies this config serves under, by id (see policyId). */
  readonly policies: ReadonlyMap<string, TlsPolicy>
  /**
   * Which policy (or passthrough) a ClientHello goes to: by its SNI, or without one by the address the
   * client connected to (clients send no SNI for an IP address, RFC 6066 3).
   */
  ingressFor(serverName: string | undefined, localAddress?: string): IngressDecision
  /** Whether a connection from this peer address begins with a PROXY protocol header (proxyProtocol.trustedIPs). */
  sendsProxyHeader(peerAddress: string | undefined): boolean
  /** Whether a request from this client address names its own client in X-Forwarded-For (forwardedFor.trustedIPs). */
  trustsForwardedFor(address: string | undefined): boolean
}

export interface SnapshotOptions {
  readonly tlsHooks: TlsPolicyHooks
  /** What the TLS policies' session ticket keys derive from, their period, and how long each lasts (tls/ticket-keys.ts). */
  readonly ticketSecrets: TicketSecrets
  readonly ticketEpoch: number
  readonly ticketKeyLifetimeMs: number
  /** The client chains a TLS policy remembers for resumed sessions, by policy id (tls/peer-certificates.ts). */
  readonly clientChains: (policyId: string) => ClientChains
  /** The OCSP answers about client certificates the gateway has had (tls.ocsp). */
  readonly ocspLookups: OcspLookups
  readonly upstreamHooks: { readonly onHandshake: (route: string, event: UpstreamHandshakeEvent) => void }
  /** Pools of the previous snapshot are reused when their identity is unchanged. */
  readonly previous?: Snapshot
}

/** What the files of every route give: the TLS policies to create and the upstream identities. */
interface RouteReadings {
  /** `firstRoute` is the one blamed if OpenSSL refuses the policy's contexts. */
  readonly policySpecs: Map<string, TlsPolicySpec & { hosts: Map<string, HostCertificate>; firstRoute: RouteConfig }>
  readonly policyIdOfRoute: Map<RouteConfig, string>
  /**
   * Policies with a route that forwards the client's chain, or that ask OCSP about its certificate,
   * which the chain's issuer answers for, or with routes of their own client CAs, which the chain
   * leads to (see TicketSecrets).
   */
  readonly chainPolicyIds: Set<string>
  /** The identity of each url of a route's upstream, in order. */
  readonly identitiesOfRoute: Map<RouteConfig, UpstreamIdentity[]>
  /** Route.clientCAs of each route of a host whose routes take different client CAs. */
  readonly clientCAsOfRoute: Map<RouteConfig, NonNullable<Route['clientCAs']>>
}

function readRoutes(config: Config, files: RouteFiles): RouteReadings {
  const readings: RouteReadings = {
    policySpecs: new Map(),
    policyIdOfRoute: new Map(),
    chainPolicyIds: new Set(),
    identitiesOfRoute: new Map(),
    clientCAsOfRoute: new Map(),
  }
  const { policySpecs, policyIdOfRoute, chainPolicyIds, identitiesOfRoute, clientCAsOfRoute } = readings
  const optional = hostsTakingClientsWithoutCertificate(config)
  const clientCAs = clientCAsOfHosts(config, files)
  for (const route of config.routes) {
    const at = `routes[${route.index}]`
    if (route.tls && route.tls !== 'passthrough') {
      const tls = route.tls
      const pair = files.keyPair(route, `${at}.tls`, tls, 'server')
      const own = clientCAs.ofRoute.get(route)
      const ofHost = clientCAs.ofHost.get(route.host)
      const cas = ofHost ?? own
      if (own && ofHost) clientCAsOfRoute.set(route, { own: own.certificates, ofHost: ofHost.certificates })
      const spec = {
        ...(cas && { clientCAs: cas }),
        clientCertRequired: !optional.has(route.host),
        crl: files.crlPems(route, `${at}.tls.crl`, tls.crl, cas, 'client'),
        minVersion: tls.minVersion,
        ...(cas && tls.ocsp && { ocsp: tls.ocsp }),
      }
      const id = policyId(spec)
      const entry = policySpecs.get(id) ?? { ...spec, hosts: new Map<string, HostCertificate>(), firstRoute: route }
      if (pair) entry.hosts.set(route.host, { certPem: pair.cert.pem, keyPem: pair.keyPem })
      policySpecs.set(id, entry)
      policyIdOfRoute.set(route, id)
      // A route of its own client CAs reads the chain of each client too.
      if (tls.forwardClientCert === 'rfc9440' || tls.forwardClientCert === 'both' || spec.ocsp || ofHost) chainPolicyIds.add(id)
    }
    if (route.tls !== 'passthrough') {
      const { upstream } = route
      const ca = upstream.ca ? files.caBundle(route, `${at}.upstream.ca`, upstream.ca) : undefined
      const crl = files.crlPems(route, `${at}.upstream.crl`, upstream.crl, ca, 'upstream')
      const client = upstream.cert ? files.keyPair(route, `${at}.upstream`, { cert: upstream.cert, key: upstream.key }, 'client') : undefined
      const pem = { ...(ca && { ca: ca.pem, caCertificates: ca.certificates }), crl, ...(client && { cert: client.cert.pem, key: client.keyPem }) }
      identitiesOfRoute.set(route, upstream.urls.map((url) => upstreamIdentity(upstream, url, pem)))
    }
  }
  return readings
}

/**
 * The files of a config whose rules failed, read for their problems (and its warnings), which a start, a
 * reload and `portcullis check` list in the same run (load-config.ts); nothing is created.
 */
export function readFiles(config: Config): RouteFiles {
  const files = new RouteFiles(config)
  readRoutes(config, files)
  return files
}

export function buildSnapshot(config: Config, options: SnapshotOptions): Snapshot {
  const files = new RouteFiles(config)
  const readings = readRoutes(config, files)
  throwIssues(config, files)
  // OpenSSL has the last word on the contexts.
  const policies = createPolicies(readings, files, options)
  const { keysOfRoute, newIdentities } = newUpstreamContexts(readings.identitiesOfRoute, files, options.previous)
  throwIssues(config, files)

  // Pools last, once nothing can fail: routes with the same identity share one, and an unchanged one
  // carries over from the previous snapshot.
  const upstreams = new Map<string, Upstream>()
  const upstreamsOfRoute = new Map<RouteConfig, Upstream[]>()
  for (const [route, keys] of keysOfRoute) {
    const pools = keys.map((key) => {
      const shared = upstreams.get(key) ?? options.previous?.upstreams.get(key) ?? newUpstream(key, newIdentities.get(key)!, options.upstreamHooks.onHandshake)
      upstreams.set(key, shared)
      return shared
    })
    upstreamsOfRoute.set(route, pools)
  }

  // Only now that the snapshot is complete, and in reverse: the first route that uses a pool names it.
  for (const [route, pools] of [...upstreamsOfRoute].reverse()) for (const upstream of pools) upstream.metricsRoute = route.name

  const limitedBefore = new Map(options.previous?.routes.flatMap((route) => (route.rateLimiter ? [[routeKey(route), route] as const] : [])))
  const routes: Route[] = config.routes.map((route) => {
    const id = readings.policyIdOfRoute.get(route)
    const pools = upstreamsOfRoute.get(route)
    const { slowStart } = route.upstream
    return {
      name: route.name,
      host: route.host,
      path: route.path,
      config: route,
      ...(id && { policy: policies.get(id)! }),
      ...(pools && { upstreams: pools }),
      balancer: new Balancer(
        route.upstream.urls.map(({ weight }) => weight),
        pools ? { score: urlScore(route.upstream, pools), full: urlFull(route.upstream, pools), slowStart } : { slowStart },
      ),
      allowsClient: clientAddressFilter(route),
      ...(route.rateLimit && { rateLimiter: rateLimiterOf(route.rateLimit, limitedBefore.get(routeKey(route))) }),
      ...(readings.clientCAsOfRoute.has(route) && { clientCAs: readings.clientCAsOfRoute.get(route)! }),
    }
  })
  const table = compileRouteTable(routes)
  return {
    config,
    routes,
    table,
    upstreams,
    certificates: files.certificates,
    crls: files.crls,
    casWithoutCrl: files.casWithoutCrl,
    caBundlesWithKey: files.caBundlesWithKey,
    policies,
    ingressFor: ingressDecider(table, [...policies.values()]),
    sendsProxyHeader: inRanges(config.proxyProtocol?.trustedIPs ?? []),
    trustsForwardedFor: inRanges(config.forwardedFor?.trustedIPs ?? []),
  }
}

const everyClient = () => true

/**
 * Whether a route serves a client address: none of its deniedIPs, and one of its allowedIPs (every
 * address without them), as nginx's deny before its allow. Made outside buildSnapshot, as urlScore is.
 */
function clientAddressFilter({ allowedIPs, deniedIPs }: RouteConfig): Route['allowsClient'] {
  const allowed = allowedIPs ? inRanges(allowedIPs) : everyClient
  if (!deniedIPs) return allowed
  const denied = inRanges(deniedIPs)
  return (address) => !denied(address) && allowed(address)
}

/**
 * How the balancer scores a url under upstream.balance (routing/balancer.ts); none: in turn. For
 * leastRequests, each url's requests in flight are its pool's, which routes of the same identity
 * share, against its weight of the moment (nginx's least_conn compares conns / weight; slowStart
 * lowers the weight of a url that has just come back).
 * Made outside buildSnapshot, as ingressDecider is (a closure there would keep `options.previous`).
 */
function urlScore({ balance, urls }: UpstreamConfig, pools: readonly Upstream[]): UrlScore | undefined {
  if (balance === 'leastRequests') return (url, _key, weight) => -pools[url]!.requests / weight
  if (balance === 'clientIPHash' || balance === 'headerHash') return keyHash(urls)
  return undefined
}

/** Whether a url has upstream.maxRequests in flight, its pool's requests (which routes of the same identity share); none: never. */
function urlFull({ maxRequests }: UpstreamConfig, pools: readonly Upstream[]): UrlFull | undefined {
  return maxRequests === undefined ? undefined : (url) => pools[url]!.requests >= maxRequests
}

/**
 * The limiter the previous snapshot had for the route (by host and path), where its limit is the
 * same, so that a reload (a certificate rotated) does not refill every bucket, as nginx's limit_req
 * zones outlive its reloads; else a new one.
 */
function rateLimiterOf(limit: RateLimit, previous: Route | undefined): RateLimiter {
  const before = previous?.config.rateLimit
  const same = before && before.requests === limit.requests && before.per === limit.per && before.burst === limit.burst && before.by === limit.by && before.header === limit.header
  return same ? previous.rateLimiter! : new RateLimiter(limit.per / limit.requests, limit.burst)
}

/**
 * Every issue of the files so far, in file order (read route by route, tls before upstream), with the
 * warnings of what they hold: a config that passed its rules is read as written.
 */
function throwIssues(config: Config, files: RouteFiles): void {
  if (files.issues.length > 0) throw new ConfigError(sortByPosition(files.issues), { warnings: configWarnings(config, files) })
}

/** A TLS policy of each spec; one that OpenSSL refuses is an issue at the tls of its first route. */
function createPolicies({ policySpecs, chainPolicyIds }: RouteReadings, files: RouteFiles, options: SnapshotOptions): Map<string, TlsPolicy> {
  const policies = new Map<string, TlsPolicy>()
  for (const [id, { firstRoute, ...spec }] of policySpecs) {
    const secret = chainPolicyIds.has(id) ? options.ticketSecrets.own : options.ticketSecrets.shared
    const tickets = { secret, epoch: options.ticketEpoch, keyLifetimeMs: options.ticketKeyLifetimeMs }
    const policy = files.attempt(`routes[${firstRoute.index}].tls`, () => createTlsPolicy(spec, options.tlsHooks, tickets, options.clientChains(id), options.ocspLookups))
    if (policy) policies.set(id, policy)
  }
  return policies
}

/**
 * The identity key of each url of each route's upstream, and the TLS context of each identity that
 * `previous` has no pool of, which the new pool's connections will use; one that OpenSSL refuses is an
 * issue at the route's upstream.cert (or upstream.ca).
 */
function newUpstreamContexts(
  identitiesOfRoute: ReadonlyMap<RouteConfig, readonly UpstreamIdentity[]>,
  files: RouteFiles,
  previous: Snapshot | undefined,
): { keysOfRoute: Map<RouteConfig, string[]>; newIdentities: Map<string, NewIdentity> } {
  const keysOfRoute = new Map<RouteConfig, string[]>()
  const newIdentities = new Map<string, NewIdentity>()
  for (const [route, identities] of identitiesOfRoute) {
    const keys = identities.map(identityKey)
    keysOfRoute.set(route, keys)
    for (const [i, identity] of identities.entries()) {
      const key = keys[i]!
      if (newIdentities.has(key) || previous?.upstreams.has(key)) continue
      const context = files.attempt(`routes[${route.index}].upstream.${identity.cert ? 'cert' : 'ca'}`, () => upstreamTlsContext(identity))
      newIdentities.set(key, { identity, context })
    }
  }
  return { keysOfRoute, newIdentities }
}

/**
 * Each route's tls.clientCAs, read; and the union of those of each host whose routes take different
 * ones, which its handshake verifies clients against (each route then takes its own alone,
 * proxy/route-client-checks.ts). A bundle that could not be read is an issue of its own, and leaves its
 * host without a union.
 */
function clientCAsOfHosts(config: Config, files: RouteFiles): { ofRoute: Map<RouteConfig, CaBundle>; ofHost: Map<string, CaBundle> } {
  const ofRoute = new Map<RouteConfig, CaBundle>()
  const bundlesOfHost = new Map<string, (CaBundle | undefined)[]>()
  for (const route of config.routes) {
    if (typeof route.tls !== 'object' || !route.tls.clientCAs) continue
    const bundle = files.caBundle(route, `routes[${route.index}].tls.clientCAs`, route.tls.clientCAs)
    if (bundle) ofRoute.set(route, bundle)
    bundlesOfHost.set(route.host, [...(bundlesOfHost.get(route.host) ?? []), bundle])
  }
  const ofHost = new Map<string, CaBundle>()
  for (const [host, bundles] of bundlesOfHost) {
    const read = bundles.filter((bundle) => bundle !== undefined)
    if (read.length === bundles.length && new Set(read.map(({ pem }) => pem)).size > 1) ofHost.set(host, caBundleUnion(read))
  }
  return { ofRoute, ofHost }
}

/**
 * The hosts whose handshake takes a client without a certificate: one of their routes with clientCAs
 * has clientCertRequired false. A route of such a host that requires one checks it at each request.
 */
function hostsTakingClientsWithoutCertificate(config: Config): Set<string> {
  const hosts = new Set<string>()
  for (const { host, tls } of config.routes) if (typeof tls === 'object' && tls.clientCAs && !tls.clientCertRequired) hosts.add(host)
  return hosts
}

/**
 * Made outside buildSnapshot on purpose: a closure keeps every variable that any closure of its
 * function captures, and one of buildSnapshot's captures `options`, whose `previous` would chain each
 * snapshot to every one before it (TLS servers, keys, tables), for as long as the gateway runs.
 */
function ingressDecider(table: RouteTable<Route>, policies: readonly TlsPolicy[]): Snapshot['ingressFor'] {
  // A ClientHello without SNI (or with an unknown name) gets a policy that asks for no client
  // certificate when there is one; its requests can only reach routes of that same policy.
  const fallback = policies.find((p) => !p.clientTrust) ?? policies[0]
  return (serverName, localAddress) => {
    const host = serverName === undefined ? addressHost(localAddress) : normalizeServerName(serverName)
    // Every route of a host has the same TLS policy; the handshake, before any path is known, counts
    // under the route that stands for the host.
    const route = host === undefined ? undefined : table.hostRoute(host)
    if (route?.config.tls === 'passthrough') return { kind: 'passthrough', route }
    if (route?.policy) return { kind: 'terminate', policy: route.policy, route }
    return fallback ? { kind: 'terminate', policy: fallback } : { kind: 'reject' }
  }
}

/**
 * Retires the pools of a snapshot that the next one does not carry over (all of them when there is
 * none: `check`); each closes once its last request has ended. Returns them; each calls `onClosed`
 * once it has closed, never before this returns.
 */
export function retireSnapshot(old: Snapshot, next: Snapshot | undefined, onClosed: (upstream: Upstream) => void = () => {}): Upstream[] {
  const retired = [...old.upstreams.values()].filter((upstream) => next?.upstreams.get(upstream.key) !== upstream)
  for (const upstream of retired) retireUpstream(upstream, onClosed)
  return retired
}
