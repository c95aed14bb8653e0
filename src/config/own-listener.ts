/**
 * Whether an upstream url is one of the gateway's own public listeners. A route that forwards there
 * sends each request back into the gateway with the same Host and path, so to the same route again: a
 * loop that only `limits.requests` ends, with a 503 and a log line about overload that does not say why
 * (nginx and Envoy loop the same way, without a word). Decided from the addresses as written, with no
 * DNS: an IP literal or `localhost` against the listener's host.
 */
import { isIP } from 'node:net'
import type { Config, ListenAddress, PublicListenerName, UpstreamUrl } from './types.js'

export function ownListenerOf(upstream: UpstreamUrl, listen: Config['listen']): PublicListenerName | undefined {
  return (['https', 'http'] as const).find((name) => {
    const listener = listen[name]
    return listener !== undefined && reaches(upstream, listener)
  })
}

function reaches(upstream: UpstreamUrl, listener: ListenAddress): boolean {
  // Port 0 is a free port picked at listen(): no url written beforehand can name it.
  if (listener.port === 0 || upstream.port !== listener.port) return false
  const target = canonical(upstream.hostname)
  const bound = canonical(listener.host)
  if (target === bound) return true
  // 0.0.0.0 takes every IPv4 address of the machine, loopback included; :: takes IPv6 and IPv4 alike.
  // Connecting to an unspecified address reaches the machine itself (Linux, macOS).
  if (bound === '0.0.0.0') return isLocalName(target) || (isIP(target) === 4 && (isLoopback(target) || target === '0.0.0.0'))
  if (bound === '::') return isLocalName(target) || isLoopback(target) || target === '0.0.0.0' || target === '::'
  return (isLocalName(target) && isLoopback(bound)) || (isLocalName(bound) && isLoopback(target))
}

/** Lower case, without a trailing dot: as a resolver reads a name. */
function canonical(host: string): string {
  return host.toLowerCase().replace(/\.$/, '')
}

/** RFC 6761 6.3: localhost and the names under it are the loopback addresses. */
function isLocalName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost')
}

function isLoopback(address: string): boolean {
  return isIP(address) === 4 ? address.startsWith('127.') : address === '::1'
}
