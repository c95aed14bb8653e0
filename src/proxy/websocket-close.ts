/**
 * The close frame (RFC 6455 5.5.1) both ends of a WebSocket get when the end of `shutdown.grace` cuts
 * it off: status 1001, going away, as Caddy sends it, so that a client sees a server leaving rather than
 * an abnormal closure (1006). The gateway relays bytes, not frames, so each direction's frame
 * boundaries are followed from the frame headers as the bytes pass. A close frame is written only
 * between two frames, never into the middle of one (Caddy writes it wherever the stream is), and not
 * after a close frame that already went that way: the relay stops, a frame under way is let finish,
 * and the close frame follows it. The frames queued toward an end, the close frame last, get a second
 * to go out and for the end to close in turn (a client that reads too slowly may not get it), then the
 * sockets close.
 */
import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'

const OPCODE_CLOSE = 0x8
const FIN = 0x80
const MASKED = 0x80
const GOING_AWAY = 1001
/** How long the bytes still queued toward each end, the close frame last, get to go out. */
const GOING_AWAY_FLUSH_MS = 1000

/** Ends a relayed WebSocket: its close frames, then both its sockets destroyed. */
export type CloseGoingAway = () => void

/**
 * Follows the frames of a WebSocket relayed (piped) between `client` and `upstream`, of which
 * `sentUpstream` (the bytes that came behind the upgrade request) already went to the upstream.
 */
export function followFrames(client: Duplex, upstream: Duplex, sentUpstream: Buffer): CloseGoingAway {
  const toClient = new Direction(upstream, client, false)
  // A client's frames are masked (RFC 6455 5.3), and toward the upstream the gateway is the client.
  const toUpstream = new Direction(client, upstream, true)
  toUpstream.frames.follow(sentUpstream)
  return () => {
    const destroyBoth = () => {
      clearTimeout(deadline)
      client.destroy()
      upstream.destroy()
    }
    const deadline = setTimeout(destroyBoth, GOING_AWAY_FLUSH_MS).unref()
    void Promise.all([toClient.goAway(), toUpstream.goAway()])
      .then(() => Promise.all([endAndAwaitClose(client), endAndAwaitClose(upstream)]))
      .then(destroyBoth)
  }
}

/**
 * Ends `socket` once its close frame is out, and resolves as its peer closes in turn (an end answers
 * a close frame so). Until then what it sends is read and dropped (goAway): a socket destroyed with
 * bytes still coming in sends a reset, and its peer loses what it has not read yet, the close frame too.
 */
function endAndAwaitClose(socket: Duplex): Promise<void> {
  if (socket.destroyed) return Promise.resolve()
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.end()
  return closed
}

/** One direction of the relay, `from` → `to`, and where its frames stand. */
class Direction {
  readonly frames = new FrameBoundaries()
  private readonly following = (chunk: Buffer) => this.frames.follow(chunk)

  constructor(
    private readonly from: Duplex,
    private readonly to: Duplex,
    private readonly masked: boolean,
  ) {
    from.on('data', this.following)
  }

  /**
   * Stops the relay, lets the frame under way finish, and writes the close frame after it: resolves
   * once that has gone out, with all that was queued ahead of it. What `from` sends beyond is read and
   * dropped: a socket closed with bytes unread sends a reset, which would drop what is still queued
   * toward its peer.
   */
  goAway(): Promise<void> {
    const { from, to, frames } = this
    from.unpipe(to).off('data', this.following)
    if (!to.writable || frames.closeSent) {
      from.resume()
      return Promise.resolve()
    }
    if (frames.betweenFrames) return this.writeClose()
    return new Promise((resolve) => {
      const finishFrame = (chunk: Buffer) => {
        to.write(chunk.subarray(0, frames.followToFrameEnd(chunk)))
        if (!frames.betweenFrames) return
        from.off('data', finishFrame)
        resolve(this.writeClose())
      }
      from.on('data', finishFrame).resume()
    })
  }

  private writeClose(): Promise<void> {
    this.from.resume()
    return new Promise((resolve) => this.to.write(goingAwayFrame(this.masked), () => resolve()))
  }
}

function goingAwayFrame(masked: boolean): Buffer {
  const payload = Buffer.from([GOING_AWAY >> 8, GOING_AWAY & 0xff])
  const first = FIN | OPCODE_CLOSE
  if (!masked) return Buffer.concat([Buffer.from([first, payload.length]), payload])
  const key = randomBytes(4)
  return Buffer.concat([Buffer.from([first, MASKED | payload.length]), key, payload.map((byte, i) => byte ^ key[i]!)])
}

/** Where one direction of a WebSocket stands: in a frame's header, in its payload, or between frames. */
class FrameBoundaries {
  /** The header of the frame under way, until it is whole. */
  private header: number[] = []
  private payloadLeft = 0
  /** A close frame went this way: no frame may follow it. */
  closeSent = false

  get betweenFrames(): boolean {
    return this.header.length === 0 && this.payloadLeft === 0
  }

  follow(chunk: Buffer): void {
    for (let offset = 0; offset < chunk.length; ) offset += this.step(chunk, offset)
  }

  /** Follows `chunk` to the end of the frame under way, or its own end: how many bytes that took. */
  followToFrameEnd(chunk: Buffer): number {
    let offset = 0
    while (offset < chunk.length && !this.betweenFrames) offset += this.step(chunk, offset)
    return offset
  }

  /** Follows the bytes at `offset`: one of a header, or as many of the payload under way as are there. */
  private step(chunk: Buffer, offset: number): number {
    if (this.payloadLeft > 0) {
      const skipped = Math.min(this.payloadLeft, chunk.length - offset)
      this.payloadLeft -= skipped
      return skipped
    }
    this.header.push(chunk[offset]!)
    if (this.header.length >= 2 && this.header.length === headerLength(this.header)) {
      this.payloadLeft = payloadLength(this.header)
      if ((this.header[0]! & 0x0f) === OPCODE_CLOSE) this.closeSent = true
      this.header = []
    }
    return 1
  }
}

/** RFC 6455 5.2: two bytes, then 2 or 8 of extended payload length, then 4 of masking key if masked. */
function headerLength(header: readonly number[]): number {
  const length7 = header[1]! & 0x7f
  const extended = length7 === 126 ? 2 : length7 === 127 ? 8 : 0
  return 2 + extended + (header[1]! & MASKED ? 4 : 0)
}

/** A 64-bit length beyond 2^53 is rounded: such a frame never ends, and its direction gets no close frame. */
function payloadLength(header: readonly number[]): number {
  const length7 = header[1]! & 0x7f
  if (length7 < 126) return length7
  const extended = header.slice(2, length7 === 126 ? 4 : 10)
  return extended.reduce((length, byte) => length * 256 + byte, 0)
}
