/**
 * TLS passthrough: the raw stream of a connection whose SNI names a `tls: passthrough` route goes to the
 * route's upstream, the ClientHello already read first. Nothing is decrypted; either side's close or
 * error ends both, and so does an hour without a byte either way, or bytes relayed to one side that
 * wait 10 minutes for it to take them (tunnel.ts). The route's balancer picks the url; one that
 * refuses the connect (or lets it time out) rests, and the connection goes to the next, as a request does.
 * A client whose address the route's allowedIPs or deniedIPs do not take is closed before any upstream is reached.
 */
import net from 'node:net'
import { clientAddressOf } from '../client-address.js'
import type { UpstreamUrl } from '../config/types.js'
import type { Route } from '../snapshot/snapshot.js'
import { PASSTHROUGH_SEND_TIMEOUT_MS, relayTunnel, type TunnelTimeout } from './tunnel.js'

export interface PassthroughHooks {
  readonly onConnected: (route: Route) => void
  /** The upstream at `url` failed: to connect, or once `connected`. */
  readonly onError: (route: Route, url: UpstreamUrl, error: Error, connected: boolean) => void
  /** `url` could not be reached; the connection goes to the route's next url. */
  readonly onUnreachable: (route: Route, url: UpstreamUrl, error: Error) => void
  /** The gateway closed the connection at one of its bounds. */
  readonly onTimeout: (route: Route, timeout: TunnelTimeout) => void
  /** The route's allowedIPs or deniedIPs do not take the client's address: the connection is closed. */
  readonly onForbidden: (route: Route, client: string | undefined) => void
}

export function passThrough(client: net.Socket, hello: Buffer, route: Route, hooks: PassthroughHooks): void {
  const address = clientAddressOf(client)
  if (!route.allowsClient(address)) {
    hooks.onForbidden(route, address)
    client.destroy()
    return
  }
  const unreachable = new Set<number>()
  let closed = false
  client.once('close', () => (closed = true))
  const connect = (urlIndex: number) => {
    const url = route.config.upstream.urls[urlIndex]!
    const upstream = net.connect({ host: url.hostname, port: url.port, noDelay: true, timeout: route.config.upstream.timeouts.connect })
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
      const next = connected || closed ? undefined : route.balancer.nextAfterUnreachable(urlIndex, unreachable)
      if (next !== undefined) {
        hooks.onUnreachable(route, url, error)
        return connect(next)
      }
      hooks.onError(route, url, error, connected)
      client.destroy()
    })
    client.on('error', () => upstream.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => connected && client.destroy())
  }
  // A passthrough route has no upstream.maxRequests: none of its urls is ever full.
  connect(route.balancer.pick()!)
}
