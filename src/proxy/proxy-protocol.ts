/**
 * The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): a load balancer that passes TCP
 * on (an AWS NLB, HAProxy, a Kubernetes Service's cloud balancer) puts one header before the
 * connection's own bytes, naming the client it came from. Read here from the connections of the
 * sources `proxyProtocol.trustedIPs` names, before the ClientHello or the HTTP request, as nginx's
 * `listen … proxy_protocol` and Envoy's proxy_protocol listener filter read it. Written by hand: the
 * header is one line or one fixed block, and what is needed of it is where it ends and the source
 * address, checked (proxy-protocol-js frames no stream and checks no address).
 */
import { isIPv4, isIPv6, SocketAddress, type Socket } from 'node:net'

/** How long a trusted source has to send its header, as a client has for its ClientHello. */
export const PROXY_HEADER_TIMEOUT_MS = 10_000

const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
/** v1's longest line, CRLF included (proxy-protocol.txt 2.1). */
const V1_MAX_LENGTH = 107
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V2_FIXED_LENGTH = 16
const V2_LOCAL = 0x20
const V2_PROXY = 0x21
/** v2's address families (over TCP or UDP) and the bytes their addresses take. */
const V2_INET = 0x1
const V2_INET6 = 0x2

/**
 * What the bytes read so far hold: not all of a header yet; no header (`reason`); or a header of
 * `length` bytes, with the client's address where it names one (not for v2's LOCAL, a balancer's own
 * health check, or v1's UNKNOWN: the connection's own address stands then).
 */
export type ProxyHeader =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'header'; readonly length: number; readonly source: string | undefined }

export function parseProxyHeader(bytes: Buffer): ProxyHeader {
  if (startsWith(bytes, V2_SIGNATURE)) return parseV2(bytes)
  if (startsWith(bytes, V1_PREFIX)) return parseV1(bytes)
  const prefixOfOne = startsWith(V2_SIGNATURE, bytes) || startsWith(V1_PREFIX, bytes)
  return prefixOfOne ? { kind: 'incomplete' } : { kind: 'invalid', reason: 'no PROXY protocol header' }
}

/** `PROXY TCP4 192.0.2.7 198.51.100.1 51234 443\r\n`, or `PROXY UNKNOWN …\r\n`. */
function parseV1(bytes: Buffer): ProxyHeader {
  const end = bytes.subarray(0, V1_MAX_LENGTH).indexOf('\r\n')
  if (end === -1) return bytes.length >= V1_MAX_LENGTH ? { kind: 'invalid', reason: 'a v1 header without its CRLF' } : { kind: 'incomplete' }
  const length = end + 2
  const [, family, source, destination, sourcePort, destinationPort, ...more] = bytes.toString('latin1', 0, end).split(' ')
  if (family === 'UNKNOWN') return { kind: 'header', length, source: undefined }
  const isAddress = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : undefined
  const valid =
    isAddress !== undefined && isAddress(source ?? '') && isAddress(destination ?? '') && isPort(sourcePort) && isPort(destinationPort) && more.length === 0
  return valid ? { kind: 'header', length, source: canonical(source!) } : { kind: 'invalid', reason: 'a malformed v1 header' }
}

/** The 16-byte block (signature, version and command, family, length), then the addresses and any TLVs. */
function parseV2(bytes: Buffer): ProxyHeader {
  if (bytes.length < V2_FIXED_LENGTH) return { kind: 'incomplete' }
  const length = V2_FIXED_LENGTH + bytes.readUInt16BE(14)
  if (bytes.length < length) return { kind: 'incomplete' }
  const command = bytes[12]
  if (command === V2_LOCAL) return { kind: 'header', length, source: undefined }
  if (command !== V2_PROXY) return { kind: 'invalid', reason: 'a v2 header of another version or command' }
  const family = bytes[13]! >> 4
  const addresses = bytes.subarray(V2_FIXED_LENGTH, length)
  if (family === V2_INET && addresses.length >= 12) return { kind: 'header', length, source: addresses.subarray(0, 4).join('.') }
  if (family === V2_INET6 && addresses.length >= 36) {
    const groups = Array.from({ length: 8 }, (_, i) => addresses.readUInt16BE(2 * i).toString(16))
    return { kind: 'header', length, source: canonical(groups.join(':')) }
  }
  // AF_UNSPEC and AF_UNIX name no address a client connected from (proxy-protocol.txt 2.2).
  if (family !== V2_INET && family !== V2_INET6) return { kind: 'header', length, source: undefined }
  return { kind: 'invalid', reason: 'a v2 header too short for its addresses' }
}

/**
 * Reads `socket`'s PROXY header, then calls `onHeader` with the client's address (undefined: the
 * connection's own stands) and the bytes read past the header, with the socket paused; or closes the
 * socket, and says why, for a connection without a header, within PROXY_HEADER_TIMEOUT_MS.
 */
export function readProxyHeader(
  socket: Socket,
  onHeader: (source: string | undefined, rest: Buffer) => void,
  onRefused: (reason: string) => void,
): void {
  let read: Buffer = Buffer.alloc(0)
  const refuse = (reason: string) => {
    stop()
    socket.destroy()
    onRefused(reason)
  }
  const onData = (chunk: Buffer) => {
    read = read.length === 0 ? chunk : Buffer.concat([read, chunk])
    const header = parseProxyHeader(read)
    if (header.kind === 'incomplete') return
    if (header.kind === 'invalid') return refuse(header.reason)
    stop()
    socket.pause()
    onHeader(header.source, read.subarray(header.length))
  }
  const onError = () => socket.destroy()
  // A connection closed before its header is not refused: a TCP health check opens and closes.
  const stop = () => {
    clearTimeout(timer)
    socket.off('data', onData).off('error', onError).off('close', stop)
  }
  const timer = setTimeout(() => refuse('no PROXY protocol header in time'), PROXY_HEADER_TIMEOUT_MS)
  socket.on('data', onData).on('error', onError).once('close', stop)
}

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.compare(prefix, 0, prefix.length, 0, prefix.length) === 0
}

/** A port as v1 writes it: a decimal number from 0 to 65535, without leading zeros. */
function isPort(text: string | undefined): boolean {
  return text !== undefined && /^(?:0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65535
}

/** An IPv6 address as Node writes a socket's (`2001:db8::7`), so that logs and X-Forwarded-For read the same either way. */
function canonical(address: string): string {
  return isIPv6(address) ? new SocketAddress({ address, family: 'ipv6' }).address : address
}
