/**
 * What a reload decides for the client connections verified under a TLS policy (client CAs, CRLs,
 * minimum version) before it: whether the client of a keep-alive connection passes the policy a new
 * handshake of its would get now, and whether the client of a WebSocket passes the policy its route has
 * now (tls/recheck.ts). The request server keeps those that pass and closes the others
 * (RequestServer.recheckConnections).
 */
import type http from 'node:http'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { recordWebSocketRecheck } from './gateway-metrics.js'
import { CLIENT_CAUSED_LOG_LIMIT, errorSummary, limitedLog, type Logger } from './log.js'
import { NO_ROUTE } from './metrics/labels.js'
import type { Metrics } from './metrics/metrics.js'
import { normalizeHost } from './routing/host.js'
import { routingPath } from './routing/path.js'
import type { Route, Snapshot } from './snapshot/snapshot.js'
import { ingressCrlFiles, refusalFields } from './tls/certificate-identity.js'
import type { TlsPolicy } from './tls/ingress.js'
import { RecheckQueue } from './tls/recheck-queue.js'
import type { RecheckVerdict } from './tls/recheck.js'

/** The connections of one gateway that its reloads check again, one at a time (RecheckQueue). */
export class ConnectionRechecks {
  private readonly queue = new RecheckQueue()
  /** The SNI each verified connection's ClientHello carried. */
  private readonly serverNames = new WeakMap<Socket, string | undefined>()
  /** A CA that leaves a bundle fails every client of it at once: these log as a flood of refusals does. */
  private readonly logKeepAliveFailed: (fields: object) => void
  private readonly logWebSocketFailed: (fields: object) => void
  private readonly logWebSocketUncheckable: (fields: object) => void

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** The snapshot serving now. */
    private readonly current: () => Snapshot | undefined,
  ) {
    const limit = CLIENT_CAUSED_LOG_LIMIT
    const keepAliveFailed = 'connection closes after its response: its client certificate does not pass the new TLS policy of its host'
    this.logKeepAliveFailed = limitedLog(logger, 'info', keepAliveFailed, limit)
    const webSocketFailed = 'WebSocket closed: its client certificate does not pass the new TLS policy of its route'
    this.logWebSocketFailed = limitedLog(logger, 'warn', webSocketFailed, limit)
    const webSocketUncheckable = 'WebSocket closed: its client certificate could not be checked against the new TLS policy of its route (fail closed)'
    this.logWebSocketUncheckable = limitedLog(logger, 'warn', webSocketUncheckable, limit)
  }

  /** A connection verified with `serverName` in its ClientHello, which a new handshake of its would send too. */
  verified(socket: TLSSocket, serverName: string | undefined): void {
    this.serverNames.set(socket, serverName)
  }

  /**
   * The TLS policy a new handshake of this connection would get under `snapshot`: by its SNI, or without
   * one the address it reached. Not simply whether its policy is still in the snapshot: routes with the
   * same client CAs, CRLs and minimum version share one, and another route may keep it after this
   * connection's route has moved to another. Undefined: none would (the host passes TLS through now).
   */
  policyOfNewHandshake(snapshot: Snapshot, socket: TLSSocket): TlsPolicy | undefined {
    const decision = this.ingressFor(snapshot, socket)
    return decision.kind === 'terminate' ? decision.policy : undefined
  }

  /**
   * Whether the client of a keep-alive connection verified under `verifiedUnder` passes `policyNow`,
   * the policy a new handshake of its would get under `snapshot`. One that fails is logged with the
   * route its SNI names, as a refused handshake is; the handshake it comes back with is refused, and
   * counted then.
   */
  async clientPasses(snapshot: Snapshot, socket: TLSSocket, verifiedUnder: TlsPolicy, policyNow: TlsPolicy): Promise<boolean> {
    const verdict = await this.queue.recheckClient(socket, verifiedUnder, policyNow)
    // Not logged: a verdict a later reload has overtaken, which decides nothing (ConnectionPolicies),
    // or that of a connection closed meanwhile, which had no certificate left to check.
    if (verdict.pass || snapshot !== this.current() || socket.destroyed) return verdict.pass
    const decision = this.ingressFor(snapshot, socket)
    const route = decision.kind === 'terminate' ? decision.route : undefined
    this.logKeepAliveFailed({ ...failureFields(route, verdict, socket), ...(verdict.error && { error: errorSummary(verdict.error) }) })
    return false
  }

  /**
   * A WebSocket whose route (its upgrade request's Host and path, routed as now) has another TLS policy
   * in `snapshot` than the one it was verified under: its client is checked against that one
   * (tls/recheck.ts), and the WebSocket closed if it fails. Both ends close: proxy/upgrade.ts destroys
   * the upstream socket with the client's. One whose route is gone, or no longer terminates TLS, runs on,
   * as a removed route's requests in flight do. Resolves with the policy it passed, if it was checked;
   * a verdict that comes after another reload is dropped, as that reload's own check decides.
   */
  async recheckWebSocket(snapshot: Snapshot, socket: TLSSocket, policy: TlsPolicy, upgrade: http.IncomingMessage): Promise<TlsPolicy | undefined> {
    try {
      return await this.check(snapshot, socket, policy, upgrade)
    } catch (error) {
      // A fault of ours, not the client's, which must not end the gateway as an unhandled rejection:
      // the WebSocket is closed, as one whose check cannot finish is (fail closed).
      socket.destroy()
      this.logger.error({ error: errorSummary(error) }, 'WebSocket closed: its re-check against the new TLS policy of its route failed')
      return undefined
    }
  }

  private async check(snapshot: Snapshot, socket: TLSSocket, policy: TlsPolicy, upgrade: http.IncomingMessage): Promise<TlsPolicy | undefined> {
    const host = normalizeHost(upgrade.headers.host)
    const route = host === undefined ? undefined : snapshot.table.match(host, routingPath(upgrade.url!, snapshot.config))
    if (!route?.policy || route.policy.id === policy.id) return undefined
    const verdict = await this.queue.recheckClient(socket, policy, route.policy)
    // A reload since: it has checked this WebSocket against its own config, or found nothing to check.
    if (snapshot !== this.current()) return undefined
    if (verdict.pass) {
      recordWebSocketRecheck(this.metrics, route, 'none')
      return route.policy
    }
    // Two reloads close together may both find it failing: it is closed, counted and logged once.
    if (socket.destroyed) return undefined
    socket.destroy()
    recordWebSocketRecheck(this.metrics, route, verdict.reason)
    const fields = failureFields(route, verdict, socket)
    if (verdict.error) this.logWebSocketUncheckable({ ...fields, error: errorSummary(verdict.error) })
    else this.logWebSocketFailed(fields)
    return undefined
  }

  /** The SNI the ClientHello of a verified connection carried; undefined without one, or on the plaintext listener. */
  serverNameOf(socket: Socket): string | undefined {
    return this.serverNames.get(socket)
  }

  private ingressFor(snapshot: Snapshot, socket: TLSSocket) {
    return snapshot.ingressFor(this.serverNameOf(socket), socket.localAddress)
  }
}

/**
 * A failed re-check's log fields, as a refused handshake's: the route, the reason, OpenSSL's code, the
 * client's address, and the client's certificate and the route's CRL files where the verdict may be
 * theirs.
 */
function failureFields(route: Route | undefined, verdict: Extract<RecheckVerdict, { pass: false }>, socket: TLSSocket): object {
  const { reason, detail } = verdict
  const client = socket.remoteAddress
  return { route: route?.name ?? NO_ROUTE, reason, detail, ...(client && { client }), ...refusalFields(verdict.certificate, detail, () => ingressCrlFiles(route?.config)) }
}
