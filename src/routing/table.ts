/**
 * The compiled route table: pick the host entry first (exact, else the one-label wildcard), then the
 * longest path prefix within it, as nginx server blocks and Envoy virtual hosts do. Pure and immutable;
 * a reload compiles a new one.
 */
import { lookupHost } from './host.js'

export interface RoutableRoute {
  /** Lower-case exact host (`a.example.com`) or one-label wildcard (`*.example.com`). */
  readonly host: string
  /** Path prefix, starting with `/`. */
  readonly path: string
}

export interface RouteTable<R extends RoutableRoute> {
  /**
   * The route for a host (from normalizeHost) and a request target path (`/x?y`; the query is ignored).
   * undefined when nothing matches, including a target that is not a path (`*`, `http://x/y`).
   */
  match(host: string, path: string): R | undefined
  /**
   * The route of the host entry `match` would use that stands for the whole host where no path is known
   * yet (a TLS handshake picks its policy by SNI and counts under it): the one with the shortest path,
   * usually `/`, and of several as short the first in the config.
   */
  hostRoute(host: string): R | undefined
}

/** Identifies a route for duplicate detection: two routes with the same key can never both match. */
export function routeKey(route: RoutableRoute): string {
  return `${route.host} ${route.path}`
}

/** The routes of one host, by path for the lookup, and the one that stands for the host. */
interface HostEntry<R> {
  readonly byPath: ReadonlyMap<string, R>
  readonly hostRoute: R
}

export function compileRouteTable<R extends RoutableRoute>(routes: readonly R[]): RouteTable<R> {
  // Keyed by the host as written, exact or `*.suffix`.
  const byHost = new Map<string, R[]>()
  for (const route of routes) {
    const host = route.host.toLowerCase()
    const list = byHost.get(host)
    if (list) list.push(route)
    else byHost.set(host, [route])
  }
  const entries = new Map(
    [...byHost].map(([host, list]): [string, HostEntry<R>] => {
      const byPath = new Map<string, R>()
      for (const route of list) if (!byPath.has(route.path)) byPath.set(route.path, route)
      const hostRoute = list.reduce((shortest, route) => (route.path.length < shortest.path.length ? route : shortest))
      return [host, { byPath, hostRoute }]
    }),
  )
  // An exact host that exists hides the wildcard even when none of its paths match (no fallback).
  const entryForHost = (host: string) => lookupHost(entries, host)

  return {
    hostRoute: (host) => entryForHost(host)?.hostRoute,
    match(host, path) {
      // Absolute-form and asterisk-form targets (RFC 9112 3.2) are not routed; the caller answers 400.
      if (path.charCodeAt(0) !== SLASH) return undefined
      const entry = entryForHost(host)
      return entry && longestPrefixRoute(entry.byPath, path, endOfPath(path))
    },
  }
}

/**
 * Looks up only the prefixes a route could have for this path, longest first, so the cost grows with
 * the path's segments and not with the number of routes. `/a/b?q` tries `/a/b`, `/a/`, `/a`, `/`: each
 * ends where a segment does, inside the path (never in the query), so whatever route one names matches.
 * Nothing is decoded here: the caller gives routingPath()'s path (routing/path.ts), normalized and
 * decoded, and `/api%2fx` given as it is is not under `/api/`.
 */
function longestPrefixRoute<R extends RoutableRoute>(byPath: ReadonlyMap<string, R>, path: string, pathEnd: number): R | undefined {
  const whole = byPath.get(path.slice(0, pathEnd))
  if (whole) return whole
  for (let at = pathEnd - 1; at >= 0; at--) {
    const code = path.charCodeAt(at)
    if (!endsSegment(code)) continue
    // `/a/` matches `/a/b`; `/a` matches `/a/b` too, and `/a;p` and `/a\b`.
    const route = (code === SLASH ? byPath.get(path.slice(0, at + 1)) : undefined) ?? (at > 0 ? byPath.get(path.slice(0, at)) : undefined)
    if (route) return route
  }
  return undefined
}

const SLASH = 0x2f
const SEMICOLON = 0x3b
const BACKSLASH = 0x5c

/**
 * Where a segment ends, for a prefix: a slash, or what upstreams may read as one's end: `;` (path
 * parameters: Tomcat and Jetty read `/admin;jsessionid=1` as `/admin`) and `\` (IIS, and frameworks
 * on Windows, read it as a slash). nginx and Envoy match prefixes by characters, and so agree.
 */
function endsSegment(code: number): boolean {
  return code === SLASH || code === SEMICOLON || code === BACKSLASH
}

function endOfPath(target: string): number {
  const query = target.indexOf('?')
  return query === -1 ? target.length : query
}
