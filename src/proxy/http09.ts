/**
 * HTTP/0.9 is not served, and a request of it is refused as soon as its line has come. Node's parser
 * (llhttp) reads a request line without a version (`GET /`, HTTP/0.9's simple request) as version 0.9,
 * and then reads a header block after it, as for HTTP/1.x: a block that an HTTP/0.9 client, which
 * waits for its answer after the line, never sends. The request would reach no handler, and the
 * connection would wait for the headers timeout (20 s, then 408). So a connection's first request line
 * is looked at as it comes (request-lines.ts). An HTTP/0.9 line behind a request on a keep-alive
 * connection is left to the headers timeout: no client speaks HTTP/1.1 and then HTTP/0.9.
 */

/**
 * The method of a connection's first request line if the parser read it as HTTP/0.9: a line without
 * a version, or `HTTP/0.9` written out (a version no HTTP/1 message carries).
 */
export function http09Method(line: string): string | undefined {
  return isHttp09(line) ? line.slice(0, line.indexOf(' ')) : undefined
}

/**
 * The parser has taken the line without an error, so it is a method, a target and at most a version,
 * between spaces; with no version, or HTTP/0.9, it read the line as HTTP/0.9.
 */
function isHttp09(line: string): boolean {
  const words = line.split(' ').filter(Boolean)
  return words.length === 2 || words[2] === 'HTTP/0.9'
}
