/**
 * Answers on a socket Node's HTTP server has let go of: Node hands every Upgrade request to the
 * server's 'upgrade', and a CONNECT to 'connect', and no longer watches their sockets. An Upgrade that
 * does not become a WebSocket is answered as an ordinary response here (closingResponse); a CONNECT's
 * refusal needs the socket's drain relayed too (relayDrain).
 */
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { responseWriting } from './response-writing.js'

/** RFC 6455 4.2.1: an Upgrade header that names websocket, in any case. */
export function isWebSocketUpgrade(req: http.IncomingMessage): boolean {
  return String(req.headers.upgrade ?? '')
    .split(',')
    .some((protocol) => protocol.trim().toLowerCase() === 'websocket')
}

/**
 * An ordinary response on a socket Node's server has let go of at an Upgrade: to one the gateway
 * ignores (below), or the upstream's answer refusing a WebSocket. Node's ServerResponse writes it, so
 * its body is framed (chunked, or by its length) and one cut short shows as cut; the connection
 * closes after it, as Node has let go of its parser.
 *
 * Only WebSocket is passed on: any other protocol (h2c above all, which would tunnel past routing:
 * "h2c smuggling") is ignored, as RFC 9110 7.8 allows and Envoy does, and the request is answered over
 * HTTP/1.1 this way. `curl --http2 http://…` asks for h2c so.
 */
export function closingResponse(req: http.IncomingMessage, socket: Socket): http.ServerResponse {
  const res = new http.ServerResponse(req)
  res.shouldKeepAlive = false
  res.assignSocket(socket)
  relayDrain(socket, res)
  res.once('finish', () => {
    res.detachSocket(socket)
    // Destroyed once the answer is out, as Node's server would: nothing else watches this socket now,
    // and a client that never closes its side would hold it, and its limits.connections slot, for good.
    socket.destroySoon()
    // Node's server emits 'close' for the responses it made; this one is ours.
    process.nextTick(() => res.emit('close'))
  })
  return res
}

/**
 * Node's server passes a full socket's 'drain' on to the response writing on it until it lets go of
 * the socket (an Upgrade, a CONNECT): then a body larger than the socket's buffer would wait for a
 * drain that never comes (upstream-request.ts's relayChunk). Relayed until `last` has gone out, to
 * the response writing then: one pipelined ahead of `last`, or `last` itself.
 */
export function relayDrain(socket: Duplex, last: http.ServerResponse): void {
  const onDrain = () => (responseWriting(socket) ?? last).emit('drain')
  socket.on('drain', onDrain)
  last.once('finish', () => socket.off('drain', onDrain))
}
