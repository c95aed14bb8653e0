/**
 * What the two upstream exchanges share, the plain request's (forward.ts) and the WebSocket
 * upgrade's (upgrade.ts): the upstream request a route makes of the client's, when it is sent again,
 * and the relay of the upstream's body chunks to the client.
 */
import type { IncomingMessage } from 'node:http'
import type { Writable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Route } from '../snapshot/snapshot.js'
import type { Upstream } from '../snapshot/upstreams.js'
import { upstreamRequestHeaders, type ForwardedProtoHost } from './headers.js'
import { statusNotHttp, type UpstreamFailure } from './upstream-errors.js'

/** `servername` is a real undici dispatch option that its types omit. */
type UpstreamRequest = Dispatcher.DispatchOptions & { servername: string }

/**
 * What every upstream request of a route carries, WebSocket upgrades included. A pool may be shared by
 * routes with the same identity; the path prefix and timeouts are the route's.
 */
export function upstreamRequest(
  req: IncomingMessage,
  route: Route,
  forwarded: ForwardedProtoHost,
  identity: Readonly<Record<string, string>>,
  body: IncomingMessage | null,
): UpstreamRequest {
  const { pathPrefix, timeouts } = route.config.upstream
  return {
    // The route's own url path prefix, then the client's target (its path normalized).
    path: pathPrefix + req.url!,
    method: req.method as Dispatcher.HttpMethod,
    headers: upstreamRequestHeaders(req, forwarded, identity) as Record<string, string | string[]>,
    body,
    servername: route.upstream!.serverNameToken,
    headersTimeout: timeouts.response,
    // Between body chunks; an upstream that stalls mid-response must not hold the client forever.
    bodyTimeout: timeouts.response,
    // undici closes the connection after every HEAD, in case the upstream sends a body anyway, so each
    // HEAD (monitors send them by the thousand) would cost a TLS handshake. nginx and Envoy keep it, and
    // so does this: bytes that come after a response and before the next request close the connection.
    reset: req.method === 'HEAD' ? false : undefined,
  }
}

/** Pooled connections a request may lose under it before its failure is the client's 502. */
const MAX_RETRIES_ON_LOST_CONNECTIONS = 8

/**
 * Requests that may be sent twice: the idempotent methods (RFC 9110 9.2.2), with no body to replay.
 * TRACE, idempotent too, is never forwarded (request-checks.ts).
 */
const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

/** Where an exchange's upstream request stands, which decides whether it may be sent again. */
interface Attempt {
  /** Times the request was sent again after a pooled connection closed under it. */
  retries: number
  /** undici handed the request to a connected (and, for https, handshaken) socket. */
  requestSent: boolean
  /** The upstream sent something for the request, an interim 1xx included. */
  upstreamAnswered: boolean
}

export const firstAttempt = (): Attempt => ({ retries: 0, requestSent: false, upstreamAnswered: false })

/**
 * An upstream that closes idle connections without announcing when can close a pooled one just as a
 * request goes out. A reset after the request reached a connection that had already answered
 * before, and before any answer to this one, gets another try on another connection, as nginx gives
 * a cached one. Each pooled connection lost so is one try more, as nginx does not count a failed
 * cached connection (after an upstream restart every idle one may be dead), up to a bound; the pool
 * opens a new connection once its idle ones are gone. A new connection that closes under its first
 * request is not retried: the request may be what killed it (or, on TLS 1.3, the upstream refused
 * our certificate after the handshake). A failed connect or handshake is not retried either.
 *
 * Where the request may go again, `attempt` counts the resend and is ready for it, and the caller
 * sends it; false where it may not.
 */
export function claimResend(upstream: Upstream, request: Dispatcher.DispatchOptions, attempt: Attempt, failure: UpstreamFailure, error: Error): boolean {
  const mayResend =
    failure.reason === 'connection_reset' &&
    attempt.retries < MAX_RETRIES_ON_LOST_CONNECTIONS &&
    attempt.requestSent &&
    !attempt.upstreamAnswered &&
    request.body == null &&
    RETRYABLE_METHODS.has(request.method) &&
    upstream.answers.hadAnswered(error)
  if (mayResend) {
    attempt.retries++
    attempt.requestSent = false
  }
  return mayResend
}

/** undici's own code for a response head that did not come in time: the client gets 504. */
const FINAL_HEAD_TIMEOUT = Object.assign(new Error('no final response after interim ones within timeouts.response'), {
  code: 'UND_ERR_HEADERS_TIMEOUT',
})

/**
 * What both exchanges do with each response head undici hands them. An interim (1xx) one starts a
 * wait for the final head: undici starts its headers timeout again at every 1xx, so an upstream that
 * sends 102 Processing for ever would hold the request for ever; it gets one more response timeout
 * from the first, then 504. A final head ends the wait, and one whose status is not HTTP stops the
 * request (the client gets 502).
 */
export class ResponseHeads {
  private finalHeadDeadline: NodeJS.Timeout | undefined

  /** Whether this head is a final one to pass on. */
  isFinal(controller: Dispatcher.DispatchController, statusCode: number, timeoutMs: number): boolean {
    if (statusCode < 200) {
      this.finalHeadDeadline ??= setTimeout(() => controller.abort(FINAL_HEAD_TIMEOUT), timeoutMs)
      return false
    }
    this.stop()
    const notHttp = statusNotHttp(statusCode)
    if (notHttp) controller.abort(notHttp)
    return notHttp === undefined
  }

  /** The request is over: no more waiting for a head. */
  stop(): void {
    clearTimeout(this.finalHeadDeadline)
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
  if (client.write(chunk)) return
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
