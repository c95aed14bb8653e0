/**
 * TLS passthrough: the raw stream of a connection whose SNI names a `tls: passthrough` route goes to the
 * route's upstream, the ClientHello already read first. Nothing is decrypted; either side's close or
 * error ends both, and so does an hour without a byte either way, or bytes relayed to one side that
 * wait 10 minutes for it to take them (tunnel.ts).
 */
import net from 'node:net'
import type { Route } from '../snapshot/snapshot.js'
import { PASSTHROUGH_SEND_TIMEOUT_MS, relayTunnel, type TunnelTimeout } from './tunnel.js'

export interface PassthroughHooks {
  readonly onConnected: (route: Route) => void
  /** The upstream failed: to connect, or once `connected`. */
  readonly onError: (route: Route, error: Error, connected: boolean) => void
  /** The gateway closed the connection at one of its bounds. */
  readonly onTimeout: (route: Route, timeout: TunnelTimeout) => void
}

export function passThrough(client: net.Socket, hello: Buffer, route: Route, hooks: PassthroughHooks): void {
  const { hostname, port, timeouts } = route.config.upstream
  const upstream = net.connect({ host: hostname, port, noDelay: true, timeout: timeouts.connect })
  upstream.once('timeout', () => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })))
  let connected = false
  upstream.once('connect', () => {
    connected = true
    hooks.onConnected(route)
    upstream.setTimeout(0)
    upstream.write(hello)
    relayTunnel(client, upstream, { sendMs: PASSTHROUGH_SEND_TIMEOUT_MS, onTimeout: (timeout) => hooks.onTimeout(route, timeout) })
    client.resume()
  })
  upstream.on('error', (error) => {
    hooks.onError(route, error, connected)
    client.destroy()
  })
  client.on('error', () => upstream.destroy())
  client.on('close', () => upstream.destroy())
  upstream.on('close', () => client.destroy())
}
