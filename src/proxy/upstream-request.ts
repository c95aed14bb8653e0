/**
 * What the two upstream exchanges share, the plain request's (forward.ts) and the WebSocket
 * upgrade's (upgrade.ts): the upstream request a route makes of the client's, its dispatch and
 * resend, the wait for its final response head, and the relay of the upstream's body chunks to the
 * client. When it may be sent again is resend.ts's.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import type { Readable, Writable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { UpstreamConfig, UpstreamUrl } from '../config/types.js'
import type { Route } from '../snapshot/snapshot.js'
import { holdUpstreamForRequest, type Upstream } from '../snapshot/upstreams.js'
import { isConnectFailure } from '../tls/upstream.js'
import { upstreamRequestHeaders } from './headers.js'
import { claimResend, firstAttempt, mayBeSentTwice } from './resend.js'
import type { Routed } from './route-selection.js'
import { stickyUrl, withStickyCookie } from './sticky-cookie.js'
import { codingNotRelayable, statusNotHttp, type UpstreamFailure } from './upstream-errors.js'

/** What both exchanges tell of an upstream request sent again, for the logs and metrics. */
export interface ResendHooks {
  /** A pooled upstream connection closed under the request before any answer; it is sent again. */
  readonly onRetry: (route: Route, error: Error) => void
  /** `url` could not be reached (a connect or TLS handshake failed); the request goes to the route's next url. */
  readonly onUnreachable: (route: Route, url: UpstreamUrl, failure: UpstreamFailure, error: Error) => void
  /** `url` answered `status`, one of the route's upstream.retryOn; the answer is dropped, and the request goes to the route's next url. */
  readonly onAnswerDropped: (route: Route, url: UpstreamUrl, status: number) => void
}

/** Why an upstream request is aborted when its answer is dropped for the next url's (upstream.retryOn). */
const ANSWER_DROPPED = new Error('the answer was dropped for the next url')

/** The url each request was last sent to, for its access log line. */
const sentTo = new WeakMap<IncomingMessage, UpstreamUrl>()

/** The url (as configured) the request was last sent to; undefined for one that reached no upstream. */
export function upstreamUrlOf(req: IncomingMessage): string | undefined {
  return sentTo.get(req)?.url
}

/**
 * The url a request goes to, its index in the route's urls and pools; the one its sticky cookie names,
 * if any; and the key its balancer hashed, if any (balanceKey), for the url it goes to next.
 */
export interface UrlChoice {
  readonly url: number
  readonly sticky: number | undefined
  readonly key: string | undefined
}

/** A request routed, and the url it goes to. */
export interface Dispatched extends Routed {
  readonly choice: UrlChoice
}

/**
 * The url for a request from `clientAddress` (forwarded-for.ts), as its route's balancer picks it;
 * undefined when every url is full (upstream.maxRequests).
 */
export function chooseUrl(route: Route, req: IncomingMessage, clientAddress: string | undefined): UrlChoice | undefined {
  const { upstream } = route.config
  const sticky = stickyUrl(upstream, req)
  const key = balanceKey(upstream, req, clientAddress)
  const url = route.balancer.pick(key, sticky)
  return url === undefined ? undefined : { url, sticky, key }
}

/**
 * What the route's balancer hashes: with headerHash, the value of its hashHeader (undefined where the
 * request has none or an empty one, which goes in turn); else the client's address, which only
 * clientIPHash reads.
 */
function balanceKey({ balance, hashHeader }: UpstreamConfig, req: IncomingMessage, clientAddress: string | undefined): string | undefined {
  if (balance !== 'headerHash') return clientAddress
  const value = req.headers[hashHeader!]
  return value ? String(value) : undefined
}

const FORWARDED_PREFIX = 'x-forwarded-prefix'

/** `servername` is a real undici dispatch option that its types omit. */
export type UpstreamRequest = Dispatcher.DispatchOptions & { servername: string }

/**
 * What every upstream request of a route carries, WebSocket upgrades included. A pool may be shared by
 * routes with the same identity; the path prefix and timeouts are the route's.
 */
export function upstreamRequest(req: IncomingMessage, { route, forwarded, identity, target }: Routed, body: Readable | null): UpstreamRequest {
  const { pathPrefix, timeouts } = route.config.upstream
  const changes = route.config.headers.request
  const headers = upstreamRequestHeaders(req, forwarded, identity, changes)
  // The path the route strips, for an upstream that builds its links with it, as Traefik's StripPrefix
  // sets it; a client's own copy never gets here (headers.ts drops X-Forwarded-* but -For), and the
  // route's own set or removal of it stands.
  if (route.config.stripPath && headers[FORWARDED_PREFIX] === undefined && !changes?.remove.includes(FORWARDED_PREFIX)) {
    headers[FORWARDED_PREFIX] = route.config.path
  }
  return {
    // The upstream url's path prefix, then the client's target (its path normalized, and without the
    // route's path where the route strips it).
    path: pathPrefix + target,
    method: req.method as Dispatcher.HttpMethod,
    headers: headers as Record<string, string | string[]>,
    body,
    // The pool's own, set as each attempt is sent (UpstreamExchange.start).
    servername: '',
    headersTimeout: timeouts.response,
    // Between body chunks; an upstream that stalls mid-response must not hold the client forever.
    bodyTimeout: timeouts.response,
    // undici closes the connection after every HEAD, in case the upstream sends a body anyway, so each
    // HEAD (monitors send them by the thousand) would cost a TLS handshake. nginx and Envoy keep it, and
    // so does this: bytes that come after a response and before the next request close the connection.
    reset: req.method === 'HEAD' ? false : undefined,
  }
}

/**
 * An upstream request dispatched to the pool of one of its route's urls (chooseUrl), as an undici
 * dispatch handler (undici tells this API from its legacy one by the presence of onRequestStart). It
 * notes where the request stands, which decides whether it may be sent again, and stops it if its
 * client has gone by the time it starts.
 */
export abstract class UpstreamExchange implements Dispatcher.DispatchHandler {
  protected controller: Dispatcher.DispatchController | undefined
  protected readonly attempt = firstAttempt()
  protected readonly heads = new ResponseHeads()
  /** The url the request goes to: its index in the route's upstream urls and pools. */
  private urlIndex: number
  /** The url the request's sticky cookie names (stickyCookie), if any. */
  private readonly stickyUrl: number | undefined
  /** The urls the request could not reach (or whose answer it dropped), once there is one. */
  private unreachable: Set<number> | undefined
  /** The url an answer was dropped for (dropsAnswer), until the abort that drops it sends the request there. */
  private nextAfterDropped: number | undefined
  /**
   * Holds the url's pool open until the exchange is done with it (releaseUpstream): a resend after a
   * reload retired the pool needs it. Undefined once released.
   */
  private release: (() => void) | undefined

  protected readonly route: Route
  /** The key the route's balancer hashed for the request (chooseUrl), if any. */
  private readonly balanceKey: string | undefined

  constructor(
    { route, choice }: Dispatched,
    /** The client's request. */
    protected readonly req: IncomingMessage,
    protected readonly options: UpstreamRequest,
    private readonly resendHooks: ResendHooks,
  ) {
    this.route = route
    this.balanceKey = choice.key
    this.urlIndex = choice.url
    this.stickyUrl = choice.sticky
    this.release = holdUpstreamForRequest(this.upstream)
  }

  private get upstream(): Upstream {
    return this.route.upstreams![this.urlIndex]!
  }

  /** The url the request goes to, as configured. */
  protected get url(): UpstreamUrl {
    return this.route.config.upstream.urls[this.urlIndex]!
  }

  start(): void {
    const { pool, serverNameToken } = this.upstream
    this.options.servername = serverNameToken
    sentTo.set(this.req, this.url)
    pool.dispatch(this.options, this)
  }

  /** The response's headers, with the cookie of the url it came from where the route has stickyCookie. */
  protected withStickyCookie(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
    return withStickyCookie(headers, this.route.config.upstream, this.req, { url: this.urlIndex, named: this.stickyUrl })
  }

  /** The exchange is done with the upstream: its pool may close, if a reload retired it. */
  protected releaseUpstream(): void {
    this.release?.()
    this.release = undefined
  }

  /**
   * Nothing waits for the answer any more: the client left, or (a forwarded request) the request server
   * answered it itself, for a malformed body. A request undici had not started then (queued for a
   * connection, or about to be sent again) is aborted as soon as it starts.
   */
  protected abstract clientGone(): boolean

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    this.attempt.requestSent = true
    if (this.clientGone()) controller.abort(CLIENT_GONE)
  }

  /**
   * Sends the request again after `failure`, where it may be: to the route's next url if this one
   * could not be reached, else on another connection of the pool where resend.ts allows it. Whether
   * it did.
   */
  protected resent(failure: UpstreamFailure, error: Error): boolean {
    if (error === ANSWER_DROPPED && this.nextAfterDropped !== undefined) {
      this.sendTo(this.nextAfterDropped)
      this.nextAfterDropped = undefined
      return true
    }
    if (this.sentToNextUrl(failure, error)) return true
    if (!claimResend(this.upstream, this.options, this.attempt, failure, error)) return false
    this.resendHooks.onRetry(this.route, error)
    this.start()
    return true
  }

  /**
   * A url the pool could not connect to rests (balancer.ts); the request, which never reached it, goes
   * to the next url that does not rest, with its body if none of it has been read. False when there
   * is no such url or body.
   */
  private sentToNextUrl(failure: UpstreamFailure, error: Error): boolean {
    if (this.attempt.requestSent || !isConnectFailure(error)) return false
    const next = this.route.balancer.nextAfterUnreachable(this.urlIndex, (this.unreachable ??= new Set()), this.balanceKey)
    const body = this.options.body as Readable | null
    if (next === undefined || (body && (body.readableDidRead || body.destroyed))) return false
    this.resendHooks.onUnreachable(this.route, this.url, failure, error)
    this.sendTo(next)
    return true
  }

  /**
   * A final answer of one of the route's upstream.retryOn statuses: its url rests as one that could not
   * be reached, as nginx's proxy_next_upstream http_503 counts such an answer as a failed attempt. For
   * a request that may be sent twice, where another url neither rests nor was tried, the answer is
   * dropped (the upstream request aborted, and its connection with it) and the request goes there once
   * undici reports the abort (resent). Whether it is dropped.
   */
  protected dropsAnswer(controller: Dispatcher.DispatchController, statusCode: number): boolean {
    if (!this.route.config.upstream.retryOn?.includes(statusCode)) return false
    if (!mayBeSentTwice(this.options)) {
      this.route.balancer.unreachable(this.urlIndex)
      return false
    }
    const next = this.route.balancer.nextAfterUnreachable(this.urlIndex, (this.unreachable ??= new Set()), this.balanceKey)
    if (next === undefined) return false
    this.resendHooks.onAnswerDropped(this.route, this.url, statusCode)
    this.nextAfterDropped = next
    controller.abort(ANSWER_DROPPED)
    return true
  }

  /** Sends the request, afresh, to the route's url `next`. */
  private sendTo(next: number): void {
    this.releaseUpstream()
    this.urlIndex = next
    this.release = holdUpstreamForRequest(this.upstream)
    this.attempt.requestSent = false
    this.attempt.upstreamAnswered = false
    this.start()
  }
}

/**
 * Responses that never have a body (RFC 9110 15.3.5, 15.4.5): whole once their head is sent. undici 7
 * fails a 304 that carries the Content-Length a 200 would have had (RFC 9110 8.6 allows it), or a 204
 * that carries one, for a body that never came; both exchanges pass them on whole all the same.
 */
export const BODILESS_STATUSES: ReadonlySet<number> = new Set([204, 304])

/** undici's own code for a response head that did not come in time: the client gets 504. */
const FINAL_HEAD_TIMEOUT = Object.assign(new Error('no final response after interim ones within timeouts.response'), {
  code: 'UND_ERR_HEADERS_TIMEOUT',
})

/**
 * What both exchanges do with each response head undici hands them. An interim (1xx) one starts a
 * wait for the final head: undici starts its headers timeout again at every 1xx, so an upstream that
 * sends 102 Processing for ever would hold the request for ever; it gets one more response timeout
 * from the first, then 504. A final head ends the wait, and one whose status is not HTTP, or whose
 * body cannot be relayed as it is (codingNotRelayable), stops the request (the client gets 502).
 */
class ResponseHeads {
  private finalHeadDeadline: NodeJS.Timeout | undefined

  /** Whether this head is a final one to pass on. */
  isFinal(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, timeoutMs: number): boolean {
    if (statusCode < 200) {
      this.finalHeadDeadline ??= setTimeout(() => controller.abort(FINAL_HEAD_TIMEOUT), timeoutMs)
      return false
    }
    this.stop()
    const refused = statusNotHttp(statusCode) ?? codingNotRelayable(headers)
    if (refused) controller.abort(refused)
    return refused === undefined
  }

  /** The request is over: no more waiting for a head. */
  stop(): void {
    clearTimeout(this.finalHeadDeadline)
    this.finalHeadDeadline = undefined
  }
}

/** Why an upstream request is aborted when its client has gone. */
export const CLIENT_GONE = new Error('client closed the connection')

/**
 * Writes an upstream body chunk to the client; a full client socket pauses the upstream until it
 * drains. A client that has not taken the chunk within `sendTimeoutMs` is closed (nginx's
 * send_timeout), and with it the upstream request: paused, undici's body timeout does not run, and
 * the two connections would otherwise be held for as long as the client likes. A chunk is what one
 * upstream read gave (16 KiB from a TLS upstream, up to 64 KiB from a plaintext one), so a client
 * is closed when it reads less than that in the timeout, about 0.5 to 2 KiB/s at the default 30 s.
 */
export function relayChunk(client: Writable, controller: Dispatcher.DispatchController, chunk: Buffer, sendTimeoutMs: number): void {
  // A client already gone never drains, nor closes again: its close has stopped the upstream request.
  if (client.write(chunk) || client.destroyed) return
  controller.pause()
  const stalled = setTimeout(() => client.destroy(), sendTimeoutMs)
  const onDrain = () => {
    clearTimeout(stalled)
    client.off('close', onClose)
    controller.resume()
  }
  const onClose = () => {
    clearTimeout(stalled)
    client.off('drain', onDrain)
  }
  client.once('drain', onDrain).once('close', onClose)
}
