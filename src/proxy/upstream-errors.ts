/**
 * One place maps an upstream failure to what the client gets and what the log and metrics say:
 * a timeout is 504, anything else that kept us from a response (refused, reset, DNS, TLS) is 502.
 */
import { ErrorCodes, type ErrorCode } from '../errors.js'
import { handshakeReason, type HandshakeReason } from '../tls/reasons.js'

export interface UpstreamFailure {
  readonly status: 502 | 504
  readonly reason: HandshakeReason
  /** The stable code logged with it: timeout, TLS (verification or protocol), or connection. */
  readonly code: ErrorCode
}

const CONNECTION_REASONS: ReadonlySet<HandshakeReason> = new Set(['connection_refused', 'connection_reset', 'dns', 'other'])

export function classifyUpstreamError(error: unknown): UpstreamFailure {
  const reason = handshakeReason(error)
  if (reason === 'timeout') return { status: 504, reason, code: ErrorCodes.UPSTREAM_TIMEOUT }
  return { status: 502, reason, code: CONNECTION_REASONS.has(reason) ? ErrorCodes.UPSTREAM_CONNECT : ErrorCodes.UPSTREAM_TLS }
}
