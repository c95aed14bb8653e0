/**
 * What a policy server (ingress.ts) reports of each handshake: its route, client address and duration,
 * its verdict, and for a refused client certificate the certificate, for the refusal's log line.
 */
import type { X509Certificate } from 'node:crypto'
import type { Socket } from 'node:net'
import type { Server, TLSSocket } from 'node:tls'
import { clientAddressOf, tcpSocketOf } from '../client-address.js'
import type { DispatchedRoute, HandshakeOutcome, TlsPolicyHooks } from './ingress.js'
import { CLIENT_AUTH, extendedUsageLacks } from './cert-checks.js'
import { chainErrorBeneathCrlVerdict } from './chain-path.js'
import { chainVerdict, peerLeaf, peerLeafAlone, refusedPeerCertificates, sentCertificate } from './peer-certificates.js'
import { unknownIssuerHint } from './unknown-issuer.js'
import { failureReason, isCrlTrouble } from './reasons.js'
import { RECHECK_FAILED, type RecheckVerdict } from './recheck.js'
import { onRenegotiationAttempt } from './renegotiation.js'

/** The TCP sockets a policy accepted: when, for which route, with which SNI, from which address. */
export class AcceptedSockets {
  private readonly byTcpSocket = new WeakMap<object, { at: number; route: string | undefined; serverName: string | undefined; clientAddress: string | undefined }>()

  add(socket: Socket, route: DispatchedRoute | undefined, serverName: string | undefined): void {
    // Read now: once a refused handshake has closed the socket, its address is gone.
    this.byTcpSocket.set(socket, { at: performance.now(), route: route?.name, serverName, clientAddress: clientAddressOf(socket) })
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

  /** `socket` wraps an accepted TCP socket. */
  private entryOf(socket: TLSSocket) {
    return this.byTcpSocket.get(tcpSocketOf(socket))
  }
}

/**
 * Has OpenSSL abort the handshake of a client that sends no certificate with a TLS alert
 * (certificate_required in TLS 1.3, handshake_failure in 1.2), as the server option
 * `rejectUnauthorized` would. A policy server leaves that option off: with it, Node would also close,
 * at the handshake's end and in its own 'secure' listener (onServerSocketSecure in lib/_tls_wrap.js),
 * the connection of a certificate that does not verify, before anything could answer it; without it,
 * that connection stays open for its 400, as nginx answers (reportHandshakes). Node cannot send an
 * alert for such a certificate: its OpenSSL verify callback accepts every chain, and Node checks the
 * verdict afterwards. The option sets OpenSSL's verify mode when the socket is made; this sets it
 * again, from a callback Node calls before OpenSSL asks for the certificate. Where none is called (a
 * client that offers neither SNI nor ALPN), or a Node without that method, a client without a
 * certificate completes its handshake and gets the 400 too.
 */
export function requireClientCertificate(socket: TLSSocket): void {
  const handle = (socket as unknown as { _handle?: { setVerifyMode?: (requestCert: boolean, rejectUnauthorized: boolean) => void } })._handle
  if (typeof handle?.setVerifyMode === 'function') handle.setVerifyMode(true, true)
}

/**
 * A policy's client authentication: its client CAs, whether a certificate is required, and with
 * tls.ocsp, the OCSP verdict on the certificate of a client its handshake verified.
 */
export interface ClientAuth {
  readonly cas: readonly X509Certificate[]
  readonly required: boolean
  readonly ocspVerdict?: (socket: TLSSocket) => Promise<RecheckVerdict>
}

/**
 * Reports each handshake of `server`, and each renegotiation it refuses, and hands on the verified
 * connections. `clientAuth`: the policy's client CAs, and whether a certificate is required, if it
 * asks for one.
 */
export function reportHandshakes(
  server: Server,
  accepted: AcceptedSockets,
  clientAuth: ClientAuth | undefined,
  hooks: Pick<TlsPolicyHooks, 'onHandshake' | 'onRefusedCertificate'>,
  onVerified: (socket: TLSSocket) => void,
): void {
  const { onHandshake } = hooks
  server.on('secureConnection', (socket: TLSSocket) => {
    // A refused renegotiation is a refused handshake of the connection's route, and counts as each of
    // those does: in the counter and, so that the histogram's count stays the counter's, in the
    // duration histogram, with 0 s, as OpenSSL refuses it at its ClientHello, before any handshake work.
    // On a connection refused for its certificate too, which stays open for the refusal's 400.
    onRenegotiationAttempt(socket, () => onHandshake({ ...accepted.outcomeFields(socket), durationSeconds: 0, reason: 'renegotiation', resumed: false }))
    // A certificate that did not verify, or none where no callback could ask for an alert
    // (requireClientCertificate): nothing but the refusal is sent on it. A refusal is never a
    // resumption, which counts successful handshakes alone, even where it resumed the ticket an earlier
    // refusal got.
    // Where a certificate is optional, a client that sent none is served without an identity.
    const refuse = (refused: Pick<HandshakeOutcome, 'reason' | 'detail' | 'certificate' | 'hint'>) => {
      onHandshake({ ...accepted.outcomeFields(socket), ...refused, resumed: false })
      // One whose client left while its OCSP status was asked has no one to answer, nor a close to come.
      if (!socket.destroyed) hooks.onRefusedCertificate(socket, refused.reason)
    }
    if (clientAuth && !verifiedClient(socket) && (clientAuth.required || sentCertificate(socket))) return refuse(refusal(socket, clientAuth.cas))
    const verified = () => {
      onHandshake({ ...accepted.outcomeFields(socket), reason: 'none', resumed: socket.isSessionReused() })
      onVerified(socket)
    }
    // With tls.ocsp, a client certificate's status is asked before the handshake is reported: it
    // counts in the handshake's duration, as nginx's ssl_ocsp holds the handshake for it. Nothing reads
    // the connection meanwhile.
    const ocsp = clientAuth?.ocspVerdict
    if (!ocsp || !sentCertificate(socket)) return verified()
    ocsp(socket).then(
      (verdict) => {
        if (verdict.pass) verified()
        else refuse({ reason: verdict.reason, detail: verdict.detail, certificate: verdict.certificate, ...(verdict.error && { hint: verdict.error.message }) })
      },
      (error: Error) => refuse({ reason: 'other', detail: RECHECK_FAILED, hint: error.message }),
    )
  })
  // Every other failed handshake: a client without a certificate, a verification that OpenSSL itself
  // aborted (refusal), and any that broke off or timed out.
  server.on('tlsClientError', (error, socket) => {
    onHandshake({ ...accepted.outcomeFields(socket), ...refusal(socket, clientAuth?.cas, error), resumed: false })
    socket.destroy()
  })
}

/**
 * A client of a policy that asks for a certificate, verified: authorized, and with a certificate. Node
 * 20 calls authorized a resumed TLS 1.3 session without one (its VerifyPeerCertificate passes those, for
 * PSK), and there are such sessions: a client that offers neither SNI nor ALPN and sends no
 * certificate completes its handshake, for its 400, and gets session tickets like any other.
 */
function verifiedClient(socket: TLSSocket): boolean {
  return socket.authorized && (!socket.isSessionReused() || peerLeaf(socket) !== undefined)
}

/**
 * Why a handshake was refused, and the client's certificate where its verification refused it: OpenSSL's
 * verdict on the certificate, as Node reports it in authorizationError once the handshake is done, or
 * for a handshake that failed before, the verdict it had recorded on the connection by then; without
 * one, `error`, or at the handshake's end, no certificate. OpenSSL checks the CRL of a leaf whose
 * issuer the client did not send against the leaf's own key when the CRL has no authorityKeyIdentifier;
 * with RSA keys that leaves "invalid padding" on OpenSSL's error queue, which ends the handshake
 * (ERR_SSL_INVALID_PADDING) before Node records the missing issuer. A CRL verdict on a chain that never
 * reached the bundle gives way to the chain's own (chainErrorBeneathCrlVerdict).
 */
function refusal(socket: TLSSocket, clientCAs: readonly X509Certificate[] | undefined, error?: Error): Pick<HandshakeOutcome, 'reason' | 'detail' | 'certificate' | 'hint'> {
  // The chain only at the handshake's end: before it, Node's verifyError() reads the connection's
  // cipher, and crashes the process where there is none yet and no certificate came (openSslVerdict
  // asks it only once one did).
  const chain = error ? undefined : refusedPeerCertificates(socket, isCrlTrouble)
  const certificate = chain?.[0] ?? peerLeafAlone(socket)
  const verdict = openSslVerdict(socket, certificate)
  const verification = chainErrorBeneathCrlVerdict(verdict, chain, clientCAs)?.code ?? verdict
  if (verification) {
    const reason = failureReason(verification)
    // The leaf alone where the chain was not read: a CA of its issuer's name with another key is what it tells.
    const hint =
      reason === 'unknown_ca' && certificate
        ? unknownIssuerHint(chain ?? [certificate], clientCAs, 'client')
        : verification === 'INVALID_PURPOSE' && certificate
          ? clientUsageHint(certificate)
          : undefined
    return { reason, detail: verification, ...(certificate && { certificate }), ...(hint && { hint }) }
  }
  // A handshake that completed without a certificate: its client offered neither SNI nor ALPN.
  if (!error) return { reason: 'no_client_cert' }
  const code = (error as { code?: string }).code
  return { reason: failureReason(error), ...(code && { detail: code }) }
}

/**
 * What to change where OpenSSL refused the client's leaf for its extended key usage: a certificate
 * signed for servers only (`extendedKeyUsage = serverAuth`, or a server's certificate reused), which
 * step 8 of the ngrok recipe signs with clientAuth. Undefined where the leaf has clientAuth, or none
 * (any usage): then a CA of the chain is the one its usage refused.
 */
function clientUsageHint(certificate: X509Certificate): string | undefined {
  if (!extendedUsageLacks(certificate, CLIENT_AUTH)) return undefined
  return 'the client certificate\'s extended key usage lacks clientAuth: sign it again with it, as openssl x509 -req … -extfile <(printf "extendedKeyUsage = clientAuth") does'
}

/**
 * OpenSSL's last verification error on the client's `certificate`, as Node holds it once the handshake
 * is done or as it stands. None without a certificate (where Node's says UNABLE_TO_GET_ISSUER_CERT).
 */
function openSslVerdict(socket: TLSSocket, certificate: X509Certificate | undefined): string | undefined {
  if (!certificate) return undefined
  return (socket.authorizationError as unknown as string | undefined) ?? chainVerdict(socket)
}
