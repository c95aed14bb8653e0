/**
 * Routes of one host with client CAs of their own (traefik#9202: `/partners` for one CA, `/staff` for
 * another). TLS asks for a certificate before the path is known, so the host's handshake verifies a
 * client against the CAs of all its routes (snapshot.ts), and each request is then held to its
 * route's own: the client's chain must lead to a CA of the route's bundle, as OpenSSL builds a chain
 * (chain-path.ts), else 403. A certificate of another route's CA never reaches this one
 * (emissary#3340), and CRLs and OCSP were the handshake's, as for every client.
 */
import type { X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import type { Route } from '../snapshot/snapshot.js'
import { pathToCa } from '../tls/chain-path.js'
import type { TlsPolicy } from '../tls/ingress.js'
import { clientFingerprint } from '../tls/peer-certificates.js'
import { NO_CERTIFICATE } from '../tls/recheck.js'

/**
 * Each connection's verdict for each route bundle it was held to (null: it reaches one): its
 * certificate never changes, and reading its chain costs. A reload makes new bundles, so a route whose
 * CAs changed is judged afresh.
 */
const verdicts = new WeakMap<TLSSocket, WeakMap<readonly X509Certificate[], string | null>>()

/**
 * Why `route` does not take the certificate the client of a connection verified under `policy` sent,
 * as OpenSSL's code for a chain that reaches none of the route's own CAs; undefined where it takes
 * it, or the route takes its host's CAs. A client that sent none is lacksRequiredCertificate's. On a
 * resumed session whose chain is not known here (peer-certificates.ts), the leaf is followed up
 * through the host's CAs: a leaf issued by an intermediate that the client sent, forgotten since, is
 * refused, as what cannot be checked is.
 */
export function routeClientCaRefusal(route: Route, policy: TlsPolicy | undefined, socket: TLSSocket): string | undefined {
  const { clientCAs } = route
  if (!clientCAs || !policy?.clientTrust || clientFingerprint(socket) === undefined) return undefined
  let ofSocket = verdicts.get(socket)
  if (!ofSocket) verdicts.set(socket, (ofSocket = new WeakMap()))
  let verdict = ofSocket.get(clientCAs.own)
  if (verdict === undefined) {
    const [leaf, ...sent] = policy.clientChain(socket)
    verdict = leaf ? (pathToCa(clientCAs.own, leaf, [...sent, ...clientCAs.ofHost], new Date()).error ?? null) : NO_CERTIFICATE
    ofSocket.set(clientCAs.own, verdict)
  }
  return verdict ?? undefined
}
