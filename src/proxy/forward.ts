/**
 * Forwards one request to its route's upstream pool and streams the response back. The exchange is an
 * undici dispatch handler: the upstream's head becomes the client's head, each body chunk is written
 * through with backpressure (a full client socket pauses the upstream read), and nothing is buffered.
 * This is undici's lowest-level API: `pool.stream()` wraps the same calls in a Writable pipeline, an
 * async resource, stream-finished tracking and an abort signal, for every request.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import type { Route } from '../snapshot.js'
import { connectionHadAnswered } from '../tls/upstream.js'
import { holdUpstream } from '../upstreams.js'
import { clientResponseHeaders, type ForwardedFor } from './headers.js'
import { hasBody } from './request-body.js'
import { sendStatus } from './status.js'
import { classifyUpstreamError, statusNotHttp, type UpstreamFailure } from './upstream-errors.js'
import { CLIENT_GONE, relayChunk, upstreamRequest } from './upstream-request.js'

export interface ForwardHooks {
  /** The upstream failed before or while answering; `res.headersSent` tells whether the client got a status. */
  readonly onUpstreamError: (route: Route, res: ServerResponse, failure: UpstreamFailure, error: Error) => void
  /** An upstream connection closed under the request before any answer; it is sent again. */
  readonly onRetry: (route: Route, error: Error) => void
}

export function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  forwarded: ForwardedFor,
  identity: Readonly<Record<string, string>>,
  hooks: ForwardHooks,
): void {
  new Exchange(res, route, upstreamRequest(req, route, forwarded, identity, hasBody(req) ? req : null), hooks).start()
}

/** Responses that never have a body (RFC 9110 15.3.5, 15.4.5). */
const BODILESS_STATUSES = new Set([204, 304])

/** Pooled connections a request may lose under it before its failure is the client's 502. */
const MAX_RETRIES_ON_LOST_CONNECTIONS = 8

/** Requests that may be sent twice: the idempotent methods (RFC 9110 9.2.2), with no body to replay. */
const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

class Exchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined
  private clientGone = false
  /** undici handed the request to a connected (and, for https, handshaken) socket. */
  private requestSent = false
  private responseStarted = false
  /** A body chunk has been passed to the client's response (its head went out with the first). */
  private bodyStarted = false
  /** The upstream sent something for this request, an interim 1xx included. */
  private upstreamAnswered = false
  /** Times the request was sent again after a pooled connection closed under it. */
  private retries = 0
  /** The upstream's answer (or the gateway's in its place) is through: nothing is left to stop. */
  private finished = false

  constructor(
    private readonly res: ServerResponse,
    private readonly route: Route,
    private readonly options: Dispatcher.DispatchOptions,
    private readonly hooks: ForwardHooks,
  ) {
    const release = holdUpstream(route.upstream!)
    // The response closed before the upstream's answer was through: the client went away, or the
    // request server answered it (a malformed request body). Stop the upstream request too, so it
    // frees its connection. A request still queued for a connection is stopped as soon as undici
    // starts it.
    res.on('close', () => {
      release()
      if (this.finished) return
      this.clientGone = true
      this.controller?.abort(CLIENT_GONE)
    })
  }

  start(): void {
    this.route.upstream!.pool.dispatch(this.options, this)
  }

  // undici tells this handler API from its legacy one by the presence of onRequestStart.
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    this.requestSent = true
    if (this.clientGone) controller.abort(CLIENT_GONE)
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.upstreamAnswered = true
    if (this.res.writableEnded) {
      // The request server has answered already (a malformed request body), and the response's
      // 'close', which stops this request, is still to come.
      this.clientGone = true
      controller.abort(CLIENT_GONE)
      return
    }
    if (statusCode < 200) {
      this.relayInterim(statusCode, headers)
      return
    }
    const notHttp = statusNotHttp(statusCode)
    if (notHttp) {
      controller.abort(notHttp)
      return
    }
    this.responseStarted = true
    const relayed = clientResponseHeaders(headers)
    // RFC 9110 8.6: a 204 carries no Content-Length (a 304 may).
    if (statusCode === 204) delete relayed['content-length']
    this.res.writeHead(statusCode, relayed)
    // A head whose body is not in the same read (an event stream, a long poll) goes out now, as nginx
    // and Envoy send it; one whose body came with it goes out with the body, in one write.
    queueMicrotask(() => {
      if (!this.bodyStarted && !this.res.writableEnded && !this.res.destroyed) this.res.flushHeaders()
    })
  }

  /**
   * RFC 9110 15.2: interim responses are passed on, except to an HTTP/1.0 client. Node writes 103 and
   * 102 itself; one Link value it refuses to write (it is stricter than RFC 8288) is dropped, never
   * the response. undici fails a 100 from the upstream (it never sends Expect): the client gets 502.
   */
  private relayInterim(statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.res.req.httpVersion === '1.0') return
    try {
      if (statusCode === 103 && headers.link !== undefined) this.res.writeEarlyHints({ link: headers.link })
      if (statusCode === 102) this.res.writeProcessing()
    } catch {
      // An early hint is only a hint.
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bodyStarted = true
    relayChunk(this.res, controller, chunk, this.route.config.upstream.timeouts.response)
  }

  onResponseEnd(): void {
    this.finished = true
    this.res.end()
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.clientGone) return
    if (this.responseStarted && BODILESS_STATUSES.has(this.res.statusCode)) {
      // A 204 or 304 is whole once its head is sent. undici 7 fails a 304 that carries the Content-Length
      // a 200 would have had (RFC 9110 8.6 allows it) for a body that never came.
      this.finished = true
      this.res.end()
      return
    }
    const failure = classifyUpstreamError(error)
    if (failure.reason === 'connection_reset' && this.mayRetry(error)) {
      this.retries++
      this.requestSent = false
      this.hooks.onRetry(this.route, error)
      this.start()
      return
    }
    this.finished = true
    this.hooks.onUpstreamError(this.route, this.res, failure, error)
    if (this.res.headersSent) {
      // Mid-response: the only honest signal left is to cut the client's response short.
      this.res.destroy()
    } else {
      sendStatus(this.res, failure.status)
    }
  }

  /**
   * An upstream that closes idle connections without announcing when can close a pooled one just as a
   * request goes out. A reset after the request reached a connection that had already answered
   * before, and before any answer to this one, gets another try on another connection, as nginx gives
   * a cached one. Each pooled connection lost so is one try more, as nginx does not count a failed
   * cached connection (after an upstream restart every idle one may be dead), up to a bound; the pool
   * opens a new connection once its idle ones are gone. A new connection that closes under its first
   * request is not retried: the request may be what killed it (or, on TLS 1.3, the upstream refused
   * our certificate after the handshake).
   * A failed connect or handshake is not retried either.
   */
  private mayRetry(error: Error): boolean {
    return (
      this.retries < MAX_RETRIES_ON_LOST_CONNECTIONS &&
      this.requestSent &&
      !this.upstreamAnswered &&
      this.options.body === null &&
      RETRYABLE_METHODS.has(this.options.method) &&
      connectionHadAnswered(error)
    )
  }
}
