/**
 * RequestServer.close() over real sockets: it destroys the connections open, and one that arrives
 * while it waits for them to close (a TLS handshake that ended just then) is not served, nor one whose
 * client has gone.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import { test } from 'node:test'
import { RequestServer } from '../../src/proxy/server.js'

/** A request server whose handlers do nothing: these tests hand it connections and close it. */
function idleRequestServer(): RequestServer {
  const handlers = { request: () => undefined, upgrade: async () => undefined, refused: () => undefined }
  return new RequestServer(() => undefined as never, handlers)
}

test('destroys a connection handed over while it closes, and resolves without waiting for it', { timeout: 5000 }, async () => {
  const server = idleRequestServer()
  const accepted: net.Socket[] = []
  const listener = net.createServer((socket) => accepted.push(socket)).listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const port = (listener.address() as net.AddressInfo).port
  const clients = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')]
  for (const client of clients) client.on('error', () => undefined)
  while (accepted.length < 2) await new Promise((resolve) => setTimeout(resolve, 10))
  const [first, late] = accepted as [net.Socket, net.Socket]
  try {
    server.accept(first)
    const closed = server.close()
    // Before the first one's close has come: close() is still waiting.
    server.accept(late)
    assert.equal(late.destroyed, true)
    await closed
  } finally {
    for (const socket of [...clients, ...accepted]) socket.destroy()
    listener.close()
  }
})

test('resolves at once after a connection handed over once its client had gone', { timeout: 5000 }, async () => {
  const server = idleRequestServer()
  const listener = net.createServer().listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1')
  const [gone] = (await once(listener, 'connection')) as [net.Socket]
  try {
    gone.destroy()
    await once(gone, 'close')
    // Its 'close' has come and gone: counted open, it would hold close() for good.
    server.accept(gone)
    await server.close()
  } finally {
    client.destroy()
    listener.close()
  }
})
