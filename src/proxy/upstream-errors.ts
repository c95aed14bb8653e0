/**
 * One place maps an upstream failure to what the client gets and what the log and metrics say:
 * a timeout is 504, anything else that kept us from a response (refused, reset, DNS, TLS, an answer
 * that is not HTTP undici takes) is 502.
 */
import { ErrorCodes, type ErrorCode } from '../errors.js'
import { handshakeReason, type HandshakeReason } from '../tls/reasons.js'

export interface UpstreamFailure {
  readonly status: 502 | 504
  readonly reason: HandshakeReason
  /** The stable code logged with it: timeout, TLS (verification or protocol), connection, or response. */
  readonly code: ErrorCode
}

const CONNECTION_REASONS: ReadonlySet<HandshakeReason> = new Set(['connection_refused', 'connection_reset', 'dns', 'other'])

export function classifyUpstreamError(error: unknown): UpstreamFailure {
  if (isInvalidResponse(error)) return { status: 502, reason: 'other', code: ErrorCodes.UPSTREAM_RESPONSE }
  const reason = handshakeReason(error)
  if (reason === 'timeout') return { status: 504, reason, code: ErrorCodes.UPSTREAM_TIMEOUT }
  return { status: 502, reason, code: CONNECTION_REASONS.has(reason) ? ErrorCodes.UPSTREAM_CONNECT : ErrorCodes.UPSTREAM_TLS }
}

/** An upstream answer that undici took but that is not HTTP either (a status above 599). */
export class InvalidUpstreamResponse extends Error {}

/** undici's codes for an answer it read and refused: a head too large, a body that contradicts its length. */
const INVALID_RESPONSE_CODES = new Set(['UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_EXCEEDED_MAX_SIZE'])

/**
 * The upstream answered, but not with HTTP that undici takes: a malformed head (HTTPParserError), an
 * unsolicited 100 ('bad response') or a 101 to a request that asked no upgrade ('bad upgrade'), one of
 * the codes above, or one the gateway refuses itself. The request reached the upstream, so it is not a
 * lost connection to retry on.
 */
function isInvalidResponse(error: unknown): boolean {
  if (error instanceof InvalidUpstreamResponse) return true
  const { name, code = '', message } = error as { name?: string; code?: string; message?: string }
  return (
    name === 'HTTPParserError' ||
    INVALID_RESPONSE_CODES.has(code) ||
    (code === 'UND_ERR_SOCKET' && (message === 'bad response' || message === 'bad upgrade'))
  )
}
