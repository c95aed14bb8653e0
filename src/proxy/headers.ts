/**
 * Header rewriting between client and upstream (RFC 9110 §7.6.1): hop-by-hop headers and every header
 * the Connection header nominates are removed, the route's own changes (`headers`) are made, then the
 * gateway adds its own. Nominated headers are stripped first, so `Connection: X-Forwarded-For` cannot
 * delete what we add (Traefik CVE-2024-45410); a route cannot change what the gateway manages
 * (managed-headers.ts).
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import type { HeaderChanges } from '../config/types.js'
import { CLIENT_IDENTITY_HEADERS, GATEWAY_SET_ON_EVERY_REQUEST, HOP_BY_HOP, ROUTING_AND_FRAMING } from '../managed-headers.js'
import { filledTemplate, type PlaceholderSources } from './placeholder-values.js'

/**
 * Forwarding claims are the gateway's to make, and it trusts no client to have made them before it, as
 * Traefik trusts none by default: Forwarded (RFC 7239) and every X-Forwarded-* header it does not set
 * (-Port, -Prefix, -Ssl, -Scheme, -Tls-Client-Cert, …), which frameworks read before or beside
 * X-Forwarded-Proto (Spring takes Forwarded first, Rack X-Forwarded-Ssl), are dropped. X-Forwarded-For
 * keeps the client's entries, with the gateway's appended after them.
 */
function isForwardingClaim(name: string): boolean {
  return name === 'forwarded' || (name.startsWith('x-forwarded-') && name !== 'x-forwarded-for')
}

/**
 * Request headers that never go upstream: the client identity headers, and Expect, which the gateway
 * answers itself (handler.ts sends 100 Continue once the request is routed) and undici refuses.
 */
const NEVER_FORWARDED = new Set([...CLIENT_IDENTITY_HEADERS, 'expect'])

const GATEWAY_SET = new Set([...CLIENT_IDENTITY_HEADERS, ...GATEWAY_SET_ON_EVERY_REQUEST])

/**
 * A request header that never goes upstream as the client sent it: one dropped (NEVER_FORWARDED,
 * a forwarding claim), or another spelling of a header the gateway sets or drops, hop-by-hop ones
 * included, with `_` for any `-` (`X-Forwarded_For`, `Transfer_Encoding`), which CGI, WSGI and Rack
 * servers read as the same header (nginx drops every underscored name by default,
 * `underscores_in_headers off`).
 */
function droppedFromRequest(name: string): boolean {
  const dashed = name.includes('_') ? name.replaceAll('_', '-') : name
  return NEVER_FORWARDED.has(dashed) || isForwardingClaim(dashed) || (dashed !== name && (GATEWAY_SET.has(dashed) || HOP_BY_HOP.has(dashed)))
}

/**
 * What nearly every message's Connection header says, which nominates nothing: tested as a whole rather
 * than split, trimmed and lower-cased twice a request (about 20 ns a call instead of 125).
 */
const NOMINATES_NOTHING = /^\s*(?:keep-alive|close)\s*$/i

/** Header names the Connection header nominates, beyond the hop-by-hop ones; undefined when none. */
function nominated(connection: string | string[] | undefined): Set<string> | undefined {
  if (connection === undefined || (typeof connection === 'string' && NOMINATES_NOTHING.test(connection))) return undefined
  let names: Set<string> | undefined
  for (const value of typeof connection === 'string' ? [connection] : connection) {
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase()
      if (!name || ROUTING_AND_FRAMING.has(name) || HOP_BY_HOP.has(name) || name === 'close') continue
      names ??= new Set()
      names.add(name)
    }
  }
  return names
}

function withoutHopByHop(headers: IncomingHttpHeaders, alsoDrop?: (name: string) => boolean): OutgoingHttpHeaders {
  const drop = nominated(headers.connection)
  const out: OutgoingHttpHeaders = {}
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || drop?.has(name) || alsoDrop?.(name)) continue
    out[name] = headers[name]
  }
  return out
}

/** What X-Forwarded-For (with X-Real-IP), X-Forwarded-Proto and X-Forwarded-Host say upstream. */
export interface ForwardedFields {
  /** The connection's client (client-address.ts), appended to X-Forwarded-For. */
  readonly for: string | undefined
  /** Who sent the request (forwarded-for.ts): X-Real-IP. The same as `for` but from a proxy forwardedFor trusts. */
  readonly realIp: string | undefined
  readonly proto: 'http' | 'https'
  /** The Host the client sent (already validated). */
  readonly host: string
}

/**
 * Headers sent to the upstream for a client request; `identity` is the gateway's client identity
 * headers, `changes` the route's own (none of them a header the gateway manages).
 */
export function upstreamRequestHeaders(
  req: IncomingMessage,
  forwarded: ForwardedFields,
  identity: Readonly<Record<string, string>>,
  changes: HeaderChanges | undefined,
): OutgoingHttpHeaders {
  const sources = changes && { socket: req.socket, clientAddress: forwarded.realIp }
  const headers = withRouteChanges(withoutHopByHop(req.headers, droppedFromRequest), changes, sources)
  for (const name in identity) headers[name] = identity[name]
  const peer = forwarded.for ?? ''
  // The client's value unless its Connection header nominated it (RFC 9110 7.6.1).
  const prior = headers['x-forwarded-for']
  headers['x-forwarded-for'] = prior ? `${[prior].flat().join(', ')}, ${peer}` : peer
  headers['x-forwarded-proto'] = forwarded.proto
  headers['x-forwarded-host'] = forwarded.host
  // The one address an upstream can take as it is, as Traefik sets it and nginx configs commonly do.
  headers['x-real-ip'] = forwarded.realIp ?? ''
  return headers
}

/**
 * Whether a message's Transfer-Encoding (present) is chunked alone, the one coding the gateway
 * decodes and codes again (undici and Node's server): what a request and a response may come under.
 */
export function isChunkedAlone(codings: string | string[]): boolean {
  // Exactly `chunked` on nearly every message: no allocation for it.
  return codings === 'chunked' || [codings].flat().join(',').trim().toLowerCase() === 'chunked'
}

/** Headers sent to the client for an upstream response, with the route's `changes`, of `statusCode` if it is a final one. */
export function clientResponseHeaders(headers: IncomingHttpHeaders, changes: HeaderChanges | undefined, statusCode?: number): OutgoingHttpHeaders {
  const relayed = withRouteChanges(withoutHopByHop(headers), changes)
  // RFC 9110 8.6: a 204 carries no Content-Length (a 304 may).
  if (statusCode === 204) delete relayed['content-length']
  return relayed
}

/**
 * A route's changes applied to `headers` (lower-case names): its removals, then what it sets, its
 * placeholders filled from `sources` (a request's: a response's changes hold none). A header whose
 * value is left empty is not sent, as nginx's proxy_set_header leaves it out: a client without a
 * certificate sends no {tls.client.subject}, nor its own copy of that header.
 */
function withRouteChanges(headers: OutgoingHttpHeaders, changes: HeaderChanges | undefined, sources?: PlaceholderSources): OutgoingHttpHeaders {
  if (changes === undefined) return headers
  for (const name of changes.remove) delete headers[name]
  for (const [name, value] of changes.set) {
    const filled = typeof value === 'string' ? value : sources ? filledTemplate(value, sources) : ''
    if (filled === '') delete headers[name]
    else headers[name] = filled
  }
  return headers
}
