/**
 * A request path normalized before routing, as nginx does and Envoy's edge settings (normalize_path,
 * merge_slashes) do: repeated slashes merged, dot segments (`.`, `..`) resolved (RFC 3986 5.2.4). The
 * route's path prefix and the upstream's own path prefix are how a route confines what it exposes:
 * `/api/../admin` must not reach `/admin` through the `/api` route because the upstream resolved what
 * the gateway did not, and `//admin` must not pass a route `/admin` by because the upstream merged
 * what the gateway did not. The request goes upstream with the normalized path, so the gateway and the
 * upstream read the same one. Every other byte of the target is kept: percent-encoding, the query.
 */

/** A `.` or `..` segment, `%2e` spelling included, next to any separator an upstream might honour. */
const DOT_SEGMENT = /(?:\/|\\|%2f|%5c)(?:\.|%2e){1,2}(?=$|\/|\\|%2f|%5c)/i
const ENCODED_OR_BACK_SLASH = /\\|%2f|%5c/i
const REPEATED_SLASHES = /\/{2,}/g
const ESCAPE = /%[0-9a-f]{2}/gi
/**
 * What no one reading of the path can be trusted with: a dot segment with path parameters (`..;x`,
 * which Tomcat and Jetty strip before they resolve: the nginx + Tomcat `/..;/` bypass), and a NUL
 * (nginx refuses it; C-based servers end the path there).
 */
const UNRESOLVABLE = /(?:\/|\\|%2f|%5c)(?:\.|%2e){1,2}(?:;|%3b)|%00/i

/**
 * The target with its path's slashes merged (unless `mergeSlashes` is false) and dot segments
 * resolved; the same string when it has neither (nearly every request). Undefined when the path
 * cannot be resolved safely: `..` above the root (nginx answers 400), dot segments beside an encoded
 * slash or a backslash, which upstreams split on or not as they please, so no one reading of the path
 * is the upstream's, or UNRESOLVABLE's forms.
 */
export function normalizePath(target: string, { mergeSlashes = true } = {}): string | undefined {
  const queryAt = target.indexOf('?')
  const query = queryAt === -1 ? '' : target.slice(queryAt)
  let path = queryAt === -1 ? target : target.slice(0, queryAt)
  if (UNRESOLVABLE.test(path)) return undefined
  if (mergeSlashes && path.includes('//')) path = path.replace(REPEATED_SLASHES, '/')
  if (!DOT_SEGMENT.test(path)) return path.length + query.length === target.length ? target : path + query
  if (ENCODED_OR_BACK_SLASH.test(path)) return undefined
  const resolved: string[] = []
  const segments = path.split('/')
  // segments[0] is the empty string before the leading slash.
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!
    const dots = segment.replace(/%2e/gi, '.')
    const last = i === segments.length - 1
    if (dots === '..' && resolved.pop() === undefined) return undefined
    if (dots === '.' || dots === '..') {
      // `/a/b/..` is `/a/`: a dot segment at the end leaves the slash before it.
      if (last) resolved.push('')
      continue
    }
    resolved.push(segment)
  }
  return `/${resolved.join('/')}${query}`
}

/**
 * The path a route is chosen by: the normalized target's path with its escapes of ASCII characters
 * decoded (`%61` is `a`, `%2F` is `/`), as nginx decodes a path before it matches locations, and as
 * most upstreams read it (Go's URL.Path, Spring, Rails), so that every spelling of a path takes the
 * same route. Matched on the raw bytes, `/%61dmin` or `/admin%2Fusers` would miss a route `/admin` and
 * take the catch-all route's upstream, identity and timeouts to a service that reads it as /admin.
 * Only routing reads it: the target goes upstream with its escapes as they came. Escapes of other
 * bytes are only upper-cased; `%3F` stays an escape, since a decoded `?` would end the path. The
 * target itself, with its query, when it has no `%` (nearly every request).
 */
export function routingPath(target: string, { mergeSlashes = true } = {}): string {
  if (!target.includes('%')) return target
  const queryAt = target.indexOf('?')
  const path = (queryAt === -1 ? target : target.slice(0, queryAt)).replace(ESCAPE, decodeAscii)
  return mergeSlashes && path.includes('//') ? path.replace(REPEATED_SLASHES, '/') : path
}

/**
 * `target` (normalized) without the route path `prefix` that its routing path begins with, for a route
 * that strips its path: cut where the prefix ends in the target as it came, escapes and all, so that
 * the rest goes upstream as the client wrote it (`/%61pi/x?q` without `/api` is `/x?q`). What is left
 * starts with a slash, one put there if need be (`/api` and `/api?q` leave `/` and `/?q`).
 */
export function withoutRoutePath(target: string, prefix: string, { mergeSlashes = true } = {}): string {
  if (prefix === '/') return target
  let routed = 0
  let at = 0
  let previous = ''
  while (routed < prefix.length && at < target.length) {
    const escape = target[at] === '%' ? /^%[0-9a-f]{2}/i.exec(target.slice(at, at + 3))?.[0] : undefined
    // As routingPath reads it: an escape of ASCII is its character, another one its three.
    const char = escape ? decodeAscii(escape) : target[at]!
    at += escape ? 3 : 1
    // A slash after a slash was merged away in the routing path (when mergeSlashes).
    if (mergeSlashes && char === '/' && previous === '/') continue
    routed += char.length
    previous = char
  }
  const rest = target.slice(at)
  return rest.startsWith('/') ? rest : `/${rest}`
}

const QUESTION_MARK = 0x3f

function decodeAscii(escape: string): string {
  const code = Number.parseInt(escape.slice(1), 16)
  return code < 0x80 && code !== QUESTION_MARK ? String.fromCharCode(code) : escape.toUpperCase()
}
