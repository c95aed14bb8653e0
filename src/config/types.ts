/**
 * The resolved config: what ConfigLoader returns after validation. Field names are the YAML keys, so a key
 * path in an error message is also a path in the code. Durations are milliseconds, files absolute paths.
 */
import type { HeaderValue } from './header-placeholders.js'
import type { IpRange } from './ip-ranges.js'
import type { ForwardClientCert, RawConfig, TlsVersion } from './schema.js'

/** The keys of `listen`: the public listeners and the admin one. */
export type ListenerName = keyof RawConfig['listen']

/** The listeners that serve routes. */
export type PublicListenerName = Exclude<ListenerName, 'admin'>

export interface ListenAddress {
  readonly host: string
  readonly port: number
}

export interface Position {
  readonly line: number
  readonly col: number
}

/** A CRL file that a `crl` key names. */
export interface CrlFile {
  readonly file: string
  /** The key that names it: `routes[2].tls.crl[1]` in a list, `routes[2].tls.crl` where it is the one file written. */
  readonly path: string
}

export interface RouteTlsConfig {
  /**
   * Both are there in a config that loads. In one the schema refused, either may be missing: the other,
   * and the route's other files, are still read for their problems (resolve.ts).
   */
  readonly cert: string | undefined
  readonly key: string | undefined
  readonly clientCAs?: string
  /** With clientCAs: false serves a client without a certificate too (one with a certificate is verified). */
  readonly clientCertRequired: boolean
  readonly crl: readonly CrlFile[]
  /** With clientCAs: which of their clients the route serves (proxy/route-client-checks.ts); undefined: all. */
  readonly allowedClients?: AllowedClients
  /** With clientCAs: the OCSP lookups of client certificates. */
  readonly ocsp?: OcspConfig
  readonly minVersion: TlsVersion
  readonly forwardClientCert: ForwardClientCert
}

/**
 * Names a certificate may carry, of each kind (tls/certificate-names.ts): as written but DNS names in
 * lower case. A name ending in * matches every name it begins. Undefined or empty: none of that kind.
 */
export interface CertificateNames {
  readonly uri?: readonly string[]
  readonly dns?: readonly string[]
  readonly commonName?: readonly string[]
}

/** tls.allowedClients, resolved: its names, and its fingerprints in lower-case hex without colons. */
export interface AllowedClients extends CertificateNames {
  readonly fingerprint: readonly string[]
}

/** tls.ocsp, resolved. */
export interface OcspConfig {
  /** The responder asked; without one, each certificate's own (its authorityInfoAccess OCSP url). */
  readonly responder?: string
  /** What becomes of a client whose certificate's status could not be had. */
  readonly unreachable: 'refuse' | 'allow'
  readonly timeoutMs: number
}

/** One url of a route's upstream: where its requests (or its passthrough connections) may go. */
export interface UpstreamUrl {
  /** The url as written, for logs. */
  readonly url: string
  /** The key that names it: `routes[2].upstream.url`, or `routes[2].upstream.url[1]` in a list. */
  readonly path: string
  /** Host name or IP literal, without IPv6 brackets. */
  readonly hostname: string
  readonly port: number
  /** SNI sent and name verified; '' for IP-literal upstreams without a serverName (no SNI is sent then). */
  readonly serverName: string
  /** Its share of the route's requests against the other urls' (upstream.weights); 1 by default. */
  readonly weight: number
}

export interface UpstreamConfig {
  /**
   * `url`, one or a list, in the order written: the requests of the route are shared among them
   * (routing/balancer.ts). They have the scheme and the path prefix below, and every other key, in common.
   */
  readonly urls: readonly UpstreamUrl[]
  readonly protocol: 'http:' | 'https:' | 'tcp:'
  /** How the urls share the requests (routing/balancer.ts). */
  readonly balance: 'roundRobin' | 'leastRequests' | 'clientIPHash' | 'headerHash'
  /** With headerHash, the request header (lower case) whose value chooses the url; undefined otherwise. */
  readonly hashHeader?: string
  /** The name of the cookie that keeps a client on its url (proxy/sticky-cookie.ts); undefined: none. */
  readonly stickyCookie?: string
  /** Milliseconds a url that comes back takes to get its whole weight (routing/balancer.ts); undefined: at once. */
  readonly slowStart?: number
  /** Statuses whose answer is dropped for the next url's, for a request that may be sent twice (proxy/upstream-request.ts); undefined: none. */
  readonly retryOn?: readonly number[]
  /** Requests each url takes at once from this process (routing/balancer.ts); undefined: no limit. */
  readonly maxRequests?: number
  /** Path prefix from the url, prepended to the request path; '' when the url has none. */
  readonly pathPrefix: string
  readonly ca?: string
  readonly crl: readonly CrlFile[]
  readonly cert?: string
  readonly key?: string
  /** The names the upstream's certificate is verified by, in place of its url's (tls/upstream.ts); undefined: the url's. */
  readonly subjectAltNames?: CertificateNames
  readonly insecureSkipVerify: boolean
  readonly timeouts: { readonly connect: number; readonly response: number; readonly idle: number }
  /** Active health checks of each url (upstream-health-checks.ts); undefined: none. */
  readonly healthCheck?: HealthCheck
}

export interface HealthCheck {
  /** Asked of each url as written, without the url's path prefix; undefined on a passthrough route, whose check is a TCP connect. */
  readonly path: string | undefined
  /** The Host each check is sent with; undefined: the url's (upstream-health-checks.ts). */
  readonly host?: string
  /** The statuses that pass; undefined: any 2xx or 3xx. */
  readonly statuses?: readonly number[]
  /** The regular expression (its source) the answer's body must match to pass; undefined: any body. */
  readonly body?: string
  readonly interval: number
  readonly timeout: number
  /** Checks in a row that must fail before a url is left out. */
  readonly fails: number
  /** Checks in a row that must pass before a url left out is back. */
  readonly passes: number
}

/** What a route changes of one side's headers (`headers.request`, `headers.response`); names in lower case. */
export interface HeaderChanges {
  readonly remove: readonly string[]
  /** A value of headers.request.set may hold placeholders, filled per request (header-placeholders.ts). */
  readonly set: readonly (readonly [name: string, value: HeaderValue])[]
}

/** A route's forwardAuth, resolved: its response headers' names in lower case. */
export interface ForwardAuth {
  readonly url: string
  readonly responseHeaders: readonly string[]
  readonly timeoutMs: number
}

/** A route's rateLimit: a bucket of `burst` requests per client (`by`), filled at `requests` per `per` milliseconds. */
export interface RateLimit {
  readonly requests: number
  readonly per: number
  readonly burst: number
  /** A bucket per client address, per client certificate or per value of a header (the address for a client that sent none). */
  readonly by: 'address' | 'clientCert' | 'header'
  /** With `by: header`, the header's name, in lower case. */
  readonly header?: string
}

export interface RouteConfig {
  /** Position in routes[], for key paths in messages. */
  readonly index: number
  readonly name: string
  /** Lower-case exact host or `*.suffix` wildcard. */
  readonly host: string
  readonly path: string
  readonly tls: RouteTlsConfig | 'passthrough' | undefined
  /** The path goes upstream without the route's `path` (before the upstream url's own). */
  readonly stripPath: boolean
  /** The largest request body taken, in bytes; undefined: no limit. */
  readonly maxRequestBody: number | undefined
  /** Responses are compressed for the clients that accept it (proxy/compression.ts). */
  readonly compress: boolean
  /** The auth service each request is first asked of (proxy/forward-auth.ts); undefined: none. */
  readonly forwardAuth: ForwardAuth | undefined
  /** Its changes to the headers of the requests it sends upstream and of the responses it relays; none where undefined. */
  readonly headers: { readonly request?: HeaderChanges; readonly response?: HeaderChanges }
  /** How many requests each client address may send (routing/rate-limit.ts); undefined: no limit. */
  readonly rateLimit: RateLimit | undefined
  /** The client addresses it serves; undefined: every address. */
  readonly allowedIPs: readonly IpRange[] | undefined
  /** The client addresses it refuses, whatever allowedIPs take; undefined: none. */
  readonly deniedIPs: readonly IpRange[] | undefined
  readonly upstream: UpstreamConfig
}

export interface Config {
  /** routes.yaml as the user named it (for messages). */
  readonly file: string
  readonly listen: { readonly [name in ListenerName]?: ListenAddress }
  readonly workers: number
  readonly shutdown: { readonly grace: number }
  /** Overload limits of this process (see LimitsSchema). */
  readonly limits: Readonly<Required<NonNullable<RawConfig['limits']>>>
  /** Repeated slashes in request paths are merged before routing (see the schema). */
  readonly mergeSlashes: boolean
  readonly accessLog: boolean
  /** Each routed request carries an X-Request-Id (proxy/request-id.ts). */
  readonly requestId: boolean
  /** The sources whose connections begin with a PROXY protocol header (proxy/proxy-protocol.ts); undefined: none. */
  readonly proxyProtocol: { readonly trustedIPs: readonly IpRange[] } | undefined
  /** The proxies whose X-Forwarded-For names the client (proxy/forwarded-for.ts); undefined: none. */
  readonly forwardedFor: { readonly trustedIPs: readonly IpRange[] } | undefined
  /** The public https port the http listener redirects requests for TLS routes to; undefined: it answers them 421. */
  readonly httpsRedirect: number | undefined
  readonly routes: readonly RouteConfig[]
  /** Line and column of every key path (`routes[2].upstream.ca`), for errors found after loading. */
  readonly positions: ReadonlyMap<string, Position>
}
