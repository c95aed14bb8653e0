/**
 * One place maps an upstream failure to what the client gets and what the log and metrics say:
 * a timeout is 504, anything else that kept us from a response (refused, reset, DNS, TLS) is 502.
 */
import { handshakeReason, type HandshakeReason } from '../tls/reasons.js'

export interface UpstreamFailure {
  readonly status: 502 | 504
  readonly reason: HandshakeReason
}

export function classifyUpstreamError(error: unknown): UpstreamFailure {
  const reason = handshakeReason(error)
  return { status: reason === 'timeout' ? 504 : 502, reason }
}
