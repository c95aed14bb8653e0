/**
 * What a request must be before it is routed, beyond what Node's parser checks: the framing a proxy
 * must not pass on, one Host, and a target that names a path every reader agrees on. The target is
 * rewritten in place to origin form with its path normalized (slashes merged, dot segments resolved),
 * and routed by that path read as an upstream that decodes it reads it (routingPath), so that the
 * route's policy holds whichever spelling of the path the client sent.
 */
import type { IncomingMessage } from 'node:http'
import { normalizeHost } from '../routing/host.js'
import { normalizePath, routingPath } from '../routing/path.js'
import { isChunkedAlone } from './headers.js'
import { HTTP1_ONLY, otherMajorVersionStatus } from './http-versions.js'

/**
 * The header fields a request may have, as Envoy (max_headers_count) and HAProxy (tune.http.maxhdr, 101) bound
 * them. Past it, the gateway's own X-Forwarded-* and client identity headers, added last, would fall
 * beyond what an upstream reads: a Node server keeps about the first thousand, and drops the rest
 * without a word.
 */
const MAX_REQUEST_HEADER_FIELDS = 100

export interface RequestRefusal {
  readonly status: 400 | 405 | 431 | 501 | 505
  readonly detail: string
}

/**
 * What the request is routed by, once it passed: its host, normalized, and its routingPath(); else why
 * it is refused. Rewrites `req.url` in place (and the Host of an absolute-form target): what the
 * upstream is sent is what was checked.
 */
export function checkRequest(req: IncomingMessage, { mergeSlashes = true } = {}): { readonly host: string; readonly path: string } | RequestRefusal {
  const framing = framingProblem(req)
  if (framing) return framing
  if (req.rawHeaders.length > 2 * MAX_REQUEST_HEADER_FIELDS) return { status: 431, detail: `more than ${MAX_REQUEST_HEADER_FIELDS} header fields` }
  // Cross-site tracing: an upstream answers TRACE with the request it got, cookies and Authorization
  // included, readable by a script that could not read them otherwise. Refused before routing, as
  // nginx refuses it (405 without Allow: no one method list holds for every route's upstream).
  if (req.method === 'TRACE') return { status: 405, detail: 'TRACE is not forwarded' }
  toOriginForm(req)
  const host = normalizeHost(req.headers.host)
  if (host === undefined) return { status: 400, detail: 'missing or invalid Host header' }
  const repeated = repeatedSingleField(req.rawHeaders)
  if (repeated) return { status: 400, detail: `more than one ${repeated} header` }
  // Asterisk-form (OPTIONS *) and authority-form targets name no route.
  if (!req.url?.startsWith('/')) return { status: 400, detail: 'request target must be a path' }
  // RFC 9112 3.2 has no fragment in a target; where `#` ends the path is each reader's guess (nginx
  // cuts it there, so `/api/..#` would climb out of /api upstream). Envoy refuses it too.
  if (req.url.includes('#')) return { status: 400, detail: 'a fragment (#) in the request target' }
  const target = normalizePath(req.url, { mergeSlashes })
  if (target === undefined) {
    return { status: 400, detail: 'a path that cannot be resolved safely: .. above the root, a dot segment beside an encoded slash or a backslash or with ;parameters, or a NUL (%00)' }
  }
  // Forwarded with its slashes merged and `.` and `..` resolved; routed by that path decoded.
  req.url = target
  return { host, path: routingPath(target, { mergeSlashes }) }
}

/**
 * What Node's parser lets through and a proxy must not pass on. RFC 9112 6.1: a transfer coding other
 * than chunked gets 501 (nginx and Envoy answer so; undici would re-chunk the body and drop the gzip
 * coding the bytes still carry), and Transfer-Encoding in an HTTP/1.0 request is faulty. A request
 * of another major version, HTTP/0.9 included, is refused (http-versions.ts).
 */
function framingProblem(req: IncomingMessage): RequestRefusal | undefined {
  if (req.httpVersionMajor !== 1) return { status: otherMajorVersionStatus(req.httpVersionMajor), detail: HTTP1_ONLY }
  const codings = req.headers['transfer-encoding']
  if (codings === undefined) return undefined
  if (req.httpVersionMinor === 0) return { status: 400, detail: 'Transfer-Encoding in an HTTP/1.0 request' }
  if (!isChunkedAlone(codings)) return { status: 501, detail: 'transfer codings other than chunked' }
  return undefined
}

const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)(.*)$/is

/**
 * RFC 9112 3.2.2: a server must accept a target in absolute form (`GET http://a.test/x`) and take the
 * host from it rather than from Host, as nginx and Envoy do. The request is rewritten to origin form
 * with that Host, so that routing, the policy check and the upstream all see the same host. The path
 * then goes the way of any other request's.
 */
function toOriginForm(req: IncomingMessage): void {
  const absolute = req.url?.startsWith('/') ? undefined : ABSOLUTE_FORM.exec(req.url ?? '')
  if (!absolute) return
  const [, authority, rest] = absolute as unknown as [string, string, string]
  req.headers.host = authority
  req.url = rest.startsWith('/') ? rest : `/${rest}`
}

/**
 * Fields a request carries once, whose repetition is answered 400, as nginx answers it for Host and
 * Authorization ("client sent duplicate header line"). Node keeps the first of each and drops the
 * rest, so something in front of the gateway that read the last one (a WAF) would disagree with the
 * upstream about the host (RFC 9112 3.2), about who is calling, or about how to read the body (nginx
 * passes every Content-Type line on; here only the first would go, so it is refused instead).
 */
const SINGLE_FIELDS = new Set(['host', 'authorization', 'content-type'])
const SINGLE_FIELD_LENGTHS = new Set([...SINGLE_FIELDS].map((name) => name.length))

function repeatedSingleField(rawHeaders: readonly string[]): string | undefined {
  const seen: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    // The length test spares lower-casing every header of every request.
    if (!SINGLE_FIELD_LENGTHS.has(name.length)) continue
    const field = name.toLowerCase()
    if (!SINGLE_FIELDS.has(field)) continue
    if (seen.includes(field)) return field
    seen.push(field)
  }
  return undefined
}
