/**
 * nginx's lingering_close. Node ends a connection after a response that closes it with
 * socket.destroySoon(): a FIN, then the socket destroyed once the response is written. If the client
 * is still sending its request body, the kernel answers those bytes with a reset, and a reset can
 * discard the response before the client reads it: a client that sends its whole body before it reads
 * (Python's http.client does) gets ECONNRESET instead of the 400 or 421. Instead, after the FIN the
 * client's bytes are read and dropped until it closes, 5 s pass without one, or 30 s in all (nginx's
 * lingering_timeout and lingering_time).
 */
import type { Socket } from 'node:net'

const LINGER_IDLE_MS = 5_000
const LINGER_MAX_MS = 30_000

/** From now on, closing `socket` after a response lingers while `stillSending()` says bytes are to come. */
export function closeLingeringly(socket: Socket, stillSending: () => boolean): void {
  const destroySoon = socket.destroySoon
  socket.destroySoon = () => (stillSending() && !socket.readableEnded ? linger(socket) : destroySoon.call(socket))
}

function linger(socket: Socket): void {
  socket.end()
  dropWhatFollows(socket)
}

/**
 * After the last answer on `socket`, ended: what its client still sends is read and dropped until it
 * closes, for 5 s without a byte or 30 s in all, rather than answered with a reset.
 */
export function dropWhatFollows(socket: Socket): void {
  // Node's parser reads what comes and drops it: the rest of a body nobody reads, or bytes it already
  // failed on (the request server ignores those errors once a response closes the connection). A
  // socket without one drops what it reads.
  socket.resume()
  limitLinger(socket)
  socket.once('end', () => socket.destroy())
}

/**
 * Ends `socket` once it has been silent for 5 s, or 30 s from now (its writes count as activity, so a
 * slow reader of the answer is not cut off). The function returned lifts both limits: its caller then
 * sets the socket's timeout it wants.
 */
export function limitLinger(socket: Socket): () => void {
  const destroy = () => socket.destroy()
  socket.setTimeout(LINGER_IDLE_MS, destroy)
  const deadline = setTimeout(destroy, LINGER_MAX_MS)
  const lift = () => {
    clearTimeout(deadline)
    socket.off('timeout', destroy)
    socket.off('close', lift)
  }
  socket.once('close', lift)
  return lift
}
