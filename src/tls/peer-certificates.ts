/**
 * The peer's certificate, as Node gives it on each of its versions. Of a verified client: the leaf
 * alone for X-Forwarded-Client-Cert, the chain for RFC 9440 Client-Cert-Chain and for the re-check of a
 * WebSocket after a reload (recheck.ts). Of a refused peer, client or upstream: OpenSSL's verdict, and
 * the certificate, for the refusal's log line: an upstream's kept before Node destroys the connection,
 * a client's read at its handshake's end.
 */
import { X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import { MAX_FOLLOWED_CHAIN } from './chain-path.js'

/** Leaves whose chains a policy remembers for their resumed sessions. */
const REMEMBERED_CHAINS = 1000

/**
 * The chains of one TLS policy's clients. A resumed session has only the leaf (OpenSSL keeps no chain
 * in a session or ticket), so the chain of the leaf's last full handshake is used, as BoringSSL
 * (Envoy) keeps it in the session itself. A chain is remembered when it is read on a full handshake's
 * connection (`of`: for a route that forwards it, or a re-check), not at every handshake, where reading
 * it would cost a fifth of the handshake or more; of the last REMEMBERED_CHAINS leaves, in this
 * process. Any other resumed session gets the leaf alone (see recheck.ts for what a re-check makes of
 * that).
 */
export class ClientChains {
  /** In the order of their last full handshake. */
  private readonly chainOfLeaf = new RecentByCertificate<X509Certificate[]>(REMEMBERED_CHAINS)

  of(socket: TLSSocket): X509Certificate[] {
    const chain = peerCertificateChain(socket)
    const fingerprint = chain[0]?.fingerprint256
    if (fingerprint === undefined) return chain
    if (socket.isSessionReused()) return this.chainOfLeaf.get(fingerprint) ?? chain
    this.chainOfLeaf.remember(fingerprint, chain)
    return chain
  }
}

/**
 * Something of each of the last `limit` client certificates remembered, by fingerprint, the oldest
 * first out: clients connect again and again with the same certificate, and one that stops coming
 * does not stay.
 */
export class RecentByCertificate<V> {
  private readonly byFingerprint = new Map<string, V>()

  constructor(private readonly limit: number) {}

  get(fingerprint: string): V | undefined {
    return this.byFingerprint.get(fingerprint)
  }

  /** Remembers `value` as the newest. */
  remember(fingerprint: string, value: V): void {
    this.byFingerprint.delete(fingerprint)
    this.byFingerprint.set(fingerprint, value)
    if (this.byFingerprint.size > this.limit) this.byFingerprint.delete(this.byFingerprint.keys().next().value!)
  }
}

/**
 * Every TLS policy's ClientChains, by policy id, for the life of the gateway: a reload that keeps a
 * policy keeps its sessions, and so the chains remembered for them.
 */
export class ClientChainsByPolicy {
  private readonly byId = new Map<string, ClientChains>()

  of(policyId: string): ClientChains {
    let chains = this.byId.get(policyId)
    if (!chains) this.byId.set(policyId, (chains = new ClientChains()))
    return chains
  }

  /** Forgets the policies a config no longer has. */
  keepOnly(policyIds: { has(id: string): boolean }): void {
    for (const id of this.byId.keys()) if (!policyIds.has(id)) this.byId.delete(id)
  }
}

/**
 * The client certificate chain of a connection, leaf first (as the client sent it, trust anchor
 * included when OpenSSL built it), of `limit` certificates at most. The legacy getPeerCertificate(true)
 * object is the only chain API that behaves the same on Node 20 and 24, and it converts every
 * certificate to JS: call it only when the chain is needed (RFC 9440 Client-Cert-Chain), and once per
 * connection.
 */
function peerCertificateChain(socket: TLSSocket, limit = Infinity): X509Certificate[] {
  const chain: X509Certificate[] = []
  const seen = new Set<string>()
  for (let cert = socket.getPeerCertificate(true); cert?.raw && !seen.has(cert.fingerprint256) && chain.length < limit; cert = cert.issuerCertificate) {
    seen.add(cert.fingerprint256)
    chain.push(new X509Certificate(cert.raw))
  }
  return chain
}

/**
 * The peer's own certificate, from the legacy object: getPeerX509Certificate() copies every certificate
 * the peer sent (and on Node 20 takes them out of the chain), which a refused peer may have made
 * hundreds.
 */
export function peerLeafAlone(socket: TLSSocket): X509Certificate | undefined {
  const leaf = socket.getPeerCertificate()
  return leaf?.raw ? new X509Certificate(leaf.raw) : undefined
}

/** The client sent a certificate (or, in a resumed session, had sent one in the session's handshake). */
export function sentCertificate(socket: TLSSocket): boolean {
  return socket.getPeerCertificate()?.raw !== undefined
}

/** Each verified connection's client certificate fingerprint; undefined where the client sent none. */
const fingerprintOfConnection = new WeakMap<TLSSocket, string | undefined>()

/**
 * The fingerprint of the certificate the client of a verified connection sent, undefined if none:
 * read once a connection, as a keep-alive client sends many requests on it and its certificate never
 * changes (renegotiation is refused).
 */
export function clientFingerprint(socket: TLSSocket): string | undefined {
  if (!fingerprintOfConnection.has(socket)) fingerprintOfConnection.set(socket, peerLeaf(socket)?.fingerprint256)
  return fingerprintOfConnection.get(socket)
}

/**
 * Whether getPeerX509Certificate() leaves the peer chain alone. On Node 20 and 22 a server socket's
 * call deletes from OpenSSL's own peer chain (the sk_X509_delete in Node's
 * X509Certificate::GetPeerCert, see nodejs/node#65579), and getPeerCertificate(true) then has no
 * intermediates for the rest of the connection: none for Client-Cert-Chain on a route reached after an
 * xfcc route, nor for the re-check of a connection after a reload (recheck.ts). Node 24 keeps the
 * chain: checked on 24.22, where ingress.test.ts shows it and fails where it does not (24.21, the one
 * other Node 24 these tests have run on, exposes no client chain at all: test/helpers/client.ts).
 */
const PEER_X509_KEEPS_CHAIN = Number(process.versions.node.split('.')[0]) >= 24

/** The client's own certificate: all that X-Forwarded-Client-Cert needs, without the chain's cost. */
export interface PeerLeaf {
  /** As Node prints it (`AB:CD:…`): which certificate it is, for the caller's cache. */
  readonly fingerprint256: string
  /** The certificate itself; where it is read from its DER, the caller can skip that for one it has seen. */
  certificate(): X509Certificate
}

/**
 * The client's own certificate. Where getPeerX509Certificate() would spoil the chain, from the legacy
 * object; reading that one's DER into an X509Certificate (OpenSSL 3.0, Node 20) costs more than the
 * rest of a proxied request, so it waits until `certificate()` is called.
 */
export function peerLeaf(socket: TLSSocket): PeerLeaf | undefined {
  if (PEER_X509_KEEPS_CHAIN) {
    const leaf = socket.getPeerX509Certificate()
    return leaf && { fingerprint256: leaf.fingerprint256, certificate: () => leaf }
  }
  const leaf = socket.getPeerCertificate()
  return leaf?.raw ? { fingerprint256: leaf.fingerprint256, certificate: () => new X509Certificate(leaf.raw) } : undefined
}

/**
 * OpenSSL's verdict on the peer's chain so far, as Node reads it (the internal verifyError() that
 * authorizationError is set from once the handshake is done): its code, or undefined while it passes.
 * Only at the handshake's end, or once the peer's certificate came: before that, Node 20's verifyError()
 * reads the connection's cipher without checking for one, and a connection without either crashes the
 * process (SIGSEGV).
 */
export function chainVerdict(socket: TLSSocket): string | undefined {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => { code?: string } | null } })._handle
  return typeof handle?.verifyError === 'function' ? (handle.verifyError()?.code ?? undefined) : undefined
}

/**
 * Hands `keep` the peer's certificates of a handshake whose chain OpenSSL refused (refusedPeerCertificates).
 * Node destroys such a connection in its own 'secure' listener, and the certificate goes with it, before
 * the error is reported: it is read in a listener that runs first, and only for a refused chain.
 */
export function keepRefusedPeerCertificates(
  socket: TLSSocket,
  keep: (chain: X509Certificate[]) => void,
  withChain: (verdict: string) => boolean,
): void {
  socket.prependOnceListener('secure', () => {
    const chain = refusedPeerCertificates(socket, withChain)
    if (chain) keep(chain)
  })
}

/**
 * The peer's certificate of a handshake whose chain OpenSSL refused, leaf first: the leaf alone, or
 * where `withChain` says so of OpenSSL's verdict, the chain the peer sent (which costs more to read), of
 * MAX_FOLLOWED_CHAIN + 1 certificates at most: a longer one is not followed (chain-path.ts). Node still
 * converts every certificate of the chain to JS, but none past the limit is parsed again, nor is the
 * chain copied once more for the leaf: a peer that sent 200 certificates cost 155 ms of CPU a handshake
 * on Node 20, and costs 89 (a bare Node TLS server: 48). Undefined while the chain passes, or without
 * a certificate.
 */
export function refusedPeerCertificates(socket: TLSSocket, withChain: (verdict: string) => boolean): X509Certificate[] | undefined {
  const verdict = chainVerdict(socket)
  if (!verdict) return undefined
  if (withChain(verdict)) return peerCertificateChain(socket, MAX_FOLLOWED_CHAIN + 1)
  const certificate = peerLeafAlone(socket)
  return certificate && [certificate]
}
