/**
 * WebSocket (and other HTTP/1.1 Upgrade) proxying: the upstream's 101 answer is relayed, then bytes
 * flow both ways until either side closes.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Route } from '../snapshot.js'
import { clientResponseHeaders, upstreamRequestHeaders, type ForwardedFor } from './headers.js'
import { upstreamPath } from './forward.js'
import { endWithStatus } from './status.js'
import { classifyUpstreamError, type UpstreamFailure } from './upstream-errors.js'

export async function proxyUpgrade(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  route: Route,
  forwarded: ForwardedFor,
  identity: Readonly<Record<string, string>>,
): Promise<UpstreamFailure | undefined> {
  const upstream = route.upstream!
  const protocol = String(req.headers.upgrade)
  // A client that leaves before the upstream answers takes its upstream request with it.
  const clientGone = new AbortController()
  const abort = () => clientGone.abort()
  client.once('close', abort)
  try {
    const { headers, socket } = await upstream.pool.upgrade({
      path: upstreamPath(route, req.url!),
      method: req.method as 'GET',
      headers: upstreamRequestHeaders(req, forwarded, identity) as Record<string, string>,
      protocol,
      servername: upstream.serverNameToken,
      headersTimeout: route.config.upstream.timeouts.response,
      signal: clientGone.signal,
    } as Parameters<typeof upstream.pool.upgrade>[0])
    client.off('close', abort)
    if (client.destroyed) {
      socket.destroy()
      return undefined
    }
    const lines = ['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', `Upgrade: ${protocol}`]
    for (const [name, value] of Object.entries(clientResponseHeaders(headers as Record<string, string>))) {
      for (const v of [value ?? []].flat()) lines.push(`${name}: ${v}`)
    }
    client.write(`${lines.join('\r\n')}\r\n\r\n`)
    if (head.length > 0) socket.write(head)
    socket.on('error', () => client.destroy())
    client.on('error', () => socket.destroy())
    socket.pipe(client).on('finish', () => socket.destroy())
    client.pipe(socket).on('finish', () => client.destroy())
    return undefined
  } catch (error) {
    client.off('close', abort)
    if (clientGone.signal.aborted) return undefined
    const failure = classifyUpstreamError(error)
    if (!client.destroyed) {
      endWithStatus(client, failure.status)
    }
    return failure
  }
}
