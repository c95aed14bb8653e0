/**
 * The close frame (RFC 6455 5.5.1) both ends of a WebSocket get when the end of `shutdown.grace` cuts
 * it off: status 1001, going away, as Caddy sends it, so that a client sees a server leaving rather than
 * an abnormal closure (1006). The gateway relays bytes, not frames, so each direction's frame
 * boundaries are followed from the frame headers as the bytes pass. A close frame is written only
 * between two frames, never into the middle of one (Caddy writes it wherever the stream is), and not
 * after a close frame that already went that way.
 */
import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'

const OPCODE_CLOSE = 0x8
const FIN = 0x80
const MASKED = 0x80
const GOING_AWAY = 1001

/** Each relayed WebSocket's goodbye, by its client socket. */
const goodbyes = new WeakMap<Duplex, () => void>()

/**
 * Follows the frames of a WebSocket relayed between `client` and `upstream`, of which `sentUpstream`
 * (the bytes that came behind the upgrade request) already went to the upstream.
 */
export function followFrames(client: Duplex, upstream: Duplex, sentUpstream: Buffer): void {
  const toClient = new FrameBoundaries()
  const toUpstream = new FrameBoundaries()
  toUpstream.follow(sentUpstream)
  upstream.on('data', (chunk: Buffer) => toClient.follow(chunk))
  client.on('data', (chunk: Buffer) => toUpstream.follow(chunk))
  goodbyes.set(client, () => {
    sayGoingAway(client, toClient, false)
    // A client's frames are masked (RFC 6455 5.3), and toward the upstream the gateway is the client.
    sayGoingAway(upstream, toUpstream, true)
  })
}

/** Writes a close frame to each end of the WebSocket whose client socket is `client`, where it fits. */
export function closeGoingAway(client: Duplex): void {
  goodbyes.get(client)?.()
}

function sayGoingAway(socket: Duplex, sent: FrameBoundaries, masked: boolean): void {
  if (socket.writable && sent.betweenFrames && !sent.closeSent) socket.write(goingAwayFrame(masked))
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
    let offset = 0
    while (offset < chunk.length) {
      if (this.payloadLeft > 0) {
        const skipped = Math.min(this.payloadLeft, chunk.length - offset)
        this.payloadLeft -= skipped
        offset += skipped
        continue
      }
      this.header.push(chunk[offset++]!)
      if (this.header.length < 2 || this.header.length < headerLength(this.header)) continue
      this.payloadLeft = payloadLength(this.header)
      if ((this.header[0]! & 0x0f) === OPCODE_CLOSE) this.closeSent = true
      this.header = []
    }
  }
}

/** RFC 6455 5.2: two bytes, then 2 or 8 of extended payload length, then 4 of masking key if masked. */
function headerLength(header: readonly number[]): number {
  const length7 = header[1]! & 0x7f
  const extended = length7 === 126 ? 2 : length7 === 127 ? 8 : 0
  return 2 + extended + (header[1]! & MASKED ? 4 : 0)
}

function payloadLength(header: readonly number[]): number {
  const length7 = header[1]! & 0x7f
  if (length7 < 126) return length7
  const extended = header.slice(2, length7 === 126 ? 4 : 10)
  return extended.reduce((length, byte) => length * 256 + byte, 0)
}
