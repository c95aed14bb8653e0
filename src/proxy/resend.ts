/**
 * When an upstream request is sent again: after a pooled connection closed under it before any answer,
 * for a request that may be sent twice. Both exchanges (forward.ts, upgrade.ts) ask here. (To the
 * route's next url after a failed connect, or an answer of upstream.retryOn: upstream-request.ts.)
 */
import type { Dispatcher } from 'undici'
import type { Upstream } from '../snapshot/upstreams.js'
import type { UpstreamFailure } from './upstream-errors.js'

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

/** Whether a request may be sent twice: an idempotent method, and no body to replay. */
export function mayBeSentTwice(request: Dispatcher.DispatchOptions): boolean {
  return request.body == null && RETRYABLE_METHODS.has(request.method)
}

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
    mayBeSentTwice(request) &&
    upstream.answers.hadAnswered(error)
  if (mayResend) {
    attempt.retries++
    attempt.requestSent = false
  }
  return mayResend
}
