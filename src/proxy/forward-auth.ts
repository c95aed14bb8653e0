/**
 * routes[].forwardAuth: each request is first asked of an auth service, as nginx's auth_request,
 * Traefik's forwardAuth, Caddy's forward_auth and Envoy's ext_authz ask it (oauth2-proxy, Authelia,
 * Authentik answer). The service gets a GET with the headers the upstream would get (the verified
 * client identity and X-Forwarded-For, -Proto and -Host the gateway's own, never the client's copies)
 * and X-Forwarded-Method and -Uri, but its own Host and no body: the body stays unread until the
 * request goes upstream. A 2xx answer lets the request through, with the answer's responseHeaders
 * set on it (the client's copies of them removed whatever the answer says); any other answer is the
 * client's, its status, headers and body (a 401 with WWW-Authenticate, a 302 to a login page).
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import { Agent, request } from 'undici'
import { boundedBody } from '../bounded-body.js'
import type { ForwardAuth } from '../config/types.js'
import { clientResponseHeaders, upstreamRequestHeaders, type ForwardedFields } from './headers.js'
import { BODILESS_STATUSES } from './upstream-request.js'

/** The auth services' connections, kept alive between the requests of every route. */
const authServices = new Agent({ keepAliveTimeout: 30_000 })

/** The largest answer body relayed to a client: a login page, or an error's JSON, is a few KB. */
const MAX_DENIAL_BYTES = 64 * 1024

/**
 * What the auth service said: let the request through; or answer the client with its answer; or
 * nothing (it could not be reached, did not answer in time, or answered more than can be relayed),
 * and the client gets 502, or 504 for the time.
 */
export type AuthVerdict =
  | { readonly kind: 'allowed' }
  | { readonly kind: 'denied'; readonly status: number; readonly headers: OutgoingHttpHeaders; readonly body: Buffer }
  | { readonly kind: 'failed'; readonly status: 502 | 504; readonly error: Error }

/** What `auth` says of `req`, whose upstream request would carry `forwarded` and `identity`. */
export async function askForwardAuth(auth: ForwardAuth, req: IncomingMessage, forwarded: ForwardedFields, identity: Readonly<Record<string, string>>): Promise<AuthVerdict> {
  const headers = upstreamRequestHeaders(req, forwarded, identity, undefined)
  // Its own Host (undici's, from the url), and no body, nor what would frame or announce one.
  for (const name of ['host', 'content-length', 'expect']) delete headers[name]
  headers['x-forwarded-method'] = req.method
  headers['x-forwarded-uri'] = req.url
  try {
    const answer = await request(auth.url, {
      method: 'GET',
      headers: headers as Record<string, string | string[]>,
      dispatcher: authServices,
      signal: AbortSignal.timeout(auth.timeoutMs),
    })
    if (answer.statusCode >= 200 && answer.statusCode < 300) {
      await answer.body.dump()
      letThrough(req, auth.responseHeaders, answer.headers)
      return { kind: 'allowed' }
    }
    const body = await boundedBody(answer.body, MAX_DENIAL_BYTES, "the auth service's answer")
    const relayed = clientResponseHeaders(answer.headers, undefined, answer.statusCode)
    // The body's own length, as it is relayed whole (the service may have sent it chunked).
    if (BODILESS_STATUSES.has(answer.statusCode)) delete relayed['content-length']
    else relayed['content-length'] = body.length
    return { kind: 'denied', status: answer.statusCode, headers: relayed, body }
  } catch (error) {
    return { kind: 'failed', status: (error as Error).name === 'TimeoutError' ? 504 : 502, error: error as Error }
  }
}

/** The request, let through: the client's copies of `names` removed, and the auth service's set in their place. */
function letThrough(req: IncomingMessage, names: readonly string[], answered: IncomingHttpHeaders): void {
  for (const name of names) {
    delete req.headers[name]
    const value = answered[name]
    if (value !== undefined) req.headers[name] = Array.isArray(value) ? value.join(', ') : value
  }
}
