/**
 * What a route asks of the client certificate beyond its host's handshake, held to at each request
 * (route-selection.ts) and at each reload for an open WebSocket (connection-rechecks.ts):
 *
 * - Client CAs of its own, where the routes of its host take different ones (traefik#9202: `/partners`
 *   for one CA, `/staff` for another). TLS asks for a certificate before the path is known, so the
 *   host's handshake verifies a client against the CAs of all its routes (snapshot.ts), and the
 *   client's chain must then lead to a CA of the route's own bundle, as OpenSSL builds a chain
 *   (chain-path.ts). A certificate of another route's CA never reaches this one (emissary#3340); CRLs
 *   and OCSP were the handshake's, as for every client.
 * - tls.allowedClients: a name its certificate carries (a URI or DNS subjectAltName, the common name)
 *   or its fingerprint must be listed, as Envoy's match_typed_subject_alt_names and
 *   verify_certificate_hash hold a client to them.
 *
 * - A client certificate at all, where its host's handshake takes a client without one (another of
 *   its routes has clientCertRequired false).
 */
import type { X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import type { AllowedClients } from '../config/types.js'
import type { Route } from '../snapshot/snapshot.js'
import { carriesName } from '../tls/certificate-names.js'
import { pathToCa } from '../tls/chain-path.js'
import type { TlsPolicy } from '../tls/ingress.js'
import { clientFingerprint, peerLeaf } from '../tls/peer-certificates.js'
import { NO_CERTIFICATE } from '../tls/recheck.js'

/** Why a route does not take a client: the 403's words, and a code for the log, as OpenSSL would name it. */
export interface ClientRefusal {
  readonly detail: string
  readonly code: string
}

/** A client that sent no certificate, to a route that requires one. */
const NO_CERTIFICATE_SENT: ClientRefusal = { detail: 'this route requires a client certificate, and this connection sent none', code: NO_CERTIFICATE }

/** A client whose certificate carries no name (or fingerprint) of the route's allowedClients. */
const NOT_ALLOWED: ClientRefusal = { detail: 'this route does not take your client certificate', code: 'CLIENT_NOT_ALLOWED' }

/**
 * Each connection's verdict on each route it was held to (null: taken): its certificate never
 * changes, and reading it costs. A reload makes new routes, so a route that changed is judged afresh.
 */
const verdicts = new WeakMap<TLSSocket, WeakMap<Route, ClientRefusal | null>>()

/**
 * Why `route` does not take the client of a connection verified under `policy`: it sent no
 * certificate where the route requires one, or one the route does not take; undefined where the
 * route takes it, or asks nothing of it.
 */
export function routeClientRefusal(route: Route, policy: TlsPolicy | undefined, socket: TLSSocket): ClientRefusal | undefined {
  if (lacksRequiredCertificate(route, policy, socket)) return NO_CERTIFICATE_SENT
  const { clientCAs } = route
  const allowed = typeof route.config.tls === 'object' ? route.config.tls.allowedClients : undefined
  if ((!clientCAs && !allowed) || !policy?.clientTrust) return undefined
  let ofSocket = verdicts.get(socket)
  if (!ofSocket) verdicts.set(socket, (ofSocket = new WeakMap()))
  let verdict = ofSocket.get(route)
  if (verdict === undefined) ofSocket.set(route, (verdict = judged(clientCAs, allowed, policy, socket)))
  return verdict ?? undefined
}

function judged(clientCAs: Route['clientCAs'], allowed: AllowedClients | undefined, policy: TlsPolicy, socket: TLSSocket): ClientRefusal | null {
  const leaf = peerLeaf(socket)
  if (!leaf) return null
  const code = clientCAs && outsideOwnCAs(clientCAs, policy.clientChain(socket))
  if (code) return { detail: "this route does not take certificates of your client certificate's CA", code }
  return allowed && !isAllowed(allowed, leaf.certificate(), leaf.fingerprint256) ? NOT_ALLOWED : null
}

/**
 * OpenSSL's code for a chain (leaf first) that reaches none of the route's own CAs; undefined where it
 * reaches one. On a resumed session whose chain is not known here (peer-certificates.ts), the leaf is
 * followed up through the host's CAs: a leaf issued by an intermediate that the client sent,
 * forgotten since, is refused, as what cannot be checked is.
 */
function outsideOwnCAs(clientCAs: NonNullable<Route['clientCAs']>, [leaf, ...sent]: readonly X509Certificate[]): string | undefined {
  if (!leaf) return NO_CERTIFICATE
  return pathToCa(clientCAs.own, leaf, [...sent, ...clientCAs.ofHost], new Date()).error
}

/** Whether the certificate carries a name of `allowed`, or has one of its fingerprints (`fingerprint256`, OpenSSL's colon-separated hex). */
function isAllowed(allowed: AllowedClients, certificate: X509Certificate, fingerprint256: string): boolean {
  return allowed.fingerprint.includes(fingerprint256.replaceAll(':', '').toLowerCase()) || carriesName(allowed, certificate)
}

/**
 * Whether the client of a connection under `policy` sent no certificate, where `route` requires one:
 * only on a host whose handshake takes a client without one (another of its routes has
 * clientCertRequired false); where the handshake requires one, there is one.
 */
function lacksRequiredCertificate(route: Route, policy: TlsPolicy | undefined, socket: TLSSocket): boolean {
  const { tls } = route.config
  if (!policy?.clientTrust || policy.requiresClientCert || typeof tls !== 'object' || !tls.clientCertRequired) return false
  return clientFingerprint(socket) === undefined
}
