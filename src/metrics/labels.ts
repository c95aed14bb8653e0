/**
 * Closed label values. Anything a client controls (method, Host, path) is folded into a fixed set
 * before it becomes a label, so random requests cannot create new series (Caddy's metrics do the same).
 */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'])

export function methodLabel(method: string | undefined): string {
  return method && KNOWN_METHODS.has(method) ? method : 'OTHER'
}

/** The route placeholder when no route matched (unknown SNI or Host). */
export const NO_ROUTE = '(none)'
