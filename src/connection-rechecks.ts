/**
 * After a reload, the client of each connection verified under a TLS policy (client CAs, CRLs, minimum
 * version) before it is checked again here, and its connection kept or closed. The whole path:
 *
 * - Gateway.apply, once the new snapshot serves, calls recheckAll: each open connection of the request
 *   server. Gateway.acceptVerified calls recheck for a connection whose handshake ended after a reload
 *   that began before, which recheckAll could not find.
 * - A keep-alive connection is checked against the policy a new handshake of its would get now. The
 *   same as its own: nothing to check. None (its host passes TLS through now): it closes after its
 *   response. Another: its requests wait (RequestServer.holdUntilChecked, proxy/connection-policies.ts)
 *   until clientPasses says whether its client passes that one; then they go on under it, or the
 *   connection closes after its response.
 * - A WebSocket is checked against the policy its route has now (recheckWebSocket), and closed at once
 *   if its client fails.
 * - Each check waits its turn (tls/recheck-queue.ts), then verifies the client's chain as a handshake
 *   would (tls/recheck.ts, with the CRLs of tls/policy-crls.ts).
 */
import type http from 'node:http'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { clientAddressOf } from './client-address.js'
import { recordWebSocketRecheck } from './gateway-metrics.js'
import { CLIENT_CAUSED_LOG_LIMIT, errorSummary, limitedLog, type Logger } from './log.js'
import { NO_ROUTE } from './metrics/labels.js'
import type { Metrics } from './metrics/metrics.js'
import type { ServerNameOf } from './proxy/route-selection.js'
import { routeClientRefusal } from './proxy/route-client-checks.js'
import type { RequestServer } from './proxy/server.js'
import { normalizeHost } from './routing/host.js'
import { routingPath } from './routing/path.js'
import type { Route, Snapshot } from './snapshot/snapshot.js'
import { ingressCrlFiles, refusalFields } from './tls/certificate-identity.js'
import type { TlsPolicy } from './tls/ingress.js'
import { RecheckQueue } from './tls/recheck-queue.js'
import { refused, type RecheckVerdict } from './tls/recheck.js'

/** The connections of one gateway that its reloads check again, one at a time (RecheckQueue). */
export class ConnectionRechecks {
  private readonly queue = new RecheckQueue()
  /** A CA that leaves a bundle fails every client of it at once: these log as a flood of refusals does. */
  private readonly logKeepAliveFailed: (fields: object) => void
  private readonly logWebSocketFailed: (fields: object) => void
  private readonly logWebSocketUncheckable: (fields: object) => void

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** The snapshot serving now. */
    private readonly current: () => Snapshot | undefined,
    /** Where the connections are, and what holds their requests or closes them. */
    private readonly server: RequestServer,
    /** The SNI a verified connection's ClientHello carried, which a new handshake of its would send too. */
    private readonly serverNameOf: ServerNameOf,
  ) {
    const limit = CLIENT_CAUSED_LOG_LIMIT
    const keepAliveFailed = 'connection closes after its response: its client certificate does not pass the new TLS policy of its host'
    this.logKeepAliveFailed = limitedLog(logger, 'info', keepAliveFailed, limit)
    const webSocketFailed = 'WebSocket closed: its client certificate does not pass the new TLS policy of its route'
    this.logWebSocketFailed = limitedLog(logger, 'warn', webSocketFailed, limit)
    const webSocketUncheckable = 'WebSocket closed: its client certificate could not be checked against the new TLS policy of its route (fail closed)'
    this.logWebSocketUncheckable = limitedLog(logger, 'warn', webSocketUncheckable, limit)
  }

  /**
   * After a reload to `snapshot`: each connection verified under a TLS policy that a new handshake of its
   * would no longer get has its client checked against the one it would get, as that handshake would
   * check it. One that passes goes on under the new policy: a CRL's routine re-issue, or a CA added to a
   * bundle, leaves every client connected, as Envoy leaves connections when their validation context
   * changes, where closing them would reset the next request of each keep-alive client and bring them
   * all back through full handshakes at once. One that fails closes as in a drain, but an idle one at
   * once, as nginx's old workers close theirs (a request that came on it would get the 421). Requests
   * that come meanwhile wait for the verdict. A connection no policy would take now (its host passes TLS
   * through) closes the same way.
   *
   * A WebSocket is checked against the policy its route has now (its upgrade request's Host and path),
   * and closed there if its client fails; it is then held to the policy it passed, and the next reload
   * checks it again only if that one changes.
   */
  recheckAll(snapshot: Snapshot): void {
    for (const socket of this.server.openConnections()) this.recheck(snapshot, socket)
  }

  /**
   * One connection, as recheckAll checks each; also one whose handshake began under the policy before
   * a reload and ended after it, for which a new handshake most often gets the same policy, and there is
   * nothing to check.
   */
  recheck(snapshot: Snapshot, open: Duplex): void {
    const connection = this.server.verifiedConnection(open)
    // A plaintext or closed connection, or one with nothing to re-check.
    if (!connection) return
    const { socket, policy, webSocketRequest } = connection
    if (webSocketRequest) {
      void this.recheckWebSocket(snapshot, socket, policy, webSocketRequest)
      return
    }
    const policyNow = this.policyOfNewHandshake(snapshot, socket)
    // Back under the policy it has, before the check of an earlier reload came back: that one decides nothing.
    if (policyNow?.id === policy.id) this.server.cancelCheck(socket)
    else if (policyNow) this.server.holdUntilChecked(socket, policyNow, this.clientPasses(snapshot, socket, policy, policyNow))
    else this.server.closeAfterResponse(socket)
  }

  /**
   * The TLS policy a new handshake of this connection would get under `snapshot`: by its SNI, or without
   * one the address it reached. Not simply whether its policy is still in the snapshot: routes with the
   * same client CAs, CRLs and minimum version share one, and another route may keep it after this
   * connection's route has moved to another. Undefined: none would (the host passes TLS through now).
   */
  private policyOfNewHandshake(snapshot: Snapshot, socket: TLSSocket): TlsPolicy | undefined {
    const decision = this.ingressFor(snapshot, socket)
    return decision.kind === 'terminate' ? decision.policy : undefined
  }

  /**
   * Whether the client of a keep-alive connection verified under `verifiedUnder` passes `policyNow`,
   * the policy a new handshake of its would get under `snapshot`. One that fails is logged with the
   * route its SNI names, as a refused handshake is; the handshake it comes back with is refused, and
   * counted then.
   */
  private async clientPasses(snapshot: Snapshot, socket: TLSSocket, verifiedUnder: TlsPolicy, policyNow: TlsPolicy): Promise<boolean> {
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
   * as a removed route's requests in flight do. One that passes is held to the policy it passed; a
   * verdict that comes after another reload is dropped, as that reload's own check decides.
   */
  private async recheckWebSocket(snapshot: Snapshot, socket: TLSSocket, policy: TlsPolicy, upgrade: http.IncomingMessage): Promise<void> {
    try {
      await this.checkWebSocket(snapshot, socket, policy, upgrade)
    } catch (error) {
      // A fault of ours, not the client's, which must not end the gateway as an unhandled rejection:
      // the WebSocket is closed, as one whose check cannot finish is (fail closed).
      socket.destroy()
      this.logger.error({ error: errorSummary(error) }, 'WebSocket closed: its re-check against the new TLS policy of its route failed')
    }
  }

  private async checkWebSocket(snapshot: Snapshot, socket: TLSSocket, policy: TlsPolicy, upgrade: http.IncomingMessage): Promise<void> {
    const host = normalizeHost(upgrade.headers.host)
    const route = host === undefined ? undefined : snapshot.table.match(host, routingPath(upgrade.url!, snapshot.config))
    // A client without a certificate on a route that requires one now, its host taking such clients; or
    // one whose certificate the route no longer takes (its own client CAs, its allowedClients).
    const notTaken = route?.policy && routeClientRefusal(route, route.policy, socket)
    if (!route?.policy || (route.policy.id === policy.id && !notTaken)) return
    const verdict = notTaken ? refused(notTaken.code) : await this.queue.recheckClient(socket, policy, route.policy)
    // A reload since: it has checked this WebSocket against its own config, or found nothing to check.
    if (snapshot !== this.current()) return
    if (verdict.pass) {
      recordWebSocketRecheck(this.metrics, route, 'none')
      this.server.setPolicy(socket, route.policy)
      return
    }
    // Two reloads close together may both find it failing: it is closed, counted and logged once.
    if (socket.destroyed) return
    socket.destroy()
    recordWebSocketRecheck(this.metrics, route, verdict.reason)
    const fields = failureFields(route, verdict, socket)
    if (verdict.error) this.logWebSocketUncheckable({ ...fields, error: errorSummary(verdict.error) })
    else this.logWebSocketFailed(fields)
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
  const client = clientAddressOf(socket)
  return { route: route?.name ?? NO_ROUTE, reason, detail, ...(client && { client }), ...refusalFields(verdict.certificate, detail, () => ingressCrlFiles(route?.config)) }
}
