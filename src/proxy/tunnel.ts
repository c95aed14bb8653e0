/**
 * A tunnel is a connection the gateway only relays bytes on: a WebSocket after its 101, or a TLS
 * passthrough connection. It has no requests to time, so an idle bound keeps a peer that vanished
 * without a FIN (a dropped NAT entry, a host that lost power) from holding two sockets for ever: one
 * hour without a byte either way, Envoy's tcp_proxy default. (nginx's stream proxy_timeout is 10
 * minutes. Envoy's 5-minute stream idle timeout and nginx's 60 s proxy_read_timeout close quiet but
 * healthy WebSockets, a common complaint.)
 */
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

const TUNNEL_IDLE_TIMEOUT_MS = 60 * 60_000

/** Closes both ends once `client`, which carries every byte of the tunnel, has been idle for `idleMs`. */
export function closeWhenIdle(client: Socket, upstream: Duplex, idleMs = TUNNEL_IDLE_TIMEOUT_MS): void {
  client.setTimeout(idleMs, () => {
    client.destroy()
    upstream.destroy()
  })
}
