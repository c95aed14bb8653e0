/**
 * RequestServer over real sockets: a connection is not read while more pipelined requests wait for
 * their turn than MAX_WAITING_REQUESTS, so that a client sending requests without reading the answers
 * cannot grow the gateway's memory; and it is read again once none waits.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type http from 'node:http'
import { test } from 'node:test'
import { MAX_WAITING_REQUESTS } from '../../src/proxy/server.js'
import { eventually } from '../helpers/gateway.js'
import { requestServerConnection } from '../helpers/request-server.js'

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a.test\r\n\r\n`
/** Waits for `done` to hold, at most 5 s. */
const until = (what: string, done: () => boolean) => eventually(async () => done(), 5000, what)
/** Requests /2 to /(count + 1), in one string. */
const pipelined = (count: number) => Array.from({ length: count }, (_, i) => get(`/${i + 2}`)).join('')

/** A request server whose handler answers nothing until the test does, over one loopback connection. */
async function pipeliningConnection() {
  const handled: { path: string | undefined; res: http.ServerResponse }[] = []
  const connection = await requestServerConnection((_snapshot, _policy, req, res) => {
    handled.push({ path: req.url, res })
  })
  let received = ''
  connection.client.setEncoding('utf8').on('data', (chunk: string) => (received += chunk))
  return { handled, received: () => received, ...connection }
}

test('reads a connection on while as many requests as MAX_WAITING_REQUESTS wait', async () => {
  const { handled, accepted, client, close } = await pipeliningConnection()
  try {
    // One write, so one read: the others are parsed, and wait, before /1 is handled.
    client.write(get('/1') + pipelined(MAX_WAITING_REQUESTS))
    await until('/1', () => handled.length === 1)
    assert.equal(accepted.isPaused(), false)
  } finally {
    await close()
  }
})

test('does not read a connection while more requests wait, and reads it again once none waits', async () => {
  const { handled, accepted, client, received, close } = await pipeliningConnection()
  const waiting = MAX_WAITING_REQUESTS + 1
  try {
    client.write(get('/1') + pipelined(waiting))
    await until('/1', () => handled.length === 1)
    assert.equal(accepted.isPaused(), true, 'not read while they wait')
    for (let answered = 0; answered < waiting; answered++) {
      handled[answered]!.res.end(`answer ${answered + 1};`)
      await until(`request ${answered + 2}`, () => handled.length === answered + 2)
      assert.equal(accepted.isPaused(), answered + 1 < waiting, `${waiting - answered - 1} waiting`)
    }
    // Read again: a request sent now is handled after the last one's answer.
    client.write(get('/last'))
    handled[waiting]!.res.end(`answer ${waiting + 1};`)
    await until('/last', () => handled.length === waiting + 2)
    handled[waiting + 1]!.res.end('last;')
    await until('every answer', () => received().endsWith('last;'))
    assert.deepEqual(handled.map(({ path }) => path), ['/1', ...Array.from({ length: waiting }, (_, i) => `/${i + 2}`), '/last'])
    assert.match(received(), new RegExp(`answer 1;[^]*answer ${waiting + 1};[^]*last;$`))
  } finally {
    await close()
  }
})

// Node stops reading a connection too when a request comes while the answer ahead backs up, and reads
// it again at the socket's 'drain'.
test('is still not read once the answer ahead of a waiting request drains', async () => {
  const { handled, accepted, client, close } = await pipeliningConnection()
  try {
    client.pause()
    client.write(get('/1'))
    await until('/1', () => handled.length === 1)
    const large = handled[0]!.res
    large.setHeader('content-length', 64 * 1024 * 1024)
    // More than the kernel's buffers take: while the client reads nothing, the answer backs up, and
    // the others come meanwhile.
    large.write(Buffer.alloc(32 * 1024 * 1024))
    client.write(pipelined(MAX_WAITING_REQUESTS + 1))
    await until('the others to wait', () => accepted.isPaused())
    client.resume()
    await once(accepted, 'drain')
    // Node resumes the socket a tick after its 'drain'.
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(accepted.isPaused(), true, 'not read while they wait')
    assert.equal(handled.length, 1)
  } finally {
    await close()
  }
})

// One that closes after the answer ahead (its request said so, a drain, a failed re-check) reads what
// its client still sends, and drops it, until the client's FIN (lingering-close.ts): a close with
// unread bytes would be a reset, which can cut off the answer.
test('reads on to the client\'s FIN once the answer ahead closes the connection', async () => {
  const { handled, accepted, client, close } = await pipeliningConnection()
  try {
    const upload = `POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(10)}`
    client.write(get('/1') + pipelined(MAX_WAITING_REQUESTS) + upload)
    await until('/1', () => handled.length === 1)
    assert.equal(accepted.isPaused(), true)
    handled[0]!.res.shouldKeepAlive = false
    handled[0]!.res.end('one')
    client.end('x'.repeat(990))
    const first = await Promise.race([once(accepted, 'end').then(() => 'end'), once(accepted, 'close').then(() => 'close')])
    assert.equal(first, 'end', "the client's FIN was read")
  } finally {
    await close()
  }
})
