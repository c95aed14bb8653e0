/**
 * A route's `headers`: the header changes of the requests it sends upstream and of the responses it
 * relays. Each name must be a header name (RFC 9110 5.1) that the gateway does not manage itself (but
 * a request's Host, which may be set to a host), named once; each value must be what Node and undici
 * write as it is. The changes keep lower-case names, as Node and undici give a message's headers.
 */
import { managedRequestHeader, managedResponseHeader, type ManagedHeader } from '../managed-headers.js'
import { normalizeHost } from '../routing/host.js'
import type { PartialRoute } from './checkable.js'
import type { Report } from './issues.js'
import { shownValue } from './shown-value.js'
import type { HeaderChanges, RouteConfig } from './types.js'
import { headerValue, placeholdersOf, type HeaderValue, type Placeholder } from './header-placeholders.js'
import { keyPathStep } from './yaml-paths.js'

/** RFC 9110 5.1: a field name is a token. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** Why `name` is no header name (RFC 9110 5.1); undefined where it is one. */
export function headerNameProblem(name: string): string | undefined {
  return FIELD_NAME.test(name) ? undefined : `${shownValue(name)} is not a header name: one word of letters, digits and ! # $ % & ' * + - . ^ _ \` | ~`
}

/**
 * A key that names the request header one value of another key reads (rateLimit's `by: header`,
 * upstream's `balance: headerHash`): required with that value (where the route is `whole`), refused
 * without it, and a header name.
 */
export function checkReadHeader(
  at: string,
  name: string | undefined,
  { chosen, choice, what, whole }: { chosen: boolean; choice: string; what: string; whole: boolean },
  report: Report,
): void {
  if (whole && chosen && name === undefined) report(at, `is required with ${choice}: the name of the header whose value ${what}`)
  if (name === undefined) return
  if (!chosen) report(at, `only applies with ${choice}`)
  const problem = headerNameProblem(name)
  if (problem) report(at, problem)
}

/** Why the request header `name` may not be set by a route (by its headers, or its forwardAuth's answer); undefined where it may. */
export function requestHeaderSetProblem(name: string): string | undefined {
  return headerNameProblem(name) ?? managedProblem(name, managedRequestHeader, 'set')
}

/** Why `name`, a header name, may not be changed so, where the gateway manages it (`managed`). */
function managedProblem(name: string, managed: (name: string) => ManagedHeader | undefined, change: 'set' | 'remove'): string | undefined {
  const managedAs = managed(name.toLowerCase())
  // Host is set as nginx's proxy_set_header Host and Caddy's header_up Host set it.
  const why = managedAs === 'host' && change === 'set' ? undefined : managedAs
  if (!why) return undefined
  // CGI, WSGI and Rack servers read X_Forwarded_For as X-Forwarded-For (headers.ts, droppedFromRequest).
  const readAs = name.includes('_') ? ` (read as ${name.replaceAll('_', '-')} by servers that take _ for -)` : ''
  return `${name}${readAs} ${WHY_MANAGED[why]}`
}

/** Visible ASCII, spaces and tabs: what RFC 9110 5.5 allows but obs-text, which undici refuses to send. */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/

const WHY_MANAGED: Record<ManagedHeader, string> = {
  'hop-by-hop': 'is hop-by-hop (RFC 9110 7.6.1): the gateway never passes it on',
  host: 'cannot be removed: every HTTP/1.1 request carries it (set it to ask the upstream for another host)',
  framing: 'frames the message: it passes as the client or the upstream sent it',
  forwarding: "is the gateway's: it sets X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and X-Real-IP on every request",
  'client-certificate': 'carries the client certificate: tls.forwardClientCert decides it',
  expect: 'is answered by the gateway itself (100 Continue) and never sent upstream',
}

type RawRouteHeaders = NonNullable<PartialRoute['headers']>
type RawChanges = NonNullable<RawRouteHeaders['request']>

/**
 * What the connection of a route's requests has for the placeholders of headers.request.set: TLS
 * (`tls` a mapping), and client certificates (`tls.clientCAs`). Undefined where that is not known (the
 * schema refused the route's tls): no placeholder is refused for it then.
 */
export interface PlaceholderScope {
  readonly tls: boolean
  readonly clientCertificates: boolean
}

export function resolveRouteHeaders(raw: RawRouteHeaders | undefined, at: string, report: Report, scope: PlaceholderScope | undefined): RouteConfig['headers'] {
  const request = raw?.request && headerChanges(raw.request, `${at}.request`, managedRequestHeader, report, scope ?? { tls: true, clientCertificates: true })
  const response = raw?.response && headerChanges(raw.response, `${at}.response`, managedResponseHeader, report, undefined)
  return { ...(request && { request }), ...(response && { response }) }
}

/**
 * One side's changes; undefined where they change nothing. `placeholders`: what the values may hold
 * placeholders of (the request side's); undefined where they may hold none (the response side).
 */
function headerChanges(
  raw: RawChanges,
  at: string,
  managed: (name: string) => ManagedHeader | undefined,
  report: Report,
  placeholders: PlaceholderScope | undefined,
): HeaderChanges | undefined {
  /** The name in lower case, or undefined (reported) where it is no name a route may change so. */
  const changeable = (name: string, path: string, change: 'set' | 'remove'): string | undefined => {
    const problem = headerNameProblem(name) ?? managedProblem(name, managed, change)
    if (problem) report(path, problem)
    return problem ? undefined : name.toLowerCase()
  }
  const set = new Map<string, { name: string; value: HeaderValue }>()
  for (const [name, text] of Object.entries(raw.set ?? {})) {
    const path = keyPathStep(`${at}.set`, name)
    const lower = changeable(name, path, 'set')
    if (lower === undefined || text === undefined) continue
    const twin = set.get(lower)
    const parsed = headerValue(text)
    if (twin) report(path, `${name} is set twice: ${twin.name} is the same header (names are case-insensitive)`)
    // Not quoted: a value set for an upstream is often a credential (Authorization).
    else if (!FIELD_VALUE.test(text)) report(path, 'holds a line break, a control character or a character other than ASCII: write visible ASCII, spaces and tabs')
    // A Host the gateway would take from a client (routing/host.ts), and no other.
    else if (lower === 'host' && normalizeHost(text) === undefined) report(path, `${shownValue(text)} is not a host: write a host name or address, with :port or not (api.example.com, 10.0.0.7:8080)`)
    else if ('problem' in parsed) report(path, parsed.problem)
    else if (placeholdersOf(parsed.value).length > 0 && !placeholders) report(path, 'holds a placeholder: placeholders are filled in the requests sent upstream (headers.request) alone')
    else {
      const unfillable = placeholders && placeholdersOf(parsed.value).find((placeholder) => !fillable(placeholder, placeholders))
      if (unfillable) report(path, `{${unfillable}} ${unfillable === 'tls.version' ? 'needs tls: the route\'s requests come in plaintext' : 'needs tls.clientCAs: without them no client certificate is asked for'}`)
      else set.set(lower, { name, value: parsed.value })
    }
  }
  const remove = new Set<string>()
  raw.remove?.forEach((name, index) => {
    const path = keyPathStep(`${at}.remove`, index)
    const lower = name === undefined ? undefined : changeable(name, path, 'remove')
    if (lower === undefined) return
    const alsoSet = set.get(lower)
    if (alsoSet) report(path, `${name} is set too (${keyPathStep(`${at}.set`, alsoSet.name)}): a header is either set or removed`)
    else remove.add(lower)
  })
  if (set.size === 0 && remove.size === 0) return undefined
  return { remove: [...remove], set: [...set].map(([lower, { value }]) => [lower, value] as const) }
}

/** Whether a route's requests have what `placeholder` is filled from. */
function fillable(placeholder: Placeholder, scope: PlaceholderScope): boolean {
  if (placeholder === 'tls.version') return scope.tls
  return !placeholder.startsWith('tls.client.') || scope.clientCertificates
}
