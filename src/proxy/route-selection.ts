/**
 * Which route a request goes to (by Host and path), and whether its connection may reach it. A request
 * reaches a route only over a connection accepted under that route's TLS policy: a Host that names
 * another policy's route gets 421 Misdirected Request, as in nginx and Caddy, so sending SNI of an open
 * route and Host of an mTLS route never bypasses client auth. Nor does any Host bypass a route's
 * allowedIPs (403).
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import { isIPv6, type Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { addressHost } from '../routing/host.js'
import { withoutRoutePath } from '../routing/path.js'
import type { Route, Snapshot } from '../snapshot/snapshot.js'
import type { TlsPolicy } from '../tls/ingress.js'
import type { ClientIdentities } from './client-identity.js'
import type { RequestClient } from './forwarded-for.js'
import type { ForwardedFields } from './headers.js'
import { bodyTooLargeDetail } from './request-body.js'
import { checkRequest, type RequestRefusal } from './request-checks.js'
import { routeClientRefusal } from './route-client-checks.js'

/** A route and what to tell its upstream. */
export interface Routed {
  readonly route: Route
  /**
   * The request target the upstream gets after its url's path: the client's, normalized, without the
   * route's path where the route strips it (stripPath).
   */
  readonly target: string
  readonly forwarded: ForwardedFields
  readonly identity: Record<string, string>
}

/**
 * The status a request is refused with, and why; with its route if it reached one. A 421 has none: its
 * connection may not reach the route its Host names, and a client without that route's certificate
 * must not count among that route's requests (and thin out its 5xx ratio). Nor has a 308, the 421's
 * place on the http listener with httpsRedirect; its `headers` (a Location) go with the answer.
 */
export interface RoutingRefusal {
  readonly status: RequestRefusal['status'] | 308 | 403 | 404 | 413 | 421
  readonly detail: string
  readonly route?: Route
  readonly headers?: OutgoingHttpHeaders
}

/** The SNI name a connection's ClientHello carried; undefined for one without, or on the plaintext listener. */
export type ServerNameOf = (socket: Socket) => string | undefined

/**
 * `policy` is the TLS policy the connection was verified under, undefined on the plaintext listener;
 * `client` who sent the request (forwarded-for.ts); `identities` builds the client identity headers
 * a route forwards.
 */
export function selectRoute(
  snapshot: Snapshot,
  policy: TlsPolicy | undefined,
  req: IncomingMessage,
  client: RequestClient,
  identities: ClientIdentities,
  serverNameOf: ServerNameOf,
): Routed | RoutingRefusal {
  // HTTP/1.0 does not require Host (RFC 1945). A request without one is for the host its connection
  // was made to, as nginx serves it from the server that SNI (or the address) chose. It becomes the
  // request's Host, which the upstream, spoken to in HTTP/1.1, needs.
  if (req.headers.host === undefined && req.httpVersion === '1.0') req.headers.host = connectionHost(req.socket, serverNameOf)
  const checked = checkRequest(req, snapshot.config)
  if ('status' in checked) return checked
  const route = snapshot.table.match(checked.host, checked.path)
  if (!route) return { status: 404, detail: 'no route for this host and path' }
  const { httpsRedirect } = snapshot.config
  if (!policy && route.config.tls && httpsRedirect !== undefined) {
    const location = httpsLocation(checked.host, httpsRedirect, req.url!)
    return { status: 308, detail: 'this host is served over HTTPS', headers: { Location: location } }
  }
  if (route.config.tls === 'passthrough') return { status: 421, detail: 'host is TLS passthrough' }

  // Policies are compared by id (a hash of what decides client authentication), so a reload that keeps
  // a route's client CAs keeps its keep-alive connections; one that changes them sends its clients to a
  // new handshake.
  if (route.policy?.id !== policy?.id) {
    const detail = policy ? 'this connection cannot serve that host' : 'this host is served over HTTPS only'
    return { status: 421, detail }
  }
  const refusal = routeClientRefusal(route, policy, req.socket as TLSSocket)
  if (refusal) return { status: 403, detail: refusal.detail, route }
  if (!route.allowsClient(client.address)) return { status: 403, detail: 'this route does not serve your address', route }
  // Refused on its Content-Length before 100 Continue, so that the client never sends it; a chunked
  // body is counted as it goes (request-body.ts).
  const { maxRequestBody } = route.config
  if (maxRequestBody !== undefined && Number(req.headers['content-length'] ?? 0) > maxRequestBody) {
    return { status: 413, detail: bodyTooLargeDetail(maxRequestBody), route }
  }
  // Where the policy asks for a certificate; a client that sent none (clientCertRequired: false) has no identity to forward.
  const forward = policy?.clientTrust && route.config.tls ? route.config.tls.forwardClientCert : 'none'
  const identity = policy && forward !== 'none' ? identities.of(req.socket as TLSSocket, policy, forward) : {}
  const target = route.config.stripPath ? withoutRoutePath(req.url!, route.config.path, snapshot.config) : req.url!
  return { route, target, forwarded: { for: client.peer, realIp: client.address, proto: policy ? 'https' : 'http', host: req.headers.host! }, identity }
}

/**
 * Where a request for a TLS route is sent from the http listener: the same host (a route's, so a DNS
 * name or an IPv4 address) and target, checked and normalized, on the public https port.
 */
function httpsLocation(host: string, port: number, target: string): string {
  return `https://${host}${port === 443 ? '' : `:${port}`}${target}`
}

/** The host a connection was made to: its SNI name, else the address it reached (as Snapshot.ingressFor reads it). */
function connectionHost(socket: Socket, serverNameOf: ServerNameOf): string | undefined {
  const serverName = serverNameOf(socket)
  if (serverName !== undefined) return serverName
  const address = addressHost(socket.localAddress)
  return address !== undefined && isIPv6(address) ? `[${address}]` : address
}
