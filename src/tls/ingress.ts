/**
 * Ingress TLS policies. Node's requestCert/rejectUnauthorized are per tls.Server, not per SNI context,
 * so every distinct client-auth policy (client CA bundle, whether a certificate is required, CRLs,
 * OCSP, minimum version) gets tls.Servers of its own, one per certificate. The HTTPS listener reads the SNI from the ClientHello and hands the
 * socket to the policy server of that host (see proxy/sni-dispatch.ts). Each policy's ticket keys and
 * session id contexts derive from its id (Node keeps no server-side session cache: tickets only), so a
 * session never resumes across policies (nginx CVE-2025-23419), and a reload that changes a policy's
 * client CAs or CRLs, which changes its id, never resumes a session verified against the old trust
 * (Envoy CVE-2022-21654). Within the hour its keys last, the same policy resumes the same tickets
 * after a reload, and on every worker unless its routes forward the client's chain (see TicketSecrets).
 */
import { constants, createHash, type X509Certificate } from 'node:crypto'
import type { Socket } from 'node:net'
import tls, { TLSSocket } from 'node:tls'
import type { TlsVersion } from '../config/schema.js'
import type { OcspConfig } from '../config/types.js'
import { AcceptedSockets, reportHandshakes, requireClientCertificate, type ClientAuth } from './handshake-reports.js'
import type { OcspLookups } from './ocsp-lookups.js'
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
 * P-521 comes last, for client certificates: in TLS 1.2 OpenSSL refuses a client's EC key on a curve
 * that is not in this list (WRONG_CURVE, an illegal_parameter alert), and nginx's default list has it.
 */
const GROUPS = ['X25519MLKEM768', 'X25519', 'P-256', 'P-384', 'P-521'].filter(knownToOpenSsl).join(':')

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

/** The ALPN protocols the policy servers select, in the order they prefer them. */
const HTTP_1_PROTOCOLS = ['http/1.1', 'http/1.0']

export interface HostCertificate {
  readonly certPem: string
  readonly keyPem: string
}

export interface TlsPolicySpec {
  /** The client CA bundle (readCaBundle); absent when the policy does not ask for a client certificate. */
  readonly clientCAs?: Pick<CertificateFile, 'pem' | 'certificates'>
  /** With clientCAs: false serves a client that sends no certificate too (tls.clientCertRequired). */
  readonly clientCertRequired: boolean
  /** PEM CRLs, one each, that refuse client certificates (RouteFiles.crlPems); empty without tls.crl. */
  readonly crl: readonly string[]
  /** The oldest TLS version a client may handshake with. */
  readonly minVersion: TlsVersion
  /** With clientCAs: the OCSP lookups of client certificates (tls.ocsp). */
  readonly ocsp?: OcspConfig
  /** Certificates by lower-case host or `*.suffix` wildcard. */
  readonly hosts: ReadonlyMap<string, HostCertificate>
}

/** The route a ClientHello was dispatched to, as the snapshot that dispatched it knew it. */
export interface DispatchedRoute {
  readonly name: string
  readonly host: string
}

export interface HandshakeOutcome {
  /**
   * The name of the route the handshake was for: the one of its SNI host, or without SNI of the address
   * the client reached. Undefined where no route has that host, or the connection never got to a
   * handshake (proxy/sni-dispatch.ts).
   */
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
  /** What to change, where the refusal says it (unknown-issuer.ts), for the refusal's log line. */
  readonly hint?: string
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
  /**
   * A connection whose client certificate did not verify, or that sent none where no alert could
   * refuse it (requireClientCertificate), its handshake complete and reported: it is to be answered
   * with the refusal and closed, and nothing else.
   */
  readonly onRefusedCertificate: (socket: TLSSocket, reason: FailureReason) => void
}

export interface TlsPolicy {
  readonly id: string
  /** It refuses a client without a certificate (clientCAs, and clientCertRequired). */
  readonly requiresClientCert: boolean
  /** The oldest TLS version it takes. */
  readonly minVersion: TlsVersion
  /**
   * Hands an accepted TCP socket (ClientHello bytes unshifted back) to this policy's handshake, with
   * the SNI the ClientHello carried and the route it was dispatched to, if any (the route of its SNI
   * host, or without SNI an IP address route): its host picks the certificate, and its name labels the
   * handshake.
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
type ClientAuthSpec = Pick<TlsPolicySpec, 'clientCertRequired' | 'crl' | 'minVersion' | 'ocsp'> & { readonly clientCAs?: Pick<NonNullable<TlsPolicySpec['clientCAs']>, 'pem'> }

/** Identical specs share one policy; the id hashes what decides client authentication. */
export function policyId(spec: ClientAuthSpec): string {
  return createHash('sha256')
    .update(JSON.stringify([spec.clientCAs?.pem ?? '', spec.clientCertRequired, spec.crl, spec.minVersion, spec.ocsp ?? null]))
    .digest('hex')
    .slice(0, 16)
}

/**
 * A policy server: handshakes and verifies; a verified connection goes to `hooks.onVerified`. Its
 * session ticket keys derive from `tickets` (see ticket-keys.ts); `chains` are its clients'
 * remembered chains, which outlive a reload that keeps the policy, as its sessions do; with tls.ocsp,
 * `ocspLookups` asks and remembers its clients' certificate status.
 */
export function createTlsPolicy(
  spec: TlsPolicySpec,
  hooks: TlsPolicyHooks,
  tickets: PolicyTickets,
  chains: ClientChains,
  ocspLookups: OcspLookups,
): TlsPolicy {
  const id = policyId(spec)
  const asksClientCert = spec.clientCAs !== undefined
  const requiresClientCert = asksClientCert && spec.clientCertRequired
  const accepted = new AcceptedSockets()
  const clientTrust = spec.clientCAs && new ClientTrust(spec.clientCAs.certificates, spec.crl, spec.ocsp && { lookups: ocspLookups, settings: spec.ocsp })
  // The chain, read at each full handshake (and so remembered for the session's resumptions), gives
  // the issuer the OCSP question names.
  const clientAuth: ClientAuth | undefined = spec.clientCAs && {
    cas: spec.clientCAs.certificates,
    required: spec.clientCertRequired,
    ...(spec.ocsp && clientTrust && { ocspVerdict: (socket: TLSSocket) => clientTrust.ocspVerdict(chains.of(socket)) }),
  }

  /** The policy server that serves `pair`: its certificate is the server's own. */
  const serverFor = (pair: HostCertificate) => {
    const server = tls.createServer({
      ...secureContextOptions(spec, id, pair),
      cert: pair.certPem,
      key: pair.keyPem,
      // Node calls this and the ALPN callback as methods of the connection's TLSSocket (loadSNI and
      // callALPNCallback in its lib/_tls_wrap.js), before OpenSSL asks for the client's certificate:
      // where the policy requires one, they have a client that sends none refused with an alert
      // (requireClientCertificate). Node calls the ALPN callback for a ClientHello with ALPN, and this
      // one for a ClientHello with SNI on a full handshake. The certificate is the server's own: no
      // context in its place.
      SNICallback(this: unknown, _serverName, callback) {
        if (requiresClientCert && this instanceof TLSSocket) requireClientCertificate(this)
        callback(null, undefined)
      },
      // HTTP/1.0 too, as nginx selects it: otherwise a client offering only http/1.0 gets a fatal alert.
      // A client offering neither gets no_application_protocol (Node's answer to undefined), as Node's
      // ALPNProtocols option would refuse it. A callback, not that option, so that requireClientCertificate
      // runs here too.
      ALPNCallback(this: unknown, { protocols }) {
        if (requiresClientCert && this instanceof TLSSocket) requireClientCertificate(this)
        return HTTP_1_PROTOCOLS.find((protocol) => protocols.includes(protocol))
      },
      requestCert: asksClientCert,
      // Off, so that Node leaves open the connection of a certificate that does not verify, for its
      // 400 (reportHandshakes); the callbacks above restore the alert for a missing certificate, where
      // one is required.
      rejectUnauthorized: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      ticketKeys: ticketKeys(tickets.secret, id, tickets.epoch),
      // The ticket's lifetime hint too.
      sessionTimeout: ticketLifetimeSeconds(tickets.keyLifetimeMs),
    })
    reportHandshakes(server, accepted, clientAuth, hooks, (socket) => hooks.onVerified(socket, policy, accepted.serverNameOf(socket)))
    return server
  }
  // One server per certificate, not one for the policy whose SNI callback picks the certificate: Node
  // applies the context SNI picks only after OpenSSL has decided to resume a session, so a session of
  // one host resumed on another that a different certificate serves (RFC 6066 3 forbids it), under
  // the first host's session id context. Each server's own context is the one resumption checks.
  const servers = serversByHost(spec.hosts, serverFor)
  // The server of the route the dispatch found for the SNI name (or without SNI, for the IP address
  // the client reached); for a name no route of the policy has, the policy's first certificate. Each
  // route of a policy brings a certificate (a snapshot missing one fails to build, its policies unused).
  const [defaultServer] = servers.values()
  const serverOf = (route: DispatchedRoute | undefined) => (route !== undefined && servers.get(route.host)) || defaultServer!

  const policy: TlsPolicy = {
    id,
    requiresClientCert,
    minVersion: spec.minVersion,
    clientTrust,
    clientChain: (socket) => chains.of(socket),
    rotateTicketKeys(epoch) {
      const keys = ticketKeys(tickets.secret, id, epoch)
      for (const server of new Set(servers.values())) server.setTicketKeys(keys)
    },
    accept(socket, serverName, route) {
      accepted.add(socket, route, serverName)
      serverOf(route).emit('connection', socket)
    },
  }

  return policy
}

/** A policy server's context options but its certificate. */
function secureContextOptions(spec: TlsPolicySpec, id: string, pair: HostCertificate): tls.SecureContextOptions {
  return {
    minVersion: spec.minVersion,
    ciphers: CIPHERS,
    ecdhCurve: GROUPS,
    secureOptions: SECURE_OPTIONS,
    // OpenSSL resumes only a session of the same id context. Node's default (the server's alone) hashes
    // process.argv, the same for every policy and certificate; the policy's own id keeps sessions apart
    // even if ticket keys ever matched, and the certificate's keeps those of its other servers apart.
    sessionIdContext: createHash('sha256').update(id).update(pair.certPem).digest('hex').slice(0, 32),
    ...(spec.clientCAs && { ca: spec.clientCAs.pem, crl: [...spec.crl] }),
  }
}

/**
 * One server per distinct certificate, shared by every host it serves: a server's context costs
 * milliseconds to build, and a wildcard or multi-SAN certificate often serves hundreds of hosts.
 */
function serversByHost(hosts: TlsPolicySpec['hosts'], serverFor: (pair: HostCertificate) => tls.Server): Map<string, tls.Server> {
  const serverOfPair = new Map<string, tls.Server>()
  const servers = new Map<string, tls.Server>()
  for (const [host, pair] of hosts) {
    const key = `${pair.certPem}\0${pair.keyPem}`
    let server = serverOfPair.get(key)
    if (!server) serverOfPair.set(key, (server = serverFor(pair)))
    servers.set(host, server)
  }
  return servers
}
