/**
 * The resource-exhaustion review's crlf-hold: a keep-alive client that sends an empty line ("\r\n")
 * more often than the keep-alive timeout. Node's keep-alive timer restarts at any byte, and an empty
 * line begins no request, so no headers timeout starts either: one client held its connection, and
 * its limits.connections slot, for good. RequestServer over real sockets, with short timeouts: an idle
 * connection is closed at the keep-alive timeout plus the headers timeout whatever it sends, and a
 * client that begins its next request within the keep-alive timeout is still served.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type http from 'node:http'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { RequestServer } from '../../src/proxy/server.js'
import { eventually } from '../helpers/gateway.js'

const KEEP_ALIVE_TIMEOUT_MS = 1_000
const HEADERS_TIMEOUT_MS = 1_000
const IDLE_LIMIT_MS = KEEP_ALIVE_TIMEOUT_MS + HEADERS_TIMEOUT_MS
/** How late a close may be seen: the request server looks at idle connections every 200 ms here, Node at headers every second; a busy machine. */
const LATE_MS = 1_500

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a.test\r\n\r\n`

/** A loopback client of a request server that answers /slow after IDLE_LIMIT_MS and a second, and anything else at once. */
async function keepAliveClients(t: TestContext) {
  const handlers = {
    request: (_snapshot: unknown, _policy: unknown, req: http.IncomingMessage, res: http.ServerResponse) =>
      req.url === '/slow' ? setTimeout(() => res.end('slow'), IDLE_LIMIT_MS + 1_000) : res.end('ok'),
    upgrade: async (_snapshot: unknown, _policy: unknown, _req: http.IncomingMessage, socket: Duplex) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
      return undefined
    },
    refused: () => undefined,
  }
  const server = new RequestServer(() => undefined as never, handlers, { keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS, headersTimeoutMs: HEADERS_TIMEOUT_MS })
  const listener = net.createServer((socket) => server.accept(socket)).listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const port = (listener.address() as net.AddressInfo).port
  const sockets: net.Socket[] = []
  t.after(async () => {
    for (const socket of sockets) socket.destroy()
    listener.close()
    await server.close()
  })
  return async () => {
    const socket = net.connect(port, '127.0.0.1')
    sockets.push(socket)
    await once(socket, 'connect')
    let received = ''
    let closedAt: number | undefined
    socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk))
    socket.on('error', () => undefined).on('close', () => (closedAt = performance.now()))
    return {
      socket,
      received: () => received,
      closedAt: () => closedAt,
      /** Resolves when `count` responses have come, with the time the last one did. */
      answered: async (count: number) => {
        await eventually(async () => (received.match(/HTTP\/1\.1 \d{3} /g)?.length ?? 0) >= count, 5_000, `${count} responses`)
        return performance.now()
      },
    }
  }
}

test('closes a keep-alive connection that sends only empty lines at the keep-alive timeout plus the headers timeout', async (t) => {
  const connect = await keepAliveClients(t)
  const client = await connect()
  client.socket.write(get('/'))
  const idleFrom = await client.answered(1)
  const emptyLines = setInterval(() => client.socket.writable && client.socket.write('\r\n'), KEEP_ALIVE_TIMEOUT_MS / 4)
  try {
    await eventually(async () => client.closedAt() !== undefined, IDLE_LIMIT_MS + LATE_MS, 'the close')
  } finally {
    clearInterval(emptyLines)
  }
  const ms = client.closedAt()! - idleFrom
  assert.ok(ms >= IDLE_LIMIT_MS - 50, `closed after ${ms} ms`)
  // A plain close, as at the keep-alive timeout: nothing after the one answer.
  assert.match(client.received(), /^HTTP\/1\.1 200 [^]*ok$/)
})

test('closes a new connection that sends only empty lines, with 408 at the headers timeout', async (t) => {
  const connect = await keepAliveClients(t)
  const client = await connect()
  const started = performance.now()
  const emptyLines = setInterval(() => client.socket.writable && client.socket.write('\r\n'), HEADERS_TIMEOUT_MS / 4)
  try {
    await eventually(async () => client.closedAt() !== undefined, HEADERS_TIMEOUT_MS + LATE_MS, 'the close')
  } finally {
    clearInterval(emptyLines)
  }
  assert.ok(client.closedAt()! - started >= HEADERS_TIMEOUT_MS - 50)
  assert.match(client.received(), /^HTTP\/1\.1 408 /)
})

test('serves a request begun just within the keep-alive timeout whose head takes most of the headers timeout', async (t) => {
  const connect = await keepAliveClients(t)
  const client = await connect()
  client.socket.write(get('/'))
  await client.answered(1)
  await sleep(KEEP_ALIVE_TIMEOUT_MS - 150)
  client.socket.write('GET /next HTTP/1.1\r\n')
  await sleep(HEADERS_TIMEOUT_MS - 400)
  client.socket.write('Host: a.test\r\n\r\n')
  await client.answered(2)
  assert.match(client.received(), /ok[^]*HTTP\/1\.1 200 [^]*ok$/)
  assert.equal(client.closedAt(), undefined)
})

test('leaves open a connection whose response takes longer than the idle limit, and a WebSocket', async (t) => {
  const connect = await keepAliveClients(t)
  const [slow, webSocket] = await Promise.all([connect(), connect()])
  slow.socket.write(get('/slow'))
  webSocket.socket.write('GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
  await webSocket.answered(1)
  await slow.answered(1)
  await sleep(IDLE_LIMIT_MS / 2)
  assert.match(slow.received(), /^HTTP\/1\.1 200 [^]*slow$/)
  assert.deepEqual([slow.closedAt(), webSocket.closedAt()], [undefined, undefined])
})
