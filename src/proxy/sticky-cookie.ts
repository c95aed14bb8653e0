/**
 * upstream.stickyCookie: a client stays on the url it was first sent to, as Traefik's sticky cookie,
 * nginx Plus's `sticky cookie` and HAProxy's `cookie … insert` keep it. The gateway names the url in a
 * cookie of the response (a hash of the url, which tells nothing of the upstream's address); a request
 * whose cookie names a url of the route that is in turn goes there, and any other goes as the route's
 * balance says, and gets the cookie of the url it went to. The cookie is the client's text: it only
 * ever selects one of the route's own urls.
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { UpstreamConfig } from '../config/types.js'

/** The cookie's value for each url of `upstream`: the first 16 hex digits of the url's SHA-256. */
const tokensOf = new WeakMap<UpstreamConfig, readonly string[]>()

function urlTokens(upstream: UpstreamConfig): readonly string[] {
  let tokens = tokensOf.get(upstream)
  if (!tokens) tokensOf.set(upstream, (tokens = upstream.urls.map(({ url }) => createHash('sha256').update(url).digest('hex').slice(0, 16))))
  return tokens
}

/** The url (its index) the request's sticky cookie names; undefined without one, or one naming no url of the route. */
export function stickyUrl(upstream: UpstreamConfig, req: IncomingMessage): number | undefined {
  const name = upstream.stickyCookie
  const header = req.headers.cookie
  if (name === undefined || header === undefined) return undefined
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=')
    if (at === -1 || pair.slice(0, at).trim() !== name) continue
    const index = urlTokens(upstream).indexOf(pair.slice(at + 1).trim())
    if (index !== -1) return index
  }
  return undefined
}

/**
 * The response's headers with the cookie that names `url`, where the request's did not (`named`, its
 * stickyUrl): Path=/, for the session (no expiry), HttpOnly, SameSite=Lax, and Secure where the client
 * came over TLS.
 */
export function withStickyCookie(
  headers: OutgoingHttpHeaders,
  upstream: UpstreamConfig,
  req: IncomingMessage,
  { url, named }: { url: number; named: number | undefined },
): OutgoingHttpHeaders {
  const name = upstream.stickyCookie
  if (name === undefined || named === url) return headers
  const secure = (req.socket as TLSSocket).encrypted ? '; Secure' : ''
  const cookie = `${name}=${urlTokens(upstream)[url]}; Path=/; HttpOnly; SameSite=Lax${secure}`
  const upstreams = headers['set-cookie']
  headers['set-cookie'] = upstreams === undefined ? [cookie] : [...(Array.isArray(upstreams) ? upstreams : [String(upstreams)]), cookie]
  return headers
}
