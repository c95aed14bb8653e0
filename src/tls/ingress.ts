/**
 * Ingress TLS policies. Node's requestCert/rejectUnauthorized are per tls.Server, not per SNI context,
 * so every distinct client-auth policy (client CA bundle, CRLs, minimum version) gets its own
 * tls.Server. The HTTPS listener reads the SNI from the ClientHello and hands the socket to the policy
 * server of that host (see proxy/sni-dispatch.ts). Each policy's ticket keys and session id context
 * derive from its id (Node keeps no server-side session cache: tickets only), so a session never resumes
 * across policies (nginx CVE-2025-23419), and a reload that changes a policy's client CAs or CRLs,
 * which changes its id, never resumes a session verified against the old trust (Envoy
 * CVE-2022-21654). Within the hour its keys last, the same policy resumes the same tickets after a
 * reload, and on every worker unless its routes forward the client's chain (see TicketSecrets).
 */
import { constants, createHash, type X509Certificate } from 'node:crypto'
import { isIP, type Socket } from 'node:net'
import tls, { TLSSocket, type SecureContext } from 'node:tls'
import type { TlsVersion } from '../config/schema.js'
import { lookupHost, normalizeServerName } from '../routing/host.js'
import { AcceptedSockets, reportHandshakes } from './handshake-reports.js'
import type { ClientChains } from './peer-certificates.js'
import type { CertificateFile } from './pem.js'
import type { FailureReason } from './reasons.js'
import { ClientTrust } from './recheck.js'
import { ticketKeys, ticketLifetimeSeconds } from './ticket-keys.js'

/** Mozilla "intermediate": AEAD suites with forward secrecy only. TLS 1.3 suites must be named too. */
const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

/**
 * Key exchange groups: elliptic curves only, as Mozilla "intermediate" lists them, led by the
 * post-quantum hybrid X25519MLKEM768 where OpenSSL has it (3.5, Node 24). OpenSSL's default list also
 * takes ffdhe2048 to ffdhe8192 in TLS 1.3: a client that offers nothing else makes the server pay a
 * finite-field exchange per handshake, milliseconds of CPU for ffdhe8192 where X25519 takes a tenth of one.
 */
const GROUPS = ['X25519MLKEM768', 'X25519', 'P-256', 'P-384'].filter(knownToOpenSsl).join(':')

/** OpenSSL refuses a whole group list that names one group it does not know. */
function knownToOpenSsl(group: string): boolean {
  try {
    tls.createSecureContext({ ecdhCurve: group })
    return true
  } catch {
    return false
  }
}

/**
 * Client-initiated renegotiation is a CPU-exhaustion vector and never needed for HTTP/1.1 here; each
 * attempt is counted (renegotiation.ts). The server's cipher order, except that a client listing
 * ChaCha20 first (one without AES hardware, for which AES-GCM is slow) gets it, as Envoy's equal
 * preference groups, Go's (Caddy's) choice and nginx's client order give it.
 */
const SECURE_OPTIONS = constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_CIPHER_SERVER_PREFERENCE | constants.SSL_OP_PRIORITIZE_CHACHA

const HANDSHAKE_TIMEOUT_MS = 10_000

export interface HostCertificate {
  readonly certPem: string
  readonly keyPem: string
}

export interface TlsPolicySpec {
  /** The client CA bundle (readCaBundle); absent when the policy does not ask for a client certificate. */
  readonly clientCAs?: Pick<CertificateFile, 'pem' | 'certificates'>
  readonly crl: readonly string[]
  readonly minVersion: TlsVersion
  /** Certificates by lower-case host or `*.suffix` wildcard. */
  readonly hosts: ReadonlyMap<string, HostCertificate>
}

/** The route a ClientHello was dispatched to, as the snapshot that dispatched it knew it. */
export interface DispatchedRoute {
  readonly name: string
  readonly host: string
}

export interface HandshakeOutcome {
  /** The name of the route the handshake was for; undefined when the ClientHello named none. */
  readonly route: string | undefined
  /** The client's address, for the refusal log line. */
  readonly clientAddress: string | undefined
  readonly durationSeconds: number
  readonly reason: FailureReason
  /**
   * What OpenSSL or Node reported for a refusal (an error or X509 verification code), or what was
   * wrong with a malformed ClientHello (client-hello.ts's words); never client text.
   */
  readonly detail?: string
  /** The client's certificate that verification refused, for the refusal's log line (certificate-identity.ts). */
  readonly certificate?: X509Certificate
  readonly resumed: boolean
}

export interface TlsPolicyHooks {
  /** Called once per handshake, successful (reason 'none') or not. */
  readonly onHandshake: (outcome: HandshakeOutcome) => void
  /**
   * A connection that passed this policy's client authentication, ready for HTTP, with the SNI its
   * ClientHello carried (see AcceptedSockets.serverNameOf).
   */
  readonly onVerified: (socket: TLSSocket, policy: TlsPolicy, serverName: string | undefined) => void
}

export interface TlsPolicy {
  readonly id: string
  readonly requiresClientCert: boolean
  /** The oldest TLS version it takes. */
  readonly minVersion: TlsVersion
  /**
   * Hands an accepted TCP socket (ClientHello bytes unshifted back) to this policy's handshake, with
   * the SNI the ClientHello carried and the route it was dispatched to, if any (without SNI, an IP
   * address route): its host picks the certificate for a ClientHello without SNI, and its name labels
   * the handshake.
   */
  accept(socket: Socket, serverName: string | undefined, route?: DispatchedRoute): void
  /**
   * Its client CAs and CRLs, against which a WebSocket verified under another policy is checked again
   * after a reload (recheck.ts); undefined when it asks for no client certificate.
   */
  readonly clientTrust: ClientTrust | undefined
  /** The client's certificate chain, leaf first, resumed sessions included (see ClientChains). */
  clientChain(socket: TLSSocket): X509Certificate[]
  /** New tickets are made with the keys of `epoch`, and older ones no longer resume (ticket-keys.ts). */
  rotateTicketKeys(epoch: number): void
}

/** What a policy's ticket keys derive from, the period they are for, and how long each period's keys last. */
export interface PolicyTickets {
  readonly secret: Buffer
  readonly epoch: number
  readonly keyLifetimeMs: number
}

/** What a policy's id hashes: what decides client authentication. */
type ClientAuthSpec = Pick<TlsPolicySpec, 'crl' | 'minVersion'> & { readonly clientCAs?: Pick<NonNullable<TlsPolicySpec['clientCAs']>, 'pem'> }

/** Identical specs share one policy; the id hashes what decides client authentication. */
export function policyId(spec: ClientAuthSpec): string {
  return createHash('sha256')
    .update(JSON.stringify([spec.clientCAs?.pem ?? '', spec.crl, spec.minVersion]))
    .digest('hex')
    .slice(0, 16)
}

/**
 * A policy server: handshakes and verifies; a verified connection goes to `hooks.onVerified`. Its
 * session ticket keys derive from `tickets` (see ticket-keys.ts); `chains` are its clients'
 * remembered chains, which outlive a reload that keeps the policy, as its sessions do.
 */
export function createTlsPolicy(
  spec: TlsPolicySpec,
  hooks: TlsPolicyHooks,
  tickets: PolicyTickets,
  chains: ClientChains,
): TlsPolicy {
  const id = policyId(spec)
  const requiresClientCert = spec.clientCAs !== undefined
  const contextOptions = secureContextOptions(spec, id)
  const contexts = contextsByHost(spec.hosts, contextOptions)
  // For an SNI name the policy has no host for: the first route's certificate, as without SNI.
  const [fallbackContext] = contexts.values()
  const accepted = new AcceptedSockets()

  /** A policy server whose certificate for a ClientHello without SNI is `fallback`'s (none: no certificate). */
  const serverFor = (fallback: HostCertificate | undefined) => {
    const server = tls.createServer({
      ...contextOptions,
      cert: fallback?.certPem,
      key: fallback?.keyPem,
      // Node calls it as a method of the connection's TLSSocket (loadSNI in its lib/_tls_wrap.js): the
      // one hook before the handshake's end that holds the connection, for its refused certificate.
      SNICallback(this: unknown, serverName, callback) {
        if (this instanceof TLSSocket) accepted.keepRefusedCertificate(this)
        callback(null, findContext(contexts, serverName) ?? fallbackContext)
      },
      requestCert: requiresClientCert,
      // A client without a certificate gets the handshake aborted with a TLS alert (certificate_required
      // in TLS 1.3, handshake_failure in 1.2). A certificate that does not verify cannot get one from
      // Node: OpenSSL completes the handshake and Node closes the connection before reading a byte.
      rejectUnauthorized: requiresClientCert,
      // HTTP/1.0 too, as nginx selects it: otherwise a client offering only http/1.0 gets a fatal alert.
      ALPNProtocols: ['http/1.1', 'http/1.0'],
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      // OpenSSL makes and reads tickets with the keys of this, the server's own context, whichever
      // context SNI then picks.
      ticketKeys: ticketKeys(tickets.secret, id, tickets.epoch),
      // OpenSSL takes a new session's timeout, and so the ticket's lifetime hint, from this context too
      // (its session_ctx), never from the one SNI picks: set there, it would change nothing.
      sessionTimeout: ticketLifetimeSeconds(tickets.keyLifetimeMs),
    })
    reportHandshakes(server, accepted, spec.clientCAs?.certificates, hooks.onHandshake, (socket) => hooks.onVerified(socket, policy, accepted.serverNameOf(socket)))
    return server
  }
  // A ClientHello with SNI goes to a server with no certificate of its own, and its SNI callback
  // picks the one certificate served: Node 20 adds the certificate SNI picks beside the server's, in
  // the slot of its key type, and OpenSSL would serve the server's ECDSA certificate to a client
  // asking for a host whose one is RSA.
  const sniServer = serverFor(undefined)
  // Without SNI, the policy's first certificate; a route for an IP address (which clients reach
  // without SNI) gets a server of its own that serves its certificate.
  const [firstHost] = spec.hosts.values()
  const defaultServer = serverFor(firstHost)
  const addressServers = new Map([...spec.hosts].filter(([host]) => isIP(host)).map(([host, pair]) => [host, serverFor(pair)] as const))
  const serverOf = (serverName: string | undefined, route: DispatchedRoute | undefined) => {
    if (serverName !== undefined) return sniServer
    return (route !== undefined && addressServers.get(route.host)) || defaultServer
  }

  const policy: TlsPolicy = {
    id,
    requiresClientCert,
    minVersion: spec.minVersion,
    clientTrust: spec.clientCAs && new ClientTrust(spec.clientCAs.certificates, spec.crl),
    clientChain: (socket) => chains.of(socket),
    rotateTicketKeys(epoch) {
      const keys = ticketKeys(tickets.secret, id, epoch)
      for (const server of [sniServer, defaultServer, ...addressServers.values()]) server.setTicketKeys(keys)
    },
    accept(socket, serverName, route) {
      accepted.add(socket, route, serverName)
      serverOf(serverName, route).emit('connection', socket)
    },
  }

  return policy
}

/** What every context of a policy, and its servers' own, share. */
function secureContextOptions(spec: TlsPolicySpec, id: string): tls.SecureContextOptions {
  return {
    minVersion: spec.minVersion,
    ciphers: CIPHERS,
    ecdhCurve: GROUPS,
    secureOptions: SECURE_OPTIONS,
    // OpenSSL resumes only a session of the same id context, and takes the SNI context's when the
    // server's is its own. Node's default (the server's alone) hashes process.argv, the same for every
    // policy; the policy's own id keeps sessions apart even if ticket keys ever matched.
    sessionIdContext: id,
    // The same CAs and CRLs on every context of the policy: OpenSSL verifies against the context
    // chosen by SNI, and the CertificateRequest lists that context's CAs (and only those).
    ...(spec.clientCAs && { ca: spec.clientCAs.pem, crl: [...spec.crl] }),
  }
}

/**
 * One context per distinct certificate, shared by every host it serves: a context costs milliseconds
 * to build, and a wildcard or multi-SAN certificate often serves hundreds of hosts.
 */
function contextsByHost(hosts: TlsPolicySpec['hosts'], options: tls.SecureContextOptions): Map<string, SecureContext> {
  const contextOfPair = new Map<string, SecureContext>()
  const contexts = new Map<string, SecureContext>()
  for (const [host, pair] of hosts) {
    const key = `${pair.certPem}\0${pair.keyPem}`
    let context = contextOfPair.get(key)
    if (!context) contextOfPair.set(key, (context = tls.createSecureContext({ ...options, cert: pair.certPem, key: pair.keyPem })))
    contexts.set(host, context)
  }
  return contexts
}

/** undefined: a name the policy has no host for. */
function findContext(contexts: ReadonlyMap<string, SecureContext>, serverName: string): SecureContext | undefined {
  const host = normalizeServerName(serverName)
  return host === undefined ? undefined : lookupHost(contexts, host)
}
