/**
 * One keep-alive connection pool per upstream identity: origin, serverName, CA, CRLs, client cert and
 * key, verification, and connect and idle timeouts (identityKey). Two routes with the same identity
 * share a pool; different identities never share a socket, so a client certificate is never presented
 * on another route's behalf. The pool is undici's `Pool` rather than a keep-alive `https.Agent`: it
 * proxies at twice the throughput (README, "Why undici for the upstream pool").
 */
import { createHash, X509Certificate } from 'node:crypto'
import type { Socket } from 'node:net'
import { checkServerIdentity as nodeCheckServerIdentity, createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls'
import { buildConnector, Pool } from 'undici'
import type { CertificateNames, UpstreamConfig, UpstreamUrl } from '../config/types.js'
import { hostInUrl } from '../routing/host.js'
import { withPeerCertificate } from './certificate-identity.js'
import { carriesName, subjectAltNames } from './certificate-names.js'
import { chainErrorBeneathCrlVerdict } from './chain-path.js'
import type { ConnectionAnswers } from './connection-answers.js'
import { resumeParserAtEnd } from './paused-parser-end.js'
import { keepRefusedPeerCertificates } from './peer-certificates.js'
import { failureReason, isCrlTrouble } from './reasons.js'
import { boundedForLog } from './subject.js'
import { unknownIssuerHint } from './unknown-issuer.js'

export interface UpstreamIdentity {
  /** scheme://host:port */
  readonly origin: string
  readonly serverName: string
  readonly ca?: string
  /** `ca`'s certificates, read once at load. */
  readonly caCertificates?: readonly X509Certificate[]
  /** PEM CRLs, one each (pem.ts readCrl). */
  readonly crl: readonly string[]
  readonly cert?: string
  readonly key?: string
  /** The names its certificate is verified by, in place of serverName (upstream.subjectAltNames). */
  readonly subjectAltNames?: CertificateNames
  readonly insecureSkipVerify: boolean
  readonly connectTimeout: number
  /** How long an idle connection stays in the pool. */
  readonly idleTimeout: number
}

/** What the TLS handshake of a new upstream connection reports, for handshake metrics. */
export interface UpstreamHandshakeEvent {
  readonly durationSeconds: number
  readonly resumed: boolean
  readonly error?: Error
}

/** The identity of one url of `upstream`, with the PEM of the files it names. */
export function upstreamIdentity(
  upstream: UpstreamConfig,
  { hostname, port, serverName }: UpstreamUrl,
  pem: { ca?: string; caCertificates?: readonly X509Certificate[]; crl: readonly string[]; cert?: string; key?: string },
): UpstreamIdentity {
  return {
    origin: `${upstream.protocol}//${hostInUrl(hostname)}:${port}`,
    serverName,
    ...pem,
    ...(upstream.subjectAltNames && { subjectAltNames: upstream.subjectAltNames }),
    insecureSkipVerify: upstream.insecureSkipVerify,
    connectTimeout: upstream.timeouts.connect,
    idleTimeout: upstream.timeouts.idle,
  }
}

/**
 * Pools are shared by this key; it hashes the PEM bytes so a rotated file makes a new identity. A new
 * CA or CRL must: a pool's connections resume its TLS session, which is not verified again, so the old
 * pool would go on reaching an upstream that the new CAs or CRLs refuse.
 */
export function identityKey(identity: UpstreamIdentity): string {
  const hash = createHash('sha256')
  for (const part of [
    identity.origin,
    identity.serverName,
    identity.ca ?? '',
    JSON.stringify(identity.crl),
    identity.cert ?? '',
    identity.key ?? '',
    JSON.stringify(identity.subjectAltNames ?? null),
    String(identity.insecureSkipVerify),
    String(identity.connectTimeout),
    String(identity.idleTimeout),
  ]) {
    hash.update(part).update('\0')
  }
  return hash.digest('hex')
}

/**
 * undici takes the SNI from each request's Host header unless told otherwise, and drops the pooled
 * connection whenever that name changes; a client could then choose the name we verify and churn the
 * pool. Every request therefore carries this fixed token, and the connector below sends the configured
 * serverName (or no SNI for an IP-literal upstream without one).
 */
export function poolServerNameToken(identity: UpstreamIdentity): string {
  return identity.serverName || new URL(identity.origin).hostname
}

/**
 * The TLS context of an https identity's connections (its CA, CRLs, client certificate and key), made
 * once, at load: OpenSSL's refusal of them (a key or CRL it will not use) fails the load rather than
 * every request with 502. Every connection of the identity's pool then uses it.
 * undefined for a plaintext upstream.
 */
export function upstreamTlsContext(identity: UpstreamIdentity): SecureContext | undefined {
  if (!identity.origin.startsWith('https:')) return undefined
  return createSecureContext({
    ...(identity.ca !== undefined && { ca: identity.ca }),
    // With CRLs, OpenSSL checks the CRL of every CA of the upstream's chain (see tls/crl-issuers.ts).
    crl: [...identity.crl],
    ...(identity.cert !== undefined && { cert: identity.cert, key: identity.key }),
    minVersion: 'TLSv1.2',
  })
}

/**
 * `context`: upstreamTlsContext's for the identity. `onHandshake`: each TLS handshake (or failed
 * connect) of an https upstream; a plaintext upstream has none. `answers` tracks the pool's connections.
 * `destroyed` is to abort after the pool's destroy(): it ends every socket of the pool at once, connects
 * in progress too. undici's destroy() leaves each of those to run to its connect timeout (it drops the
 * socket only once connected), and a stopping gateway would wait that long for its last sockets to
 * close; Envoy and nginx abort pending upstream connects at shutdown.
 */
export function createUpstreamPool(
  identity: UpstreamIdentity,
  context: SecureContext | undefined,
  onHandshake: (event: UpstreamHandshakeEvent) => void,
  answers: ConnectionAnswers,
  destroyed: AbortSignal,
): Pool {
  const connectorOptions = {
    timeout: identity.connectTimeout,
    ...(context && { secureContext: context }),
    rejectUnauthorized: !identity.insecureSkipVerify,
    checkServerIdentity: identity.subjectAltNames ? carriesOneOf(identity.subjectAltNames) : checkServerIdentity,
  }
  const servername = identity.serverName || undefined
  const tls = identity.origin.startsWith('https:')
  // undici's own session cache holds sessions through WeakRefs, so a GC drops them and new upstream
  // connections do full handshakes. The pool keeps its latest session and offers it on every connect.
  // No other pool offers it (the connector, and undici's cache with it, is made anew at each connect),
  // so it is retired with its pool: a new CA or CRL is never skipped by a resumed session.
  let session: Buffer | undefined
  const rememberSession = (tlsSocket: TLSSocket) => {
    // TLS 1.2 has its session now; TLS 1.3 tickets arrive after the handshake.
    session = tlsSocket.getSession() ?? session
    tlsSocket.on('session', (ticket: Buffer) => (session = ticket))
  }
  return new Pool(identity.origin, {
    // timeouts.idle, in place of undici's 4 s: a handshake costs far more than an idle connection. An
    // upstream's Keep-Alive hint (timeout=N) shortens it (undici keeps the connection N - 2 s), never
    // lengthens it: the setting is there for upstreams whose idle timeout is shorter than the default.
    keepAliveTimeout: identity.idleTimeout,
    keepAliveMaxTimeout: identity.idleTimeout,
    connect(connectOptions, callback) {
      const started = performance.now()
      const aborted = socketSignal(destroyed)
      const connect = buildConnector({ ...connectorOptions, signal: aborted.signal, ...(session && { session }) })
      let refusedChain: X509Certificate[] | undefined
      const socket = connect({ ...connectOptions, servername }, (connectError, socket) => {
        const durationSeconds = (performance.now() - started) / 1000
        const error = connectError && connectFailure(connectError, refusedChain, identity.caCertificates)
        refusedChain = undefined
        if (error) {
          // A connect the destroy ended is no handshake of the upstream's, nor a failure to reach it.
          if (!destroyed.aborted) {
            connectFailures.add(error)
            if (tls) onHandshake({ durationSeconds, resumed: false, error })
          }
          return callback(error, null)
        }
        if (tls) {
          rememberSession(socket as TLSSocket)
          reportHandshake(socket as TLSSocket, durationSeconds, onHandshake)
        }
        answers.track(socket as Socket)
        callback(null, socket!)
      }) as unknown as TLSSocket | undefined
      // undici's connector returns the socket it made (its types say void).
      if (socket) {
        socket.once('close', aborted.release)
        resumeParserAtEnd(socket)
        if (tls) keepRefusedPeerCertificates(socket, (chain) => (refusedChain = chain), withRefusedChain)
      } else {
        aborted.release()
      }
      return socket
    },
  })
}

/** The errors of connects that failed: undici fails the requests waiting for the connection with them. */
const connectFailures = new WeakSet<Error>()

/**
 * Whether a request failed because its pool could not open a connection (refused, timed out, no such
 * host, a TLS handshake that failed): the upstream never had it.
 */
export function isConnectFailure(error: Error): boolean {
  return connectFailures.has(error)
}

/**
 * The verdicts whose refused chain is kept whole, not the leaf alone: a CRL's (connectFailure may find
 * the chain's own verdict beneath it) and an unknown CA's (whose hint says which CA is missing).
 */
const withRefusedChain = (verdict: string) => isCrlTrouble(verdict) || failureReason(verdict) === 'unknown_ca'

/**
 * What a failed connect reports. A CRL verdict on a chain that never reached upstream.ca gives way to
 * the chain's own, as the ingress reports a client's (handshake-reports.ts); a refused chain or name
 * names its certificate in the log line (certificate-identity.ts), and an unknown CA's says which CA
 * is missing (unknown-issuer.ts).
 */
function connectFailure(connectError: Error, refusedChain: readonly X509Certificate[] | undefined, caCertificates: UpstreamIdentity['caCertificates']): Error {
  const code = (connectError as NodeJS.ErrnoException).code
  const error = chainErrorBeneathCrlVerdict(code, refusedChain, caCertificates) ?? connectError
  const refusedLeaf = refusedChain?.[0]
  if (refusedLeaf) {
    const hint = failureReason(error) === 'unknown_ca' ? unknownIssuerHint(refusedChain, caCertificates, 'upstream') : undefined
    withPeerCertificate(error, refusedLeaf, hint)
  }
  return error
}

/** A completed handshake, reported at once; in TLS 1.3, once the server has judged the client certificate (onTls13Verdict). */
function reportHandshake(tlsSocket: TLSSocket, durationSeconds: number, onHandshake: (event: UpstreamHandshakeEvent) => void): void {
  const resumed = tlsSocket.isSessionReused()
  if (tlsSocket.getProtocol() === 'TLSv1.3') {
    onTls13Verdict(tlsSocket, (refusal) => onHandshake({ durationSeconds, resumed, ...(refusal && { error: refusal }) }))
  } else {
    onHandshake({ durationSeconds, resumed })
  }
}

/**
 * A signal of one socket's own, which `destroyed` aborts until `release` (at the socket's close). Not
 * `destroyed` itself: Node 20 keeps the listener a socket adds to its signal after the socket has
 * closed, and the pool's signal held every socket the pool ever closed, with its buffers (30,000
 * closed upstream connections: 800 MB).
 */
function socketSignal(destroyed: AbortSignal): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController()
  const abort = () => controller.abort()
  if (destroyed.aborted) abort()
  else destroyed.addEventListener('abort', abort, { once: true })
  return { signal: controller.signal, release: () => destroyed.removeEventListener('abort', abort) }
}

/** Node's check of the upstream's name, whose refusal keeps the certificate it refused (withPeerCertificate). */
function checkServerIdentity(hostname: string, certificate: PeerCertificate): Error | undefined {
  const error = nodeCheckServerIdentity(hostname, certificate)
  if (error) withPeerCertificate(error, new X509Certificate(certificate.raw))
  return error
}

/**
 * upstream.subjectAltNames' check of the upstream's certificate, in place of Node's by name: it must
 * carry one of `names`. A refusal is Node's own error for a name that does not match, with the
 * certificate it refused, so that it is counted and logged as one (hostname_mismatch).
 */
function carriesOneOf(names: CertificateNames): (hostname: string, certificate: PeerCertificate) => Error | undefined {
  return (_hostname, certificate) => {
    const x509 = new X509Certificate(certificate.raw)
    if (carriesName(names, x509)) return undefined
    const listed = [...(names.uri ?? []), ...(names.dns ?? [])].join(', ')
    const error = Object.assign(new Error(`the upstream's certificate carries none of upstream.subjectAltNames (${listed})`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
    const carried = [...subjectAltNames(x509, 'URI'), ...subjectAltNames(x509, 'DNS')].join(', ') || 'no URI or DNS name'
    withPeerCertificate(error, x509, `it carries ${boundedForLog(carried)}: list one in upstream.subjectAltNames, or have it issued for one listed`)
    return error
  }
}

/**
 * A TLS 1.3 server checks the client's certificate after the client's side of the handshake is done,
 * and refuses it with an alert, or a bare close, that arrives where the response would. So a TLS 1.3
 * handshake counts once the first response bytes arrive; an alert or a close by the server before
 * them is its failure (a server that closes a new connection unanswered is counted so too: that is
 * how Node refuses a certificate). What undici does to the socket itself (a timeout, a client gone, a
 * shutdown) destroys it with an error of its own, which says nothing against the handshake.
 */
function onTls13Verdict(socket: TLSSocket, verdict: (refusal?: Error) => void): void {
  const settle = (refusal?: Error) => {
    socket.off('readable', onReadable).off('error', onError).off('end', onEnd).off('close', onClose)
    verdict(refusal)
  }
  // Registered before undici's own listeners, so this sees the first bytes before undici reads them.
  const onReadable = () => socket.readableLength > 0 && settle()
  const onError = (error: NodeJS.ErrnoException) => {
    if (error.code?.startsWith('UND_ERR')) return settle()
    settle(error)
    // Node leaves the socket open after an alert; undici would then fail the request with the close
    // that follows ('other side closed'), and the log would call a refused certificate a reset.
    socket.destroy(error)
  }
  const onEnd = () => settle(Object.assign(new Error('upstream closed the connection before answering'), { code: 'ECONNRESET' }))
  const onClose = () => settle()
  socket.on('readable', onReadable).once('error', onError).once('end', onEnd).once('close', onClose)
}
