/**
 * IP addresses and CIDR ranges in the config (`proxyProtocol.trustedIPs`, `forwardedFor.trustedIPs`,
 * `routes[].allowedIPs`), as nginx's set_real_ip_from and allow and Traefik's trustedIPs take them:
 * `10.0.0.0/8`, `2001:db8::/32`, or one address.
 */
import { BlockList, isIP, isIPv6 } from 'node:net'

export interface IpRange {
  readonly address: string
  readonly prefix: number
  readonly family: 'ipv4' | 'ipv6'
}

/** `text` as a range (one address is a range of one), or undefined where it is neither. */
export function parseIpRange(text: string): IpRange | undefined {
  const [address = '', prefix, ...more] = text.split('/')
  const version = isIP(address)
  if (version === 0 || more.length > 0) return undefined
  const bits = version === 4 ? 32 : 128
  if (prefix !== undefined && !/^(?:0|[1-9]\d{0,2})$/.test(prefix)) return undefined
  const length = prefix === undefined ? bits : Number(prefix)
  return length <= bits ? { address, prefix: length, family: version === 4 ? 'ipv4' : 'ipv6' } : undefined
}

/**
 * Whether an address is in one of `ranges`. A socket's IPv4 peer on a dual-stack listener reads as
 * `::ffff:10.1.2.3`, which BlockList matches against IPv4 ranges too.
 */
export function inRanges(ranges: readonly IpRange[]): (address: string | undefined) => boolean {
  if (ranges.length === 0) return () => false
  const list = new BlockList()
  for (const { address, prefix, family } of ranges) list.addSubnet(address, prefix, family)
  return (address) => address !== undefined && list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4')
}
