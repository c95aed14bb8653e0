/**
 * The answer to what Node's HTTP parser refused (a malformed request line, header or chunked body, a
 * head too large, one too slow to come), which early-refusals.ts gives: its status, and the parser's
 * own words for its body.
 */
import { HTTP1_ONLY, refusedVersionStatus, type ParseError } from './http-versions.js'

/**
 * What Node's own clientError handler answers for each parser error, but for a later major version
 * (505, see http-versions.ts), HTTP/2's connection preface among them; any other error gets none.
 */
export function parserErrorStatus(error: NodeJS.ErrnoException): number | undefined {
  // `PRI * HTTP/2.0`, which the parser stops at: a client with prior knowledge of HTTP/2 (curl
  // --http2-prior-knowledge), as Go's server answers it.
  if (error.code === 'HPE_PAUSED_H2_UPGRADE') return 505
  if (error.code === 'HPE_HEADER_OVERFLOW') return 431
  if (error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return 413
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408
  if (error.code === 'HPE_INVALID_VERSION') return refusedVersionStatus(error)
  return error.code?.startsWith('HPE_') ? 400 : undefined
}

/**
 * What Node's parser found wrong, in its own words (llhttp's fixed texts, such as "Expected CRLF after
 * version" for the bare LF of a request typed into openssl s_client without -crlf; never the client's
 * bytes), for the refusal's body, as the gateway's own refusals say why. That bare LF also gets its fix,
 * as the parser's words read as a fault of the request line.
 */
export function parserErrorDetail(error: NodeJS.ErrnoException & ParseError): string | undefined {
  if (error.code === 'HPE_PAUSED_H2_UPGRADE') return HTTP1_ONLY
  const { reason } = error as { reason?: unknown }
  if (!error.code?.startsWith('HPE_') || typeof reason !== 'string' || reason === '') return undefined
  // The parser stops just past the LF; "Expected CRLF after version" is also its answer to `HTTP/1.1 x`.
  const bareLf = error.code === 'HPE_INVALID_VERSION' && error.bytesParsed !== undefined && error.rawPacket?.[error.bytesParsed - 1] === 0x0a
  return bareLf ? `${reason} (send CRLF line ends: openssl s_client -crlf)` : reason
}
