/**
 * What a policy server (ingress.ts) reports of each handshake: its route, client address and duration,
 * its verdict, and for a refused client certificate the certificate, for the refusal's log line.
 */
import type { X509Certificate } from 'node:crypto'
import type { Socket } from 'node:net'
import type { Server, TLSSocket } from 'node:tls'
import type { DispatchedRoute, HandshakeOutcome, TlsPolicyHooks } from './ingress.js'
import { chainErrorBeneathCrlVerdict } from './chain-path.js'
import { chainVerdict, refusedPeerCertificates } from './peer-certificates.js'
import { failureReason, isCrlTrouble } from './reasons.js'
import { onRenegotiationAttempt } from './renegotiation.js'

/** The TCP sockets a policy accepted: when, for which route, with which SNI, from which address. */
export class AcceptedSockets {
  private readonly byTcpSocket = new WeakMap<object, { at: number; route: string | undefined; serverName: string | undefined; clientAddress: string | undefined }>()

  add(socket: Socket, route: DispatchedRoute | undefined, serverName: string | undefined): void {
    // Read now: once a refused handshake has closed the socket, its address is gone.
    this.byTcpSocket.set(socket, { at: performance.now(), route: route?.name, serverName, clientAddress: socket.remoteAddress })
  }

  /**
   * The SNI the ClientHello of `socket` carried. Not Node's socket.servername, which Node 20 leaves
   * empty on a resumed TLS 1.2 session.
   */
  serverNameOf(socket: TLSSocket): string | undefined {
    return this.entryOf(socket)?.serverName
  }

  /** The outcome fields of the handshake of `socket`. */
  outcomeFields(socket: TLSSocket): Pick<HandshakeOutcome, 'route' | 'clientAddress' | 'durationSeconds'> {
    const entry = this.entryOf(socket)
    return {
      route: entry?.route,
      clientAddress: entry?.clientAddress,
      durationSeconds: (performance.now() - (entry?.at ?? performance.now())) / 1000,
    }
  }

  /** `socket` wraps an accepted TCP socket (`_parent`). */
  private entryOf(socket: TLSSocket) {
    return this.byTcpSocket.get((socket as unknown as { _parent: object })._parent)
  }
}

/**
 * Lets the handshake of a client certificate that does not verify complete, for its request to be
 * answered 400 (reportHandshakes), as nginx answers it, where Node would close the connection before
 * reading a byte. Node can send no alert for such a certificate either way: its OpenSSL verify callback
 * accepts every chain, and Node checks the verdict at the handshake's end, in its own 'secure'
 * listener, which closes the connection where `_rejectUnauthorized` holds (onServerSocketSecure in
 * Node's lib/_tls_wrap.js, Node 20 and 24). That field is read there alone: OpenSSL's verify mode,
 * set from the same option when the socket was made, still aborts the handshake of a client without
 * a certificate with an alert.
 */
export function completeRefusedHandshake(socket: TLSSocket): void {
  ;(socket as unknown as { _rejectUnauthorized: boolean })._rejectUnauthorized = false
}

/**
 * Reports each handshake of `server`, and each renegotiation it refuses, and hands on the verified
 * connections. `clientCAs`: the policy's, if it asks for a certificate.
 */
export function reportHandshakes(
  server: Server,
  accepted: AcceptedSockets,
  clientCAs: readonly X509Certificate[] | undefined,
  hooks: Pick<TlsPolicyHooks, 'onHandshake' | 'onRefusedCertificate'>,
  onVerified: (socket: TLSSocket) => void,
): void {
  const { onHandshake } = hooks
  server.on('secureConnection', (socket: TLSSocket) => {
    // A certificate that did not verify, on a connection completeRefusedHandshake kept open. Whatever
    // kept it open, nothing but the refusal is sent on it. A refusal is never a resumption, which counts
    // successful handshakes alone, even where it resumed the ticket an earlier refusal got.
    if (clientCAs && !socket.authorized) {
      const refused = refusal(socket, clientCAs)
      onHandshake({ ...accepted.outcomeFields(socket), ...refused, resumed: false })
      hooks.onRefusedCertificate(socket, refused.reason)
      return
    }
    onHandshake({ ...accepted.outcomeFields(socket), reason: 'none', resumed: socket.isSessionReused() })
    // A refused renegotiation is a refused handshake of the connection's route, and counts as each of
    // those does: in the counter and, so that the histogram's count stays the counter's, in the
    // duration histogram, with 0 s, as OpenSSL refuses it at its ClientHello, before any handshake work.
    onRenegotiationAttempt(socket, () => onHandshake({ ...accepted.outcomeFields(socket), durationSeconds: 0, reason: 'renegotiation', resumed: false }))
    onVerified(socket)
  })
  // Every other failed handshake, a certificate that did not verify among them where Node closed the
  // connection itself (no callback that calls completeRefusedHandshake ran: the client offered neither
  // SNI nor ALPN, or resumed a session without ALPN), which it reports here as a reset, with the
  // verification result.
  server.on('tlsClientError', (error, socket) => {
    onHandshake({ ...accepted.outcomeFields(socket), ...refusal(socket, clientCAs, error), resumed: false })
    socket.destroy()
  })
}

/**
 * Why a handshake was refused, and the client's certificate where its verification refused it: OpenSSL's
 * verdict on the certificate, as Node reports it in authorizationError once the handshake is done, or
 * for a handshake that failed before, the verdict it had recorded on the connection by then; without
 * one, `error`. OpenSSL checks the CRL of a leaf whose issuer the client did not send against the leaf's
 * own key when the CRL has no authorityKeyIdentifier; with RSA keys that leaves "invalid padding" on
 * OpenSSL's error queue, which ends the handshake (ERR_SSL_INVALID_PADDING) before Node records the
 * missing issuer. Only once a certificate came: without one, Node's verifyError() says
 * UNABLE_TO_GET_ISSUER_CERT. A CRL verdict on a chain that never reached the bundle gives way to the
 * chain's own (chainErrorBeneathCrlVerdict).
 */
function refusal(socket: TLSSocket, clientCAs: readonly X509Certificate[] | undefined, error?: Error): Pick<HandshakeOutcome, 'reason' | 'detail' | 'certificate'> {
  // The chain only at the handshake's end: before it, Node's verifyError() reads the connection's
  // cipher, and crashes the process where there is none yet and no certificate came (openSslVerdict
  // asks it only once one did). Read first: on Node 20 the leaf's read spoils the chain.
  const chain = error ? undefined : refusedPeerCertificates(socket, isCrlTrouble)
  const verdict = openSslVerdict(socket)
  const verification = chainErrorBeneathCrlVerdict(verdict, chain, clientCAs)?.code ?? verdict
  if (verification) {
    const certificate = chain?.[0] ?? socket.getPeerX509Certificate()
    return { reason: failureReason(verification), detail: verification, ...(certificate && { certificate }) }
  }
  const code = (error as { code?: string } | undefined)?.code
  return { reason: error ? failureReason(error) : 'other', ...(code && { detail: code }) }
}

/** OpenSSL's last verification error, as Node holds it once the handshake is done or as it stands. */
function openSslVerdict(socket: TLSSocket): string | undefined {
  if (socket.authorizationError) return socket.authorizationError as unknown as string
  return socket.getPeerX509Certificate() ? chainVerdict(socket) : undefined
}
