/**
 * The proxy's request handlers: each request is routed (route-selection.ts), given a url of its
 * route's upstream, takes a slot of limits.requests, is asked about of the route's forwardAuth
 * service if it has one (forward-auth.ts), and is forwarded, or its WebSocket upgrade proxied; every
 * answer is recorded once (request-records.ts).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Logger } from '../log.js'
import { NO_ROUTE } from '../metrics/labels.js'
import type { Metrics } from '../metrics/metrics.js'
import type { Snapshot } from '../snapshot/snapshot.js'
import type { TlsPolicy } from '../tls/ingress.js'
import { ClientIdentities } from './client-identity.js'
import { requestClient, type RequestClient } from './forwarded-for.js'
import { askForwardAuth } from './forward-auth.js'
import { forwardRequest } from './forward.js'
import { RequestSlots, type Overload } from './overload.js'
import { rateLimitedClient } from './rate-limit-key.js'
import { assignRequestId, REQUEST_ID_HEADER, requestIdHeaders } from './request-id.js'
import { createRequestRecords, requestStart } from './request-records.js'
import { selectRoute, type Routed, type RoutingRefusal, type ServerNameOf } from './route-selection.js'
import type { RequestHandlers } from './server.js'
import { endWithStatus, sendStatus } from './status.js'
import { proxyUpgrade } from './upgrade.js'
import { chooseUrl, type Dispatched } from './upstream-request.js'

const CLIENT_CLOSED_REQUEST = 499
/** The refusals after which a connection is kept (see request()). */
const KEPT_AFTER: ReadonlySet<number> = new Set([403, 404, 308, 429, 503])
const AT_REQUEST_LIMIT = 'the gateway is at its limit of requests in flight'
const AT_UPSTREAM_LIMIT = "the route's upstream is at its limit of requests in flight"
const AUTH_FAILED = "the route's auth service gave no answer"
/** Of an auth service's denial, what an upgrade's answer carries: where to log in, and how. */
const RELAYED_ON_UPGRADE = ['location', 'www-authenticate', 'set-cookie']
/** Node's own test of an HTTP/1.1 request's Expect, for which it emits 'checkContinue'. */
const EXPECTS_CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i

/** A request refused, with the status to answer; counted under its route, if it has one. */
type Refusal = Omit<RoutingRefusal, 'status'> & { readonly status: RoutingRefusal['status'] | 429 | 503 }

/**
 * Where a request stands after routing, its upstream's url and limits.requests: dispatched to a url,
 * holding a slot until it is over; or refused.
 */
type Admission = Dispatched | Refusal

export function createProxyHandlers(logger: Logger, metrics: Metrics, overload: Overload, serverNameOf: ServerNameOf): RequestHandlers {
  const records = createRequestRecords(logger, metrics)
  const slots = new RequestSlots()
  const identities = new ClientIdentities()
  /**
   * A routed request takes one of limits.requests (of the snapshot it started on) until it is over:
   * its response closes, or a WebSocket's client socket. Checked after routing, so that a refusal is
   * counted under its route, and before anything reaches the upstream. False, and counted as an
   * overload of `route`, when none is free.
   */
  const takeSlot = (snapshot: Snapshot, route: string): boolean => {
    const max = snapshot.config.limits.requests
    if (slots.take(max)) return true
    overload.rejected({ limit: 'requests', route }, max)
    return false
  }
  /**
   * Routing and the route's rateLimit: the first steps of a request and of an upgrade alike. Then,
   * once its forwardAuth service (if any) has let it through, dispatch.
   */
  const routeOf = (snapshot: Snapshot, policy: TlsPolicy | undefined, req: IncomingMessage, client: RequestClient): Routed | Refusal => {
    const selection = selectRoute(snapshot, policy, req, client, identities, serverNameOf)
    if ('status' in selection) return selection
    const { route } = selection
    if (route.rateLimiter) {
      const limited = rateLimitedClient(route, req, client.address)
      const wait = route.rateLimiter.admit(limited.key)
      if (wait) {
        // With when a token is back, as Traefik's and Envoy's rate limits answer.
        metrics.rateLimited.inc({ route: route.name })
        const seconds = Math.ceil(wait / 1000)
        const detail = `this route takes no more requests from your ${limited.as} for now; retry in ${seconds} s`
        return { status: 429, detail, route, headers: { 'Retry-After': seconds } }
      }
    }
    return selection
  }
  /**
   * A url of the route's upstream with room (upstream.maxRequests), then a slot. A dispatched request
   * gives its slot back with slots.release(); the url is held by the exchange that is made of it at
   * once, so that the requests in flight each url counts are all that were given it.
   */
  const dispatch = (snapshot: Snapshot, req: IncomingMessage, routed: Routed): Admission => {
    const { route } = routed
    // No Retry-After on either 503, as neither Envoy's circuit-breaker overflow nor HAProxy's or nginx's
    // 503 sends one: the overload may be gone in a millisecond, and one fixed delay would send every
    // refused client back at the same moment.
    const choice = chooseUrl(route, req, routed.forwarded.realIp)
    if (!choice) {
      overload.rejected({ limit: 'upstream', route: route.name }, route.config.upstream.maxRequests!)
      return { status: 503, detail: AT_UPSTREAM_LIMIT, route }
    }
    if (!takeSlot(snapshot, route.name)) return { status: 503, detail: AT_REQUEST_LIMIT, route }
    return { ...routed, choice }
  }

  /**
   * A request refused. Only a 403 (an address allowedIPs refuses, as nginx keeps it after its deny, or
   * a client without the certificate its route requires), a 404, a 308 to HTTPS, the 429 of a rateLimit
   * and the 503 at limits.requests or upstream.maxRequests keep the connection. After a 421 (a host
   * that the connection's TLS policy does not serve, as after a reload that changed the route's) a
   * keep-alive client must come back through a new handshake; most retry a 421 on a new connection.
   * After a 400, 431, 501 or 505, what follows cannot be trusted to be framed as the client meant
   * (nginx closes too); nginx closes after its 405 to TRACE as well, and after its 413, rather than read
   * the body it refused. The 503 keeps it as Envoy's does, unless the request expected 100 Continue:
   * Node closes it then, as the body may still come.
   */
  const refuse = (res: ServerResponse, refusal: Refusal) => {
    if (!KEPT_AFTER.has(refusal.status)) res.shouldKeepAlive = false
    sendStatus(res, refusal.status, refusal.detail, refusal.headers)
  }

  /** A bug met by a request: its 500, or its response cut short if it has begun. */
  const internalError = (res: ServerResponse, routeName: string, error: unknown) => {
    records.internalError(routeName, error)
    if (res.headersSent) return void res.destroy()
    res.shouldKeepAlive = false
    sendStatus(res, 500)
  }

  return {
    request(snapshot, policy, req, res) {
      // Read now: a finished response is unlinked from its connection.
      const { socket } = req
      const started = requestStart(socket)
      const client = requestClient(req, snapshot.trustsForwardedFor)
      // On every answer, the gateway's own (a 404, a 502) as well as the upstream's.
      if (snapshot.config.requestId) res.setHeader(REQUEST_ID_HEADER, assignRequestId(req))
      let routeName = NO_ROUTE
      let holdsSlot = false
      // Cut-short responses count too: with the status the client was sent, else 499 (nginx's code for
      // a client that left before any).
      res.once('close', () => {
        if (holdsSlot) slots.release()
        records.answered(snapshot, req, client.address, routeName, res.headersSent ? res.statusCode : CLIENT_CLOSED_REQUEST, started, socket)
      })
      /** Dispatched: the client may send its body now (server.ts leaves 100 Continue to this point). */
      const forward = (routed: Routed) => {
        const admission = dispatch(snapshot, req, routed)
        if ('status' in admission) return refuse(res, admission)
        holdsSlot = true
        if (req.httpVersion === '1.1' && EXPECTS_CONTINUE.test(req.headers.expect ?? '')) res.writeContinue()
        forwardRequest(req, res, admission, records)
      }
      try {
        const routed = routeOf(snapshot, policy, req, client)
        routeName = routed.route?.name ?? NO_ROUTE
        if ('status' in routed) return refuse(res, routed)
        const { forwardAuth } = routed.route.config
        if (!forwardAuth) return forward(routed)
        void askForwardAuth(forwardAuth, req, routed.forwarded, routed.identity)
          .then((verdict) => {
            records.authAnswered(routed.route, req, client.address, verdict)
            // The client left while the auth service was asked.
            if (res.destroyed) return
            if (verdict.kind === 'allowed') return forward(routed)
            if (verdict.kind === 'denied') return void res.writeHead(verdict.status, verdict.headers).end(verdict.body)
            sendStatus(res, verdict.status, AUTH_FAILED)
          })
          .catch((error: unknown) => internalError(res, routeName, error))
      } catch (error) {
        internalError(res, routeName, error)
      }
    },

    refused: records.refused,

    upgrade(snapshot, policy, req, socket, head) {
      const started = requestStart(socket)
      const client = requestClient(req, snapshot.trustsForwardedFor)
      if (snapshot.config.requestId) assignRequestId(req)
      let routeName = NO_ROUTE
      let answered = false
      // An upgrade counts as a request once answered (101 or not); the WebSocket's life is not its duration.
      const record = (status: number) => {
        answered = true
        records.answered(snapshot, req, client.address, routeName, status || CLIENT_CLOSED_REQUEST, started, socket)
      }
      /** Answered with `status` and closed, the upgrade refused. */
      const refuseUpgrade = (status: number, detail: string | undefined, headers: OutgoingHttpHeaders = {}) => {
        endWithStatus(socket, status, detail, { headers: { ...requestIdHeaders(req), ...headers } })
        record(status)
      }
      const proxy = async () => {
        const routed = routeOf(snapshot, policy, req, client)
        routeName = routed.route?.name ?? NO_ROUTE
        if ('status' in routed) return void refuseUpgrade(routed.status, routed.detail, routed.headers)
        const { forwardAuth } = routed.route.config
        const verdict = forwardAuth && (await askForwardAuth(forwardAuth, req, routed.forwarded, routed.identity))
        if (verdict) records.authAnswered(routed.route, req, client.address, verdict)
        // The client left while the auth service was asked.
        if (socket.destroyed) return void record(CLIENT_CLOSED_REQUEST)
        // A denial's own head (a login page's Location, WWW-Authenticate), without its body: an upgrade's answer is written by hand.
        if (verdict?.kind === 'denied') return void refuseUpgrade(verdict.status, undefined, pickHeaders(verdict.headers, RELAYED_ON_UPGRADE))
        if (verdict?.kind === 'failed') return void refuseUpgrade(verdict.status, AUTH_FAILED)
        const admission = dispatch(snapshot, req, routed)
        if ('status' in admission) return void refuseUpgrade(admission.status, admission.detail, admission.headers)
        // A WebSocket holds its slot for its whole life, as long as it holds its sockets.
        socket.once('close', () => slots.release())
        const outcome = await proxyUpgrade(req, socket, head, admission, records)
        record(outcome.status)
        if ('failure' in outcome) records.upgradeFailed(admission.route, outcome.url, req, client.address, outcome.failure, outcome.status, outcome.error)
        return 'closeGoingAway' in outcome ? outcome.closeGoingAway : undefined
      }
      // proxyUpgrade settles, and never throws, once it has answered: a fault after that is in recording
      // the answer, which the client has (a 101, and its WebSocket may be open), and closes the
      // connection, as a request's fault after its head was sent does; it is not counted again.
      return proxy().catch((error: unknown) => {
        records.internalError(routeName, error)
        if (answered) return void socket.destroy()
        endWithStatus(socket, 500, undefined, { headers: requestIdHeaders(req) })
        record(500)
        return undefined
      })
    },
  }
}

/** The headers of `headers` named in `names` (lower case). */
function pickHeaders(headers: OutgoingHttpHeaders, names: readonly string[]): OutgoingHttpHeaders {
  return Object.fromEntries(names.flatMap((name) => (headers[name] === undefined ? [] : [[name, headers[name]]])))
}
