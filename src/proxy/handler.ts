/**
 * Per-request routing decisions: which route (by Host and path), whether this connection may reach it,
 * then forwarding. A request reaches a route only over a connection accepted under that route's TLS
 * policy: a Host that names another policy's route gets 421 Misdirected Request, as in nginx and
 * Caddy, so sending SNI of an open route and Host of an mTLS route never bypasses client auth.
 */
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { ErrorCodes } from '../errors.js'
import { errorSummary, type Logger } from '../log.js'
import { methodLabel, NO_ROUTE } from '../metrics/labels.js'
import type { Metrics } from '../metrics/metrics.js'
import type { Route, Snapshot } from '../snapshot/snapshot.js'
import type { TlsPolicy } from '../tls/ingress.js'
import { identityOf } from './client-identity.js'
import { forwardRequest, type ForwardHooks } from './forward.js'
import { RequestSlots, type Overload } from './overload.js'
import { endWithStatus, sendStatus } from './status.js'
import type { ForwardedProtoHost } from './headers.js'
import { checkRequest, type RequestRefusal } from './request-checks.js'
import type { RequestHandlers } from './server.js'
import type { UpstreamFailure } from './upstream-errors.js'
import { proxyUpgrade, type UpgradeHooks } from './upgrade.js'

const CLIENT_CLOSED_REQUEST = 499
/** Node's own test of an HTTP/1.1 request's Expect, for which it emits 'checkContinue'. */
const EXPECTS_CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i

type Selection =
  | { readonly route: Route; readonly forwarded: ForwardedProtoHost; readonly identity: Record<string, string> }
  | { readonly status: RequestRefusal['status'] | 404 | 421; readonly detail: string; readonly route?: Route }

/** `policy` is the TLS policy the connection was verified under; undefined on the plaintext listener. */
function selectRoute(snapshot: Snapshot, policy: TlsPolicy | undefined, req: IncomingMessage): Selection {
  const checked = checkRequest(req, snapshot.config)
  if ('status' in checked) return checked
  const route = snapshot.table.match(checked.host, checked.path)
  if (!route) return { status: 404, detail: 'no route for this host and path' }
  if (route.config.tls === 'passthrough') return { status: 421, detail: 'host is TLS passthrough', route }

  // Policies are compared by id (a hash of what decides client authentication), so a reload that keeps
  // a route's client CAs keeps its keep-alive connections; one that changes them sends its clients to a
  // new handshake.
  if (route.policy?.id !== policy?.id) return { status: 421, detail: 'this connection cannot serve that host', route }
  const forward = policy?.requiresClientCert && route.config.tls ? route.config.tls.forwardClientCert : 'none'
  const identity = policy && forward !== 'none' ? identityOf(req.socket as TLSSocket, policy, forward) : {}
  return { route, forwarded: { proto: policy ? 'https' : 'http', host: req.headers.host! }, identity }
}

/** Path parameters (`;jsessionid=…`), which, like the query, may carry session ids and tokens. */
const PATH_PARAMETERS = /;[^/]*/g

/**
 * Who asked what, for the logs: the path without its query and path parameters. The client's address
 * is read while the request is in hand: undici unlinks a request body it has sent from its socket,
 * and a finished response is unlinked from it too.
 */
function requestFields(req: IncomingMessage, client: string | undefined): { method?: string; path?: string; client?: string } {
  return { method: req.method, path: req.url?.split('?', 1)[0]!.replace(PATH_PARAMETERS, ''), client }
}

export function createProxyHandlers(logger: Logger, metrics: Metrics, overload: Overload): RequestHandlers {
  const slots = new RequestSlots()
  /**
   * A routed request takes one of limits.requests (of the snapshot it started on) until it is over:
   * its response closes, or a WebSocket's client socket. Checked after routing, so that a refusal is
   * counted under its route, and before anything reaches the upstream.
   */
  const admitted = (snapshot: Snapshot): boolean => {
    const max = snapshot.config.limits.requests
    if (slots.take(max)) return true
    overload.rejected('requests', max)
    return false
  }
  /** A bug met by one request is that request's 500, not the end of the process and every connection. */
  const logInternalError = (route: string, error: unknown) =>
    logger.error({ route, code: ErrorCodes.INTERNAL, error: errorSummary(error as Error) }, 'request failed inside the gateway')
  /**
   * An upstream request that failed, counted once under its reason (Envoy's upstream_cx_connect_fail,
   * upstream_rq_timeout, upstream_cx_destroy_remote_with_active_rq, by reason), and logged as nginx's
   * error log line: who asked what of which upstream, what failed, and the status sent for it (none
   * when the answer was cut short).
   */
  const upstreamFailed = (message: string, route: Route, req: IncomingMessage, client: string | undefined, failure: UpstreamFailure, status: number | undefined, error: Error) => {
    const { reason, code } = failure
    metrics.upstreamErrors.inc({ route: route.name, reason })
    const request = { ...requestFields(req, client), upstream: route.config.upstream.url }
    logger.warn({ route: route.name, reason, code, status, ...request, error: errorSummary(error) }, message)
  }
  const hooks: ForwardHooks & UpgradeHooks = {
    onUpstreamError(route, res, failure, error) {
      const headersSent = res.headersSent
      const message = headersSent ? 'upstream failed mid-response' : 'upstream request failed'
      upstreamFailed(message, route, res.req, res.socket?.remoteAddress, failure, headersSent ? undefined : failure.status, error)
    },
    onAnswerCutShort(route, req, failure, error) {
      upstreamFailed('upstream failed mid-response', route, req, req.socket.remoteAddress, failure, undefined, error)
    },
    /** Envoy's upstream_rq_retry. */
    onRetry(route, error) {
      metrics.upstreamRetries.inc({ route: route.name })
      logger.debug({ route: route.name, error: errorSummary(error) }, 'upstream connection closed before answering; sending the request again')
    },
  }

  /** A request answered with `status`: counted, and logged when the config keeps an access log. */
  const answered = (snapshot: Snapshot, req: IncomingMessage, client: string | undefined, route: string, status: number, started: number) => {
    const seconds = (performance.now() - started) / 1000
    metrics.recordRequest(route, methodLabel(req.method), status, seconds)
    if (snapshot.config.accessLog) logger.info({ route, ...requestFields(req, client), status, ms: Math.round(seconds * 10_000) / 10 }, 'request')
  }

  return {
    request(snapshot, policy, req, res) {
      const started = performance.now()
      const client = req.socket.remoteAddress
      let routeName = NO_ROUTE
      let holdsSlot = false
      // Cut-short responses count too: with the status the client was sent, else 499 (nginx's code for
      // a client that left before any).
      res.once('close', () => {
        if (holdsSlot) slots.release()
        answered(snapshot, req, client, routeName, res.headersSent ? res.statusCode : CLIENT_CLOSED_REQUEST, started)
      })
      try {
        const selection = selectRoute(snapshot, policy, req)
        routeName = selection.route?.name ?? NO_ROUTE
        if ('status' in selection) {
          // Only a 404 keeps the connection. After a 421 (a reload that changed the route's client-auth
          // policy) a keep-alive client must come back through a new handshake; most retry a 421 on a
          // new connection. After a 400, 501 or 505, what follows cannot be trusted to be framed as the
          // client meant (nginx closes too); nginx closes after its 405 to TRACE as well.
          if (selection.status !== 404) res.shouldKeepAlive = false
          sendStatus(res, selection.status, selection.detail)
          return
        }
        holdsSlot = admitted(snapshot)
        if (!holdsSlot) {
          // No Retry-After, as neither Envoy's circuit-breaker overflow nor HAProxy's or nginx's 503
          // sends one: the overload may be gone in a millisecond, and one fixed delay would send every
          // refused client back at the same moment. The connection stays open (keep-alive), as Envoy's.
          sendStatus(res, 503, 'the gateway is at its limit of requests in flight')
          return
        }
        // Routed: the client may send its body now (server.ts leaves 100 Continue to this point).
        if (req.httpVersion === '1.1' && EXPECTS_CONTINUE.test(req.headers.expect ?? '')) res.writeContinue()
        forwardRequest(req, res, selection.route, selection.forwarded, selection.identity, hooks)
      } catch (error) {
        logInternalError(routeName, error)
        if (res.headersSent) return void res.destroy()
        res.shouldKeepAlive = false
        sendStatus(res, 500)
      }
    },

    refused(status, method) {
      metrics.recordRequest(NO_ROUTE, methodLabel(method), status, 0)
    },

    upgrade(snapshot, policy, req, socket, head) {
      const started = performance.now()
      let routeName = NO_ROUTE
      // An upgrade counts as a request once answered (101 or not); the WebSocket's life is not its duration.
      const client = req.socket.remoteAddress
      const record = (status: number) => answered(snapshot, req, client, routeName, status || CLIENT_CLOSED_REQUEST, started)
      const proxy = async () => {
        const selection = selectRoute(snapshot, policy, req)
        routeName = selection.route?.name ?? NO_ROUTE
        if ('status' in selection) {
          endWithStatus(socket, selection.status)
          record(selection.status)
          return
        }
        if (!admitted(snapshot)) {
          endWithStatus(socket, 503)
          record(503)
          return
        }
        // A WebSocket holds its slot for its whole life, as long as it holds its sockets.
        socket.once('close', () => slots.release())
        const outcome = await proxyUpgrade(req, socket, head, selection.route, selection.forwarded, selection.identity, hooks)
        record(outcome.status)
        if ('failure' in outcome) upstreamFailed('upstream upgrade failed', selection.route, req, client, outcome.failure, outcome.status, outcome.error)
      }
      // A fault comes before anything was answered: proxyUpgrade settles, and never throws, once it has.
      proxy().catch((error: unknown) => {
        logInternalError(routeName, error)
        endWithStatus(socket, 500)
        record(500)
      })
    },
  }
}
