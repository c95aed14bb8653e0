/**
 * One place maps an upstream failure to what the client gets and what the log and metrics say:
 * a timeout is 504, anything else that kept us from a response (refused, reset, DNS, TLS, an answer
 * that is not HTTP undici takes) is 502.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { errorChain, ErrorCodes, type ErrorCode } from '../errors.js'
import { failureReason, OTHER_CHAIN_VERDICTS, type FailureReason } from '../tls/reasons.js'
import { isChunkedAlone } from './headers.js'

export interface UpstreamFailure {
  readonly status: 502 | 504
  readonly reason: FailureReason
  /** The stable code logged with it: timeout, TLS (verification or protocol), connection, or response. */
  readonly code: ErrorCode
}

const CONNECTION_REASONS: ReadonlySet<FailureReason> = new Set(['connection_refused', 'connection_reset', 'dns', 'other'])

export function classifyUpstreamError(error: unknown): UpstreamFailure {
  if (isInvalidResponse(error)) return { status: 502, reason: 'other', code: ErrorCodes.UPSTREAM_RESPONSE }
  const reason = failureReason(error)
  if (reason === 'timeout') return { status: 504, reason, code: ErrorCodes.UPSTREAM_TIMEOUT }
  // An alert with no reason of its own (handshake_failure, decode_error, …) is 'other', and TLS's.
  const tls = !CONNECTION_REASONS.has(reason) || isTlsError(error)
  return { status: 502, reason, code: tls ? ErrorCodes.UPSTREAM_TLS : ErrorCodes.UPSTREAM_CONNECT }
}

/** OpenSSL's and Node's TLS errors (ERR_SSL_*, ERR_TLS_*, a verdict on the chain), the error or one of its causes. */
function isTlsError(error: unknown): boolean {
  for (const { code } of errorChain(error)) {
    if (typeof code === 'string' && (/^ERR_(SSL|TLS)_/.test(code) || OTHER_CHAIN_VERDICTS.has(code))) return true
  }
  return false
}

/** An upstream answer that undici took but that is not HTTP either (a status above 599). */
class InvalidUpstreamResponse extends Error {}

/**
 * RFC 9110 15: status codes are three digits from 100 to 599. What else an upstream answers is not
 * HTTP: the error to stop its request with, which the client gets as 502.
 */
export function statusNotHttp(statusCode: number): Error | undefined {
  return statusCode > 599 ? invalidUpstreamResponse(`upstream answered status ${statusCode}`) : undefined
}

/**
 * RFC 9112 6.1: a transfer coding is the message's, and Transfer-Encoding is hop-by-hop, so the body
 * goes to the client without it. undici decodes chunked alone: under any other coding (gzip) the
 * bytes relayed would still carry it, and the client would take them for the content. nginx (1.23
 * on) answers such an upstream 502 ("upstream sent unknown Transfer-Encoding"), as the gateway answers
 * a client's 501 (request-checks.ts).
 */
export function codingNotRelayable(headers: IncomingHttpHeaders): Error | undefined {
  const codings = headers['transfer-encoding']
  if (codings === undefined || isChunkedAlone(codings)) return undefined
  return invalidUpstreamResponse('upstream answered with a transfer coding other than chunked')
}

/** An answer the gateway refuses itself, as it refuses a status beyond 599: the client gets 502. */
export function invalidUpstreamResponse(message: string): Error {
  return new InvalidUpstreamResponse(message)
}

/** undici's codes for an answer it read and refused: a head too large, a body that contradicts its length. */
const INVALID_RESPONSE_CODES = new Set(['UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'])

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
    // undici's parser asserts that a status is at least 100 before a handler sees it.
    code === 'ERR_ASSERTION' ||
    INVALID_RESPONSE_CODES.has(code) ||
    (code === 'UND_ERR_SOCKET' && (message === 'bad response' || message === 'bad upgrade'))
  )
}
