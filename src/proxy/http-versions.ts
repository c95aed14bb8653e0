/**
 * What a request of another HTTP version than 1.x is answered. A later major version (`HTTP/2.0` or
 * `HTTP/3.0` in an HTTP/1 request line) gets 505, which RFC 9110 15.6.6 has for a major version the
 * server does not serve, as nginx answers it. HTTP/0.9, whose requests carry no version (a method and a
 * target), gets 400 and the connection closes: it is not served, and a response of it would have no
 * status line for the client to read (nginx answers one; HAProxy answers 400, Envoy 426).
 * `HTTP/0.9` written out in a request line is no version either (nginx: 400). Node's parser refuses
 * other 1.x minor versions (`HTTP/1.2`), which RFC 9112 2.3 would have served as HTTP/1.1: 400.
 */

/** Why a request of another major version is refused. */
export const HTTP1_ONLY = 'this listener speaks HTTP/1.x'

/** The answer to a parsed request whose major version is not 1. */
export function otherMajorVersionStatus(major: number): 400 | 505 {
  return major === 0 ? 400 : 505
}

/** A parse error as Node's server reports it: the read it happened in, and where. */
export interface ParseError extends Error {
  readonly rawPacket?: Buffer
  readonly bytesParsed?: number
  /** What of the request line came in earlier reads, if the error is in it (request-lines.ts adds it). */
  lineBefore?: string
}

/** A request line's version, well formed, where the parser stopped. */
const VERSION_AT_END = /HTTP\/(\d)\.\d$/
const LINE_END = new Set([0x0d, 0x0a])

/**
 * The answer to a version Node's parser refused (HPE_INVALID_VERSION): 505 for a well-formed version
 * of a later major (`HTTP/2.1`, `HTTP/3.0`: the parser takes HTTP/2.0 alone), 400 for anything else.
 * The parser refuses it in the read that ends the line, which may hold only the version's last digit.
 */
export function refusedVersionStatus(error: ParseError): 400 | 505 {
  const { rawPacket: read, bytesParsed: at, lineBefore = '' } = error
  if (!read || at === undefined || !LINE_END.has(read[at] ?? 0)) return 400
  const major = VERSION_AT_END.exec(lineBefore + read.toString('latin1', Math.max(0, at - 8), at))?.[1]
  return major === undefined || Number(major) <= 1 ? 400 : otherMajorVersionStatus(Number(major))
}
