/**
 * A listen address as routes.yaml writes it. Its own module, as the image's HEALTHCHECK
 * (healthcheck.ts) reads listen.admin with it and loads nothing else of the config's.
 */
import { isIP } from 'node:net'
import type { ListenAddress } from './types.js'

/** 'host:port', '[v6]:port'; port 0 picks a free port (tests). */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text)
  if (!match) return undefined
  const port = Number(match[3])
  if (port > 65535) return undefined
  const host = match[1] ?? match[2]!
  if (match[1] && isIP(host) !== 6) return undefined
  // Not a name to resolve: `999.1.1.1` would pass check and fail at listen() (getaddrinfo ENOTFOUND).
  if (/^[\d.]+$/.test(host) && isIP(host) !== 4) return undefined
  return { host, port }
}

/** A host that binds every address of its family: `0.0.0.0`, or `::` (which Node binds for IPv4 too). */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::'
}
