/**
 * Closed label values. The method, the one label a client names, is folded into a fixed set, so random
 * requests cannot create new series (Caddy's metrics do the same); Host and path only ever choose a
 * configured route, whose name is the label.
 */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'])

export function methodLabel(method: string | undefined): string {
  return method && KNOWN_METHODS.has(method) ? method : 'OTHER'
}

/** The route placeholder when no route matched (unknown SNI or Host). */
export const NO_ROUTE = '(none)'

/**
 * The labels of portcullis_overload_rejections_total: the limit reached, of routes.yaml `limits` or a
 * route's upstream.maxRequests (`upstream`), and for a request its route (a connection is turned away
 * before it has one).
 */
export type OverloadRejection = { readonly limit: 'connections' } | { readonly limit: 'requests' | 'upstream'; readonly route: string }
export type OverloadLimit = OverloadRejection['limit']

/**
 * The `stage` label of portcullis_upstream_errors_total: a failure the gateway answered for (its own
 * 502 or 504, counted in portcullis_requests_total too), or one that cut the upstream's answer short.
 */
export type UpstreamFailureStage = 'before_response' | 'mid_response'
