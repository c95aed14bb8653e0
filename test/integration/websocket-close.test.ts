/**
 * The end of `shutdown.grace` cuts a WebSocket off with a close frame to each end (1001, going away),
 * written only between two frames of its direction (a frame under way gets a second to end), and not
 * after a close frame that went that way.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { describe, it } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
import { eventually } from '../helpers/gateway.js'
import { gatewayInFrontOf } from '../helpers/websocket.js'

const UPGRADE_REQUEST =
  'GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
const SWITCHING = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'
const CLOSE = 0x8
const BINARY = 0x2

/** A frame's header (RFC 6455 5.2) for a payload of `length` bytes, the 16- or 64-bit length where it takes one. */
function frameHeader(opcode: number, length: number, mask?: Buffer): Buffer {
  const maskBit = mask ? 0x80 : 0
  const first = Buffer.from([0x80 | opcode])
  let lengthBytes: Buffer
  if (length < 126) lengthBytes = Buffer.from([maskBit | length])
  else if (length < 65_536) lengthBytes = Buffer.from([maskBit | 126, length >> 8, length & 0xff])
  else {
    lengthBytes = Buffer.alloc(9)
    lengthBytes[0] = maskBit | 127
    lengthBytes.writeBigUInt64BE(BigInt(length), 1)
  }
  return Buffer.concat([first, lengthBytes, mask ?? Buffer.alloc(0)])
}

/** A client's frame: its payload masked with `mask`. */
function maskedFrame(opcode: number, payload: Buffer, mask = Buffer.from([1, 2, 3, 4])): Buffer {
  return Buffer.concat([frameHeader(opcode, payload.length, mask), payload.map((byte, i) => byte ^ mask[i % 4]!)])
}

/** The status code of a whole close frame at the start of `bytes`, unmasked; undefined if there is none. */
function closeStatus(bytes: Buffer): number | undefined {
  if (bytes.length < 4 || bytes[0] !== (0x80 | CLOSE) || (bytes[1]! & 0x7f) !== 2) return undefined
  const masked = (bytes[1]! & 0x80) !== 0
  const payload = bytes.subarray(masked ? 6 : 2, masked ? 8 : 4)
  const mask = masked ? bytes.subarray(2, 6) : Buffer.alloc(4)
  return ((payload[0]! ^ mask[0]!) << 8) | (payload[1]! ^ mask[1]!)
}

interface RawRelay {
  /** What the upstream got after the upgrade request, and the client after the gateway's 101. */
  readonly upstreamGot: () => Buffer
  readonly clientGot: () => Buffer
  readonly client: net.Socket
  readonly upstreamSocket: () => net.Socket
}

/** A WebSocket through the gateway, with both ends raw sockets that write `upstreamSends` after the 101. */
async function rawRelay(upstream: http.Server, port: number, upstreamSends: (socket: net.Socket) => Promise<void>): Promise<RawRelay> {
  let upstreamBytes = Buffer.alloc(0)
  let upstreamSocket: net.Socket | undefined
  upstream.on('upgrade', (_req, socket: net.Socket, head: Buffer) => {
    upstreamSocket = socket
    upstreamBytes = Buffer.from(head)
    socket.on('data', (chunk: Buffer) => (upstreamBytes = Buffer.concat([upstreamBytes, chunk])))
    socket.on('error', () => undefined)
    // The HTTP server's sockets are half-open ones: this one closes when the gateway's side does.
    socket.on('end', () => socket.end())
    socket.write(SWITCHING)
    void upstreamSends(socket)
  })
  const client = net.connect(port, '127.0.0.1')
  client.on('error', () => undefined)
  const clientChunks: Buffer[] = []
  client.on('data', (chunk: Buffer) => clientChunks.push(chunk))
  const clientBytes = () => Buffer.concat(clientChunks)
  client.write(UPGRADE_REQUEST)
  await eventually(async () => clientBytes().includes('\r\n\r\n'), 3000, "the gateway's 101")
  return {
    upstreamGot: () => upstreamBytes,
    clientGot: () => clientBytes().subarray(clientBytes().indexOf('\r\n\r\n') + 4),
    client,
    upstreamSocket: () => upstreamSocket!,
  }
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 50))

/** Writes `bytes` in two writes split at `at`, apart enough for the gateway to read them apart. */
async function writeSplit(socket: net.Socket, bytes: Buffer, at: number): Promise<void> {
  socket.write(bytes.subarray(0, at))
  await pause()
  socket.write(bytes.subarray(at))
}

/**
 * The close codes each end of a WebSocket through the gateway gets when the gateway stops with no grace
 * left. `busy`: both ends keep sending meanwhile, the client 150 KB every 2 ms and the upstream echoing it.
 */
async function closeCodesAtStop(busy: boolean): Promise<{ client: unknown; upstream: number }> {
  const upstream = http.createServer()
  const upstreamClosed = new Promise<number>((resolve) =>
    new WebSocketServer({ server: upstream }).on('connection', (ws) => {
      if (busy) ws.on('message', (data) => ws.send(data))
      ws.on('error', () => undefined)
      ws.once('close', (code) => resolve(code))
    }),
  )
  const gw = await gatewayInFrontOf(upstream)
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/`, { headers: { host: 'ws.test' } })
    ws.on('error', () => undefined)
    await once(ws, 'open')
    const clientClosed = once(ws, 'close')
    const chunk = Buffer.alloc(150_000, 0x61)
    const sending = busy ? setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(chunk), 2) : undefined
    if (busy) await new Promise((resolve) => setTimeout(resolve, 300))
    await gw.close() // no grace left
    clearInterval(sending)
    return { client: (await clientClosed)[0], upstream: await upstreamClosed }
  } finally {
    upstream.close()
  }
}

describe('a WebSocket cut off by the end of the grace period', () => {
  it('gets a close frame at each end, 1001 going away', async () => {
    assert.deepEqual(await closeCodesAtStop(false), { client: 1001, upstream: 1001 })
  })

  // Each socket was destroyed as soon as its close frame was written: one with bytes still coming in
  // sent a reset, and the peer lost the close frame with what it had not read yet (1006 upstream).
  it('gets a close frame at each end while both ends keep sending', async () => {
    assert.deepEqual(await closeCodesAtStop(true), { client: 1001, upstream: 1001 })
  })

  it('gets it only between frames: a frame under way, of any length form, ends first, and nothing follows', async () => {
    const upstream = http.createServer()
    const gw = await gatewayInFrontOf(upstream)
    // Upstream to client: a whole frame of 300 bytes (16-bit length, its header split across reads),
    // and the first 1,000 bytes of one of 70,000 (64-bit length), whose rest comes once the stop has
    // begun, with a frame after it.
    const whole = Buffer.concat([frameHeader(BINARY, 300), Buffer.alloc(300, 0x61)])
    const begun = Buffer.concat([frameHeader(BINARY, 70_000), Buffer.alloc(1000, 0x62)])
    const rest = Buffer.alloc(69_000, 0x62)
    const late = Buffer.concat([frameHeader(BINARY, 10), Buffer.alloc(10, 0x64)])
    // Client to upstream: a whole masked frame of 200 bytes, its header split after the first byte.
    const fromClient = maskedFrame(BINARY, Buffer.alloc(200, 0x63))
    try {
      const relay = await rawRelay(upstream, gw.ports.http!, async (socket) => {
        await writeSplit(socket, whole, 3)
        await pause()
        socket.write(begun)
      })
      await writeSplit(relay.client, fromClient, 1)
      const relayedBefore = Buffer.concat([whole, begun])
      await eventually(async () => relay.clientGot().equals(relayedBefore) && relay.upstreamGot().equals(fromClient), 3000, 'every frame relayed')

      const clientEnded = once(relay.client, 'close')
      const stopped = gw.close()
      await pause()
      relay.upstreamSocket().write(Buffer.concat([rest, late]))
      await Promise.all([stopped, clientEnded])
      const atClient = relay.clientGot()
      assert.ok(atClient.subarray(0, relayedBefore.length + rest.length).equals(Buffer.concat([relayedBefore, rest])), 'the frame under way, whole')
      const afterFrames = atClient.subarray(relayedBefore.length + rest.length)
      assert.equal(closeStatus(afterFrames), 1001, `the client's bytes after the frames: ${afterFrames.subarray(0, 16).toString('hex')}`)
      assert.equal(afterFrames.length, 4, 'a close frame of 2 payload bytes, and no frame after it')
      const afterClientFrame = relay.upstreamGot().subarray(fromClient.length)
      assert.equal(closeStatus(afterClientFrame), 1001, `the upstream's bytes after the client's frame: ${afterClientFrame.toString('hex')}`)
      assert.equal(afterClientFrame.length, 8, 'a masked close frame of 2 payload bytes')
    } finally {
      upstream.close()
    }
  })

  it('gets none in a frame that does not end within the second the stop gives it', async () => {
    const upstream = http.createServer()
    const gw = await gatewayInFrontOf(upstream)
    const unfinished = maskedFrame(BINARY, Buffer.alloc(100, 0x63)).subarray(0, 50)
    try {
      const relay = await rawRelay(upstream, gw.ports.http!, async () => undefined)
      relay.client.write(unfinished)
      await eventually(async () => relay.upstreamGot().equals(unfinished), 3000, 'the start of the frame relayed')
      const upstreamEnded = once(relay.upstreamSocket(), 'close')
      const started = performance.now()
      await gw.close()
      await upstreamEnded
      assert.ok(performance.now() - started < 3000, 'the stop waited a second at most for the frame')
      assert.ok(relay.upstreamGot().equals(unfinished), 'nothing written into the unfinished frame')
      assert.equal(closeStatus(relay.clientGot()), 1001, 'the other direction still gets its close frame')
    } finally {
      upstream.close()
    }
  })

  it('gets it behind the frames queued toward a client that reads slowly', async () => {
    const FRAME = 60 * 1024
    const upstream = http.createServer()
    const gw = await gatewayInFrontOf(upstream)
    const frame = Buffer.concat([frameHeader(BINARY, FRAME), Buffer.alloc(FRAME, 0x61)])
    try {
      const relay = await rawRelay(upstream, gw.ports.http!, async (socket) => {
        for (let i = 0; i < 200; i++) socket.write(frame)
      })
      // Nothing read for now: the gateway's writes toward the client queue up.
      relay.client.pause()
      await new Promise((resolve) => setTimeout(resolve, 300))
      const clientEnded = once(relay.client, 'close')
      const stopped = gw.close()
      await pause()
      relay.client.resume()
      await Promise.all([stopped, clientEnded])
      const atClient = relay.clientGot()
      const wholeFrames = Math.floor(atClient.length / frame.length)
      const afterFrames = atClient.subarray(wholeFrames * frame.length)
      assert.ok(wholeFrames > 0, 'frames relayed before the stop')
      assert.equal(closeStatus(afterFrames), 1001, `${wholeFrames} whole frames, then ${afterFrames.length} bytes: ${afterFrames.subarray(0, 16).toString('hex')}`)
      assert.equal(afterFrames.length, 4)
    } finally {
      upstream.close()
    }
  })

  it('gets none after a close frame that already went its way', async () => {
    const upstream = http.createServer()
    const gw = await gatewayInFrontOf(upstream)
    const upstreamClose = Buffer.concat([frameHeader(CLOSE, 2), Buffer.from([0x03, 0xe8])])
    const clientClose = maskedFrame(CLOSE, Buffer.from([0x03, 0xe8]))
    try {
      const relay = await rawRelay(upstream, gw.ports.http!, async (socket) => void socket.write(upstreamClose))
      relay.client.write(clientClose)
      await eventually(async () => relay.clientGot().equals(upstreamClose) && relay.upstreamGot().equals(clientClose), 3000, 'both close frames relayed')

      const upstreamEnded = once(relay.upstreamSocket(), 'close')
      const clientEnded = once(relay.client, 'close')
      await gw.close()
      await Promise.all([upstreamEnded, clientEnded])
      assert.ok(relay.clientGot().equals(upstreamClose), 'no second close frame to the client')
      assert.ok(relay.upstreamGot().equals(clientClose), 'no second close frame to the upstream')
    } finally {
      upstream.close()
    }
  })
})
