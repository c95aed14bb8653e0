/**
 * A client connection whose reads the gateway holds back, so that TCP holds its client back: more
 * pipelined requests wait on it than the gateway keeps (server.ts), or the upstream is not taking the
 * request body it carries (request-body.ts). Node's HTTP server resumes a socket it paused itself (at
 * the 'drain' of a response, when a request body is read), so a held socket is paused again at each
 * 'resume': it comes a tick after resume(), before any read, and Node's own 'resume' listener, which
 * runs first, has just started reading its handle. Not once the connection is ending: what its client
 * still sends is read and dropped then.
 */
import type { Duplex } from 'node:stream'

/** Who holds each held socket: a socket is read again once the last lets go, or with the socket itself. */
const holdersOfSocket = new WeakMap<Duplex, Set<object>>()

export function holdReads(socket: Duplex, holder: object): void {
  let holders = holdersOfSocket.get(socket)
  if (!holders) {
    const heldBy = (holders = new Set())
    holdersOfSocket.set(socket, heldBy)
    socket.on('resume', () => heldBy.size > 0 && !socket.writableEnded && stopReading(socket))
  }
  holders.add(holder)
  stopReading(socket)
}

/** Reads again, unless another holder still holds the socket. */
export function releaseReads(socket: Duplex, holder: object): void {
  const holders = holdersOfSocket.get(socket)
  if (holders?.delete(holder) && holders.size === 0) socket.resume()
}

export function readsHeld(socket: Duplex): boolean {
  return (holdersOfSocket.get(socket)?.size ?? 0) > 0
}

/**
 * pause() stops Node's HTTP parser reading the socket's handle through the 'pause' it emits, and a
 * paused socket emits none. A resume() and a pause() in one tick leave it paused, yet still emit the
 * 'resume' they deferred, at which Node reads the handle again (its listener looks at a flag of its
 * own, not at pause()): 40 MB of a body were read so into a request that nothing read.
 */
function stopReading(socket: Duplex): void {
  if (socket.isPaused()) socket.emit('pause')
  else socket.pause()
}
