/**
 * A request's body: whether there is one, how large it may be, how long the client may leave it
 * silent, and what becomes of the rest of one the upstream did not read.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable, type Duplex } from 'node:stream'
import { holdReads, readsHeld, releaseReads } from './read-hold.js'

export const BODY_IDLE_TIMEOUT_MS = 60_000

/** Whether the request carries a body (a zero Content-Length does not count). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  // Node's parser takes any run of digits: `00` is no body either.
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0)
}

/** What a 413 tells the client of a route's maxRequestBody. */
export function bodyTooLargeDetail(limit: number): string {
  return `the route takes request bodies of ${limit} bytes at most`
}

/** Why a chunked request body was cut off on its way upstream: it grew past the route's maxRequestBody. */
export class RequestBodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body larger than maxRequestBody (${limit} bytes)`)
  }
}

/**
 * The request body as the upstream gets it, held to `limit` bytes (a route's maxRequestBody). One with
 * a Content-Length is `req` itself: route-selection.ts refused it if the length is over, and Node's
 * parser holds the body to it, and hands it over a read at a time. A chunked one is a ChunkedBody.
 */
export function forwardedBody(req: IncomingMessage, res: ServerResponse, limit: number | undefined): Readable {
  if (req.headers['content-length'] !== undefined) return req
  const body = new ChunkedBody(req, limit)
  // undici lets go of the body it reads, this one, where it would of `req` (the upstream answered
  // before reading it all, or failed while reading it, or it grew past the limit).
  discardRestAfter(body, req)
  // A request that failed before undici began to send it (the upstream could not be reached) leaves
  // its body as it is, and Node would not drop the rest of one it sees read: the response's end does.
  res.once('close', () => body.destroy())
  return body
}

/** Chunks smaller than this are copied together before they go upstream; larger ones go as they are. */
const SMALL_CHUNK_BYTES = 1024
/** The most small chunks' bytes copied into one. */
const JOINED_CHUNK_BYTES = 16 * 1024

/**
 * A chunked request body. Node's parser hands over each chunk of the chunked coding as a Buffer of its
 * own, and a stream counts its buffer in bytes: a body of one-byte chunks that the upstream did not
 * take as fast as it came was some 16,000 Buffers in `req` (4 MB of heap a connection), and each chunk
 * a write of its own upstream. Here `req` is read as it comes, small chunks are copied together (so
 * each Buffer of the parser's dies at once) and go upstream once the loop turns, and while the
 * upstream is not taking them the client's socket is held (read-hold.ts). Past `limit` bytes it fails
 * with RequestBodyTooLarge (the socket is not destroyed: the client gets 413).
 */
class ChunkedBody extends Readable {
  /** Taken at the first small chunk: a body of large chunks never needs it. */
  private joined: Buffer | undefined
  private joinedBytes = 0
  private received = 0

  constructor(
    private readonly req: IncomingMessage,
    private readonly limit = Infinity,
  ) {
    super()
    req.on('data', (chunk: Buffer) => this.receive(chunk))
    req.once('end', () => {
      this.passOnJoined()
      this.push(null)
    })
  }

  private receive(chunk: Buffer): void {
    if (this.destroyed) return
    this.received += chunk.length
    if (this.received > this.limit) return void this.destroy(new RequestBodyTooLarge(this.limit))
    if (chunk.length >= SMALL_CHUNK_BYTES) {
      this.passOnJoined()
      return this.passOn(chunk)
    }
    if (this.joinedBytes + chunk.length > JOINED_CHUNK_BYTES) this.passOnJoined()
    // The parser hands over the chunks of a read one by one from C++ (the microtasks run between
    // them), all before the loop turns.
    if (this.joinedBytes === 0) setImmediate(() => this.passOnJoined())
    this.joined ??= Buffer.allocUnsafe(JOINED_CHUNK_BYTES)
    this.joinedBytes += chunk.copy(this.joined, this.joinedBytes)
  }

  private passOnJoined(): void {
    if (this.joinedBytes === 0) return
    // A copy: `joined` takes the next chunks.
    const chunk = Buffer.from(this.joined!.subarray(0, this.joinedBytes))
    this.joinedBytes = 0
    this.passOn(chunk)
  }

  private passOn(chunk: Buffer): void {
    if (!this.destroyed && !this.push(chunk)) holdReads(this.req.socket, this)
  }

  override _read(): void {
    releaseReads(this.req.socket, this)
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    releaseReads(this.req.socket, this)
    done(error)
  }
}

/**
 * nginx's client_body_timeout: a body that stops arriving for `timeoutMs` ends the connection. Only the
 * client's silence counts. While the gateway itself is not reading (the upstream applies backpressure,
 * or the request waits for a pooled connection), the clock starts again; once the whole body has
 * arrived, it stops.
 */
export function limitBodyIdle(req: IncomingMessage, res: ServerResponse, timeoutMs: number): void {
  const { socket } = req
  const stop = () => {
    res.off('timeout', onTimeout)
    req.off('resume', restart)
    socket.off('resume', restart)
    // Unless the response already finished and Node set its keep-alive timeout in its place.
    if (!res.writableFinished) socket.setTimeout(0)
  }
  // Node destroys a silent socket unless the request, the response or the server takes its 'timeout';
  // the response's is emitted even when the body has arrived but has not been read yet.
  const onTimeout = () => {
    if (req.complete) return stop()
    const gatewayNotReading = req.readableFlowing !== true || req.readableLength > 0 || readsHeld(socket)
    if (gatewayNotReading) socket.setTimeout(timeoutMs)
    else socket.destroy()
  }
  // When the gateway reads again (the request, or its socket when a ChunkedBody held it), the client's
  // silence until then was the gateway's doing: the bytes it held back have yet to come. Without this,
  // a check just after the gateway resumed reading, before those bytes arrived, ended the connection.
  // Not once the response has finished: Node has set its keep-alive timeout in its place, as stop()
  // says.
  const restart = () => {
    if (!res.writableFinished) socket.setTimeout(timeoutMs)
  }
  res.on('timeout', onTimeout)
  req.on('resume', restart)
  socket.on('resume', restart)
  socket.setTimeout(timeoutMs)
  req.once('end', stop)
}

/**
 * An upstream may answer before it has read the whole upload (an early 401 or 413), or fail while
 * reading it; undici then lets go of the body stream. The rest of the body is read and dropped, as
 * nginx does, so the client is not left stalled until the body idle timeout: Node's own dump of an
 * unread body (`_dump`, what it does for a handler that never read one), and the socket, paused by the
 * stream's backpressure, reads again. Without `_dump` (a Node that renamed it) the connection closes.
 */
function discardRestOfBody(req: IncomingMessage, socket: Duplex): void {
  const dump = (req as IncomingMessage & { _dump?: () => void })._dump
  if (typeof dump !== 'function') {
    socket.destroy()
    return
  }
  dump.call(req)
  socket.resume()
}

/**
 * Once `reader` closes, the rest of `req`'s body, if any, is read and dropped (discardRestOfBody):
 * `reader` is what undici reads, `req` itself or the ChunkedBody forwardedBody puts in its place. The socket
 * is taken now: Node detaches it from the request once the response has finished.
 */
export function discardRestAfter(reader: Readable, req: IncomingMessage): void {
  const { socket } = req
  reader.once('close', () => req.complete || discardRestOfBody(req, socket))
}
