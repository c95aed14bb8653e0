/**
 * What a request of another HTTP version than 1.x is answered. A later major version (`HTTP/2.0` in
 * an HTTP/1 request line) gets 505, which RFC 9110 15.6.6 has for a major version the server does not
 * serve, as nginx answers it. HTTP/0.9, whose requests carry no version (a method and a
 * target), gets 400 and the connection closes: it is not served, and a response of it would have no
 * status line for the client to read (nginx answers one; HAProxy answers 400, Envoy 426).
 * `HTTP/0.9` written out in a request line is no version either (nginx: 400).
 */

/** The answer to a parsed request whose major version is not 1. */
export function otherMajorVersionStatus(major: number): 400 | 505 {
  return major === 0 ? 400 : 505
}
