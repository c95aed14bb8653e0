/**
 * Placeholders in the values a route sets on the requests it sends upstream (`headers.request.set`):
 * what the connection's client certificate says, its TLS version, the client's address, as Caddy's
 * `{http.request.tls.client.subject}`, nginx's `$ssl_client_s_dn` and Envoy's
 * `%DOWNSTREAM_PEER_SUBJECT%` put them in a header. Each is filled per request
 * (proxy/placeholder-values.ts). Braces around anything else (a JSON value) are text.
 */
import { closest } from './closest-word.js'

export const PLACEHOLDERS = [
  'client.address',
  'tls.version',
  'tls.client.subject',
  'tls.client.commonName',
  'tls.client.fingerprint',
  'tls.client.serial',
  'tls.client.uri',
  'tls.client.dns',
] as const

export type Placeholder = (typeof PLACEHOLDERS)[number]

/** A header value with placeholders: its text and placeholders, in order. */
export interface HeaderTemplate {
  readonly parts: readonly (string | { readonly placeholder: Placeholder })[]
}

/** A header value as a route sets it: text, or a template filled per request. */
export type HeaderValue = string | HeaderTemplate

/** Braces around dotted words: what a placeholder looks like. */
const PLACEHOLDER_LIKE = /\{([A-Za-z]+(?:\.[A-Za-z]+)+)\}/g

/** `value` as a route sets it; or, for a placeholder that is none, what is wrong with it. */
export function headerValue(value: string): { readonly value: HeaderValue } | { readonly problem: string } {
  const parts: HeaderTemplate['parts'][number][] = []
  let at = 0
  for (const match of value.matchAll(PLACEHOLDER_LIKE)) {
    const name = match[1]!
    if (!isPlaceholder(name)) {
      const meant = closest(name, PLACEHOLDERS)
      return { problem: `{${name}} is no placeholder${meant ? ` (did you mean {${meant}}?)` : ''}: the placeholders are ${PLACEHOLDERS.map((known) => `{${known}}`).join(' ')}` }
    }
    if (match.index > at) parts.push(value.slice(at, match.index))
    parts.push({ placeholder: name })
    at = match.index + match[0].length
  }
  if (parts.length === 0) return { value }
  if (at < value.length) parts.push(value.slice(at))
  return { value: { parts } }
}

/** The placeholders of a value. */
export function placeholdersOf(value: HeaderValue): Placeholder[] {
  return typeof value === 'string' ? [] : value.parts.flatMap((part) => (typeof part === 'string' ? [] : [part.placeholder]))
}

function isPlaceholder(name: string): name is Placeholder {
  return (PLACEHOLDERS as readonly string[]).includes(name)
}
