/**
 * RequestServer over real sockets: a connection is not read while a pipelined request on it waits for
 * its turn, so that a client sending requests without reading the answers cannot grow the gateway's
 * memory; and it is read again once none waits.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type http from 'node:http'
import net from 'node:net'
import { test } from 'node:test'
import { RequestServer } from '../../src/proxy/server.js'

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a.test\r\n\r\n`

/** A request server whose handler answers nothing until the test does, over one loopback connection. */
async function pipeliningConnection() {
  const handled: { path: string | undefined; res: http.ServerResponse }[] = []
  const handlers = {
    request: (_snapshot: unknown, _policy: unknown, req: http.IncomingMessage, res: http.ServerResponse) => handled.push({ path: req.url, res }),
    upgrade: async () => undefined,
    refused: () => undefined,
  }
  const server = new RequestServer(() => undefined as never, handlers)
  const listener = net.createServer().listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1')
  const [accepted] = (await once(listener, 'connection')) as [net.Socket]
  server.accept(accepted)
  let received = ''
  client.setEncoding('utf8').on('data', (chunk: string) => (received += chunk))
  const until = async (what: string, done: () => boolean) => {
    for (let tries = 0; !done(); tries++) {
      if (tries === 500) assert.fail(`waited 5 s for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  const close = async () => {
    client.destroy()
    listener.close()
    await server.close()
  }
  return { handled, accepted, client, received: () => received, until, close }
}

test('does not read a connection while a pipelined request waits, and reads it again once none waits', async () => {
  const { handled, accepted, client, received, until, close } = await pipeliningConnection()
  try {
    // One write, so one read: /2 is parsed, and waits, before /1 is handled.
    client.write(get('/1') + get('/2'))
    await until('/1', () => handled.length === 1)
    assert.equal(accepted.isPaused(), true, 'not read while /2 waits')
    handled[0]!.res.end('one')
    await until('/2', () => handled.length === 2)
    assert.equal(accepted.isPaused(), false, 'read again: nothing waits')
    // Read, and waits behind /2.
    client.write(get('/3'))
    await until('/3 to wait', () => accepted.isPaused())
    handled[1]!.res.end('two')
    await until('/3', () => handled.length === 3)
    handled[2]!.res.end('three')
    await until('the three answers', () => received().endsWith('three'))
    assert.deepEqual(handled.map(({ path }) => path), ['/1', '/2', '/3'])
    assert.match(received(), /one[^]*two[^]*three$/)
  } finally {
    await close()
  }
})

// Node stops reading a connection too when a request comes while the answer ahead backs up, and reads
// it again at the socket's 'drain'.
test('is still not read once the answer ahead of a waiting request drains', async () => {
  const { handled, accepted, client, until, close } = await pipeliningConnection()
  try {
    client.pause()
    client.write(get('/1'))
    await until('/1', () => handled.length === 1)
    const large = handled[0]!.res
    large.setHeader('content-length', 64 * 1024 * 1024)
    // More than the kernel's buffers take: while the client reads nothing, the answer backs up, and
    // /2 comes meanwhile.
    large.write(Buffer.alloc(32 * 1024 * 1024))
    client.write(get('/2'))
    await until('/2 to wait', () => accepted.isPaused())
    client.resume()
    await once(accepted, 'drain')
    // Node resumes the socket a tick after its 'drain'.
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(accepted.isPaused(), true, 'not read while /2 waits')
    assert.equal(handled.length, 1)
  } finally {
    await close()
  }
})
