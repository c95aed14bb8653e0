/**
 * A client connection's reads held over real sockets: held until its last holder lets go, and still
 * held when something resumes and pauses it in one tick, which leaves Node reading the handle.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { test } from 'node:test'
import { holdReads, releaseReads } from '../../src/proxy/read-hold.js'
import { eventually } from '../helpers/gateway.js'

/** A request whose client sends a body of 100 MB as fast as it is taken, and nothing reads. */
async function uploadNobodyReads() {
  const server = http.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1').on('error', () => undefined)
  client.write('POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100000000\r\n\r\n')
  const blob = Buffer.alloc(64 * 1024, 'a')
  const send = () => {
    while (!client.destroyed && client.write(blob));
    client.once('drain', send)
  }
  send()
  const [req] = (await once(server, 'request')) as [http.IncomingMessage]
  const close = () => {
    client.destroy()
    server.close()
    server.closeAllConnections()
  }
  return { req, close }
}

/** How much `req` has buffered once it has stopped growing for 200 ms. */
async function settledLength(req: http.IncomingMessage): Promise<number> {
  let last = -1
  await eventually(
    async () => {
      const settled = req.readableLength === last
      last = req.readableLength
      await new Promise((resolve) => setTimeout(resolve, 200))
      return settled
    },
    5000,
    'the reads to stop',
  )
  return last
}

test('holds reads until the last holder lets go, even through a resume and a pause in one tick', async () => {
  const { req, close } = await uploadNobodyReads()
  const [first, second] = [{}, {}]
  try {
    holdReads(req.socket, first)
    holdReads(req.socket, second)
    const held = await settledLength(req)
    // What Node's streams may do: the 'resume' comes a tick later all the same.
    req.socket.resume()
    req.socket.pause()
    releaseReads(req.socket, first)
    assert.equal(await settledLength(req), held)
    releaseReads(req.socket, second)
    await eventually(async () => req.readableLength > held, 5000, 'reads again')
  } finally {
    close()
  }
})
