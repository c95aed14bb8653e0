/**
 * Who sent a request (forwardedFor.trustedIPs): the connection's client (client-address.ts), or, for
 * a request from a proxy the config trusts, the client its X-Forwarded-For names. The header is read
 * from the right, each address a trusted proxy appended stepped over, and the first address that is
 * not a trusted proxy's is the client, as nginx's real_ip_recursive and Traefik's ipStrategy read it:
 * what a client writes into the header itself stands to the left of what its first proxy appended,
 * and is never reached.
 */
import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'
import { clientAddressOf } from '../client-address.js'

export interface RequestClient {
  /** The connection's client, which the gateway appends to X-Forwarded-For. */
  readonly peer: string | undefined
  /** Who sent the request: the peer, or the address a trusted peer's X-Forwarded-For names. allowedIPs, X-Real-IP and the logs take it. */
  readonly address: string | undefined
}

/** `trusts` is the snapshot's forwardedFor.trustedIPs, as a test of an address. */
export function requestClient(req: IncomingMessage, trusts: (address: string | undefined) => boolean): RequestClient {
  const peer = clientAddressOf(req.socket)
  if (!trusts(peer)) return { peer, address: peer }
  return { peer, address: forwardedClient(req.headers['x-forwarded-for'], peer!, trusts) }
}

/**
 * The client that `header` names, sent by a trusted `peer`: the rightmost address not trusted, or, where
 * every address is, the leftmost. An entry that is no address (`unknown`, an obfuscated name of RFC
 * 7239, garbage) ends the reading at the last trusted address, as nginx's does: whatever stands to
 * its left, no trusted proxy vouched for.
 */
export function forwardedClient(header: string | string[] | undefined, peer: string, trusts: (address: string) => boolean): string {
  if (header === undefined) return peer
  // Node joins repeated X-Forwarded-For lines into one; its types allow a list all the same.
  const hops = [header].flat().join(',').split(',')
  let client = peer
  for (let i = hops.length - 1; i >= 0; i--) {
    const address = hopAddress(hops[i]!)
    if (address === undefined) return client
    client = address
    if (!trusts(address)) return client
  }
  return client
}

/** The address of one entry: an IP, with any spaces around it, and a port some proxies add (`192.0.2.1:443`, `[2001:db8::1]:443`). */
function hopAddress(entry: string): string | undefined {
  const text = entry.trim()
  if (isIP(text)) return text
  const withPort = /^(?:\[([0-9a-fA-F:.]+)\]|(\d+\.\d+\.\d+\.\d+)):\d{1,5}$/.exec(text)
  const address = withPort?.[1] ?? withPort?.[2]
  return address !== undefined && isIP(address) ? address : undefined
}
