/**
 * A tunnel is a connection the gateway only relays bytes on: a WebSocket after its 101, or a TLS
 * passthrough connection. It has no requests to time, so an idle bound keeps a peer that vanished
 * without a FIN (a dropped NAT entry, a host that lost power) from holding two sockets for ever: one
 * hour without a byte either way, Envoy's tcp_proxy default. (nginx's stream proxy_timeout is 10
 * minutes. Envoy's 5-minute stream idle timeout and nginx's 60 s proxy_read_timeout close quiet but
 * healthy WebSockets, a common complaint.)
 *
 * A side that stops reading stalls the tunnel both ways (pipe() stops reading the other side), and a
 * stalled tunnel is as quiet as an idle one: a client that never reads, or one gone with bytes unsent
 * (its FIN queued behind them), would hold both sockets and their buffers for the hour. A send bound
 * closes it sooner: a WebSocket after a minute, as nginx's proxy_send_timeout and send_timeout close
 * one; a passthrough connection after 10 minutes, nginx's stream proxy_timeout.
 */
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

const TUNNEL_IDLE_TIMEOUT_MS = 60 * 60_000
/** nginx's proxy_send_timeout and send_timeout, which bound a WebSocket's writes to either side. */
export const WEBSOCKET_SEND_TIMEOUT_MS = 60_000
/** nginx's stream proxy_timeout, which bounds a TCP proxy's reads and writes. */
export const PASSTHROUGH_SEND_TIMEOUT_MS = 10 * 60_000

/** Which bound closed a tunnel: no byte either way, or bytes that waited for one side to take them. */
export type TunnelTimeout = 'idle' | 'client_not_reading' | 'upstream_not_reading'

/** The bounds of a tunnel: how long it may be idle, and how long bytes may wait for a side to take them. */
export interface TunnelBounds {
  readonly sendMs: number
  readonly idleMs?: number
  /** Told which bound closed the tunnel, before it closes both ends (the client's address is still known). */
  readonly onTimeout?: (timeout: TunnelTimeout) => void
}

/**
 * Relays bytes both ways between `client` and `upstream` until either closes, within `bounds`. The
 * idle bound is `client`'s own timeout: it carries every byte of the tunnel. The send bound runs
 * once a write returned false, and stops at the 'drain' (the writes waiting have all gone out), so a
 * reader is cut only when it takes less than the gateway holds for it (16 KiB, and what one read
 * brought, up to 64 KiB) in `sendMs`: at a minute, under about 0.3 to 1.3 KiB/s, as the HTTP
 * responses' send bound (upstream-request.ts). A quiet tunnel has nothing waiting.
 */
export function relayTunnel(client: Socket, upstream: Duplex, { sendMs, idleMs = TUNNEL_IDLE_TIMEOUT_MS, onTimeout }: TunnelBounds): void {
  const close = (timeout: TunnelTimeout) => {
    if (client.destroyed && upstream.destroyed) return
    onTimeout?.(timeout)
    client.destroy()
    upstream.destroy()
  }
  client.pipe(upstream)
  upstream.pipe(client)
  client.setTimeout(idleMs, () => close('idle'))
  // After the pipes: their 'data' listeners write first, and these look at what the writes left waiting.
  boundSends(client, upstream, sendMs, () => close('upstream_not_reading'))
  boundSends(upstream, client, sendMs, () => close('client_not_reading'))
}

/** Calls `stalled` once the bytes relayed from `from` have waited `sendMs` for `to` to drain. */
function boundSends(from: Duplex, to: Duplex, sendMs: number, stalled: () => void): void {
  let timer: NodeJS.Timeout | undefined
  const stop = () => {
    clearTimeout(timer)
    timer = undefined
  }
  from.on('data', () => {
    if (to.writableNeedDrain && timer === undefined) timer = setTimeout(stalled, sendMs).unref()
  })
  to.on('drain', stop).once('close', stop)
}
