/**
 * A client connection whose reads the gateway holds back, so that TCP holds its client back: more
 * pipelined requests wait on it than the gateway keeps (server.ts), or the upstream is not taking the
 * request body it carries (request-body.ts). Node's HTTP server resumes a socket it paused itself (at
 * the 'drain' of a response, when a request body is read), so a held socket is paused again at each
 * 'resume': it comes a tick after resume(), before any read, as Node's own 'resume' listener relies
 * on. Not once the connection is ending: what its client still sends is read and dropped then.
 */
import type { Duplex } from 'node:stream'

type HoldReason = 'pipelining' | 'body'

/** Why each held socket is held; a socket leaves with its last reason, or with the socket itself. */
const holdsOfSocket = new WeakMap<Duplex, Set<HoldReason>>()

export function holdReads(socket: Duplex, reason: HoldReason): void {
  let holds = holdsOfSocket.get(socket)
  if (!holds) {
    const reasons = (holds = new Set())
    holdsOfSocket.set(socket, reasons)
    socket.on('resume', () => reasons.size > 0 && !socket.writableEnded && socket.pause())
  }
  holds.add(reason)
  socket.pause()
}

/** Reads again, unless another reason still holds the socket. */
export function releaseReads(socket: Duplex, reason: HoldReason): void {
  const holds = holdsOfSocket.get(socket)
  if (holds?.delete(reason) && holds.size === 0) socket.resume()
}

export function readsHeld(socket: Duplex): boolean {
  return (holdsOfSocket.get(socket)?.size ?? 0) > 0
}
