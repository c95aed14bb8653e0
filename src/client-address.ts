/**
 * A connection's client address: the one a trusted load balancer's PROXY protocol header named
 * (proxy/proxy-protocol.ts), else the socket's peer. Logs, X-Forwarded-For and X-Real-IP read it
 * here, for plaintext, TLS and passthrough connections alike.
 */
import type { Socket } from 'node:net'

/** The addresses PROXY headers named, by the TCP socket they came on. */
const named = new WeakMap<Socket, string>()

export function setClientAddress(socket: Socket, address: string): void {
  named.set(socket, address)
}

export function clientAddressOf(socket: Socket): string | undefined {
  return named.get(tcpSocketOf(socket)) ?? socket.remoteAddress
}

/** The TCP socket under a TLS socket (node:tls keeps it as `_parent`), or `socket` itself. */
export function tcpSocketOf(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket })._parent ?? socket
}
