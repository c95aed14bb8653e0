/**
 * What a policy server (ingress.ts) reports of each handshake: its route, client address and duration,
 * its verdict, and for a refused client certificate the certificate, for the refusal's log line.
 */
import type { X509Certificate } from 'node:crypto'
import type { Socket } from 'node:net'
import type { Server, TLSSocket } from 'node:tls'
import type { DispatchedRoute, HandshakeOutcome, TlsPolicyHooks } from './ingress.js'
import { chainErrorBeneathCrlVerdict } from './chain-path.js'
import { chainVerdict, keepRefusedPeerCertificate } from './peer-certificates.js'
import { failureReason, isCrlTrouble } from './reasons.js'
import { onRenegotiationAttempt } from './renegotiation.js'

/**
 * The TCP sockets a policy accepted: when, for which route, with which SNI, from which address, and the
 * certificate it refused.
 */
export class AcceptedSockets {
  private readonly byTcpSocket = new WeakMap<
    object,
    { at: number; route: string | undefined; serverName: string | undefined; clientAddress: string | undefined; refused?: X509Certificate[] }
  >()

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

  /**
   * Keeps the client certificate that verification refuses, for the refusal's log line; with its chain
   * where OpenSSL's verdict is a CRL's, for verificationResult.
   */
  keepRefusedCertificate(socket: TLSSocket): void {
    const entry = this.entryOf(socket)
    if (entry) keepRefusedPeerCertificate(socket, (chain) => (entry.refused = chain), isCrlTrouble)
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

  /** The client certificate that `socket`'s handshake refused: kept at its end, or still on a handshake that failed before. */
  refusedCertificate(socket: TLSSocket): X509Certificate | undefined {
    return this.entryOf(socket)?.refused?.[0] ?? socket.getPeerX509Certificate()
  }

  /** The chain kept of a refused handshake, where one was (keepRefusedCertificate). */
  refusedChain(socket: TLSSocket): X509Certificate[] | undefined {
    return this.entryOf(socket)?.refused
  }

  /** `socket` wraps an accepted TCP socket (`_parent`). */
  private entryOf(socket: TLSSocket) {
    return this.byTcpSocket.get((socket as unknown as { _parent: object })._parent)
  }
}

/**
 * Reports each handshake of `server`, and each renegotiation it refuses, and hands on the verified
 * connections. `clientCAs`: the policy's, if it asks for a certificate.
 */
export function reportHandshakes(
  server: Server,
  accepted: AcceptedSockets,
  clientCAs: readonly X509Certificate[] | undefined,
  onHandshake: TlsPolicyHooks['onHandshake'],
  onVerified: (socket: TLSSocket) => void,
): void {
  // Only connections whose client certificate verified (when the policy asks for one) get here.
  server.on('secureConnection', (socket: TLSSocket) => {
    onHandshake({ ...accepted.outcomeFields(socket), reason: 'none', resumed: socket.isSessionReused() })
    // A refused renegotiation is a refused handshake of the connection's route, and counts as each of
    // those does: in the counter and, so that the histogram's count stays the counter's, in the
    // duration histogram, with 0 s, as OpenSSL refuses it at its ClientHello, before any handshake work.
    onRenegotiationAttempt(socket, () => onHandshake({ ...accepted.outcomeFields(socket), durationSeconds: 0, reason: 'renegotiation', resumed: false }))
    onVerified(socket)
  })
  // Every failed handshake, including a certificate that did not verify: Node closes that connection
  // itself, which it reports here as a reset, with the verification result (verificationResult).
  server.on('tlsClientError', (error, socket) => {
    const verification = verificationResult(socket, accepted, clientCAs)
    const reason = verification ? failureReason(verification) : failureReason(error)
    const detail = verification ?? (error as { code?: string }).code
    const certificate = verification ? accepted.refusedCertificate(socket) : undefined
    onHandshake({ ...accepted.outcomeFields(socket), reason, ...(detail && { detail }), ...(certificate && { certificate }), resumed: false })
    socket.destroy()
  })
}

/**
 * OpenSSL's verdict on the client's certificate, as Node reports it in authorizationError once the
 * handshake is done; for a handshake that failed before, the verdict it had recorded on the connection
 * by then. OpenSSL checks the CRL of a leaf whose issuer the client did not send against the leaf's own
 * key when the CRL has no authorityKeyIdentifier; with RSA keys that leaves "invalid padding" on
 * OpenSSL's error queue, which ends the handshake (ERR_SSL_INVALID_PADDING) before Node records the
 * missing issuer. Only once a certificate came: without one, Node's verifyError() says
 * UNABLE_TO_GET_ISSUER_CERT. A CRL verdict on a chain that never reached the bundle gives way to the
 * chain's own (chainErrorBeneathCrlVerdict).
 */
function verificationResult(socket: TLSSocket, accepted: AcceptedSockets, clientCAs: readonly X509Certificate[] | undefined): string | undefined {
  const verdict = openSslVerdict(socket)
  return chainErrorBeneathCrlVerdict(verdict, accepted.refusedChain(socket), clientCAs)?.code ?? verdict
}

/** OpenSSL's last verification error, as Node holds it once the handshake is done or as it stands. */
function openSslVerdict(socket: TLSSocket): string | undefined {
  if (socket.authorizationError) return socket.authorizationError as unknown as string
  return socket.getPeerX509Certificate() ? chainVerdict(socket) : undefined
}
