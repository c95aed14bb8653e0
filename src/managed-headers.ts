/**
 * The headers the gateway manages itself: those the request path removes, writes or answers
 * (proxy/headers.ts), and which a route's `headers` therefore may not change (config/header-changes.ts).
 * Names are lower-case, as Node and undici give a message's headers.
 */

export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // The settings of an h2c upgrade, which is never passed on (RFC 9113 3.2.1 makes it hop-by-hop).
  'http2-settings',
])

/** What routing and framing depend on: never removable by a Connection nomination either. */
export const ROUTING_AND_FRAMING: ReadonlySet<string> = new Set(['host', 'content-length'])

/** Client identity headers only the gateway may set (OpenShift CVE-2026-46579; Envoy's SANITIZE). */
export const CLIENT_IDENTITY_HEADERS = ['x-forwarded-client-cert', 'client-cert', 'client-cert-chain'] as const

/** The headers the gateway sets on every request, beside the identity ones. */
export const GATEWAY_SET_ON_EVERY_REQUEST: readonly string[] = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip']

/**
 * The gateway's own part in a header, for which a route's `headers` may not change it; 'host' may be
 * set, as the host the upstream is asked for, but not removed.
 */
export type ManagedHeader = 'hop-by-hop' | 'host' | 'framing' | 'forwarding' | 'client-certificate' | 'expect'

/**
 * The gateway's own part in the request header `name` (lower-case); undefined where a route may set or
 * remove it. A spelling with `_` for `-` is the dashed header's to the CGI, WSGI and Rack servers that
 * read it as that one, and the request path drops it as such.
 */
export function managedRequestHeader(name: string): ManagedHeader | undefined {
  const dashed = name.replaceAll('_', '-')
  if (HOP_BY_HOP.has(dashed)) return 'hop-by-hop'
  if (dashed === 'host') return 'host'
  if (dashed === 'content-length') return 'framing'
  if (GATEWAY_SET_ON_EVERY_REQUEST.includes(dashed)) return 'forwarding'
  if ((CLIENT_IDENTITY_HEADERS as readonly string[]).includes(dashed)) return 'client-certificate'
  // Answered by the gateway (100 Continue), never sent upstream.
  return dashed === 'expect' ? 'expect' : undefined
}

/** The gateway's own part in the response header `name` (lower-case), as managedRequestHeader. */
export function managedResponseHeader(name: string): ManagedHeader | undefined {
  if (HOP_BY_HOP.has(name)) return 'hop-by-hop'
  return name === 'content-length' ? 'framing' : undefined
}
