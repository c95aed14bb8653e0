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

export const LINGER_IDLE_MS = 5_000
export const LINGER_MAX_MS = 30_000

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
  socket.setTimeout(LINGER_IDLE_MS, () => socket.destroy())
  const deadline = setTimeout(() => socket.destroy(), LINGER_MAX_MS)
  socket.once('close', () => clearTimeout(deadline))
  socket.once('end', () => socket.destroy())
}
