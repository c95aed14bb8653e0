/**
 * `requestId: true`: every request carries an X-Request-Id to the upstream and back to the client, in
 * the gateway's own answers too, and its log lines say it; an id the client sent is kept, anything
 * else replaced. Off, a client's X-Request-Id passes as any header does.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
import { httpRequest } from '../helpers/client.js'
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js'
import { rawUntilClosed } from '../helpers/raw.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('requestId', () => {
  let upstream: http.Server
  let closed: http.Server
  let gw: TestGateway
  let plain: TestGateway
  /** The X-Request-Id of the last WebSocket upgrade request the upstream took. */
  let upgradeId: string | string[] | undefined

  before(async () => {
    upstream = http.createServer((req, res) => res.end(String(req.headers['x-request-id'])))
    new WebSocketServer({ server: upstream }).on('headers', (_headers, req) => (upgradeId = req.headers['x-request-id']))
    const port = await listenOnLoopback(upstream)
    // A port nothing listens on any more: the route's requests get 502.
    closed = http.createServer()
    const closedPort = await listenOnLoopback(closed)
    closed.close()
    const routes = `
routes:
  - { name: up, host: up.test, upstream: { url: 'http://127.0.0.1:${port}' } }
  - { name: down, host: down.test, upstream: { url: 'http://127.0.0.1:${closedPort}' } }
`
    gw = await startGateway(`listen: { http: 127.0.0.1:0 }\nrequestId: true\naccessLog: true\n${routes}`)
    plain = await startGateway(`listen: { http: 127.0.0.1:0 }\n${routes}`)
  })
  after(async () => {
    await gw.close()
    await plain.close()
    upstream.closeAllConnections()
    upstream.close()
  })

  const ask = (target: TestGateway, host: string, id?: string) =>
    httpRequest({ port: target.ports.http!, host, headers: id === undefined ? {} : { 'x-request-id': id } })

  it('gives a request without one a UUID, which the upstream and the client both get', async () => {
    const reply = await ask(gw, 'up.test')
    assert.match(reply.body, UUID)
    assert.equal(reply.headers['x-request-id'], reply.body)
  })

  it("keeps an id the client sent, and replaces one that is no id", async () => {
    assert.equal((await ask(gw, 'up.test', 'trace-1234.abcd')).body, 'trace-1234.abcd')
    for (const sent of ['short', 'two words here', 'x'.repeat(201)]) {
      const reply = await ask(gw, 'up.test', sent)
      assert.match(reply.body, UUID, sent)
      assert.equal(reply.headers['x-request-id'], reply.body)
    }
  })

  it('gives the gateway own answers one, and says it in the log lines', async () => {
    const missing = await ask(gw, 'nowhere.test')
    assert.equal(missing.status, 404)
    assert.match(String(missing.headers['x-request-id']), UUID)
    const failed = await ask(gw, 'down.test', 'failing-request-1')
    assert.equal(failed.status, 502)
    assert.equal(failed.headers['x-request-id'], 'failing-request-1')
    await eventually(async () => gw.logs.some((line) => line.msg === 'upstream request failed' && line.requestId === 'failing-request-1'), 3000, 'the failure line')
    await eventually(async () => gw.logs.some((line) => line.msg === 'request' && line.requestId === 'failing-request-1' && line.status === 502), 3000, 'the access line')
  })

  it('gives a WebSocket upgrade one, upstream and in its 101', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/`, { headers: { host: 'up.test' } })
    // 'open' follows 'upgrade' in the same tick.
    const [[response]] = (await Promise.all([once(ws, 'upgrade'), once(ws, 'open')])) as [[http.IncomingMessage], unknown]
    ws.close()
    assert.match(String(upgradeId), UUID)
    assert.equal(response.headers['x-request-id'], upgradeId)
  })

  it("gives an upgrade the gateway refuses one in the refusal, and one that fails upstream in the 502", async () => {
    const upgrade = (host: string) =>
      rawUntilClosed(gw.ports.http!, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Request-Id: upgrade-id-1\r\n\r\n`)
    for (const [host, status] of [['nowhere.test', 404], ['down.test', 502]] as const) {
      const answer = await upgrade(host)
      assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), host)
      assert.match(answer, /\r\nx-request-id: upgrade-id-1\r\n/i, host)
    }
  })

  it('off, passes a client X-Request-Id as any header, and adds none', async () => {
    assert.equal((await ask(plain, 'up.test', 'two words')).body, 'two words')
    const reply = await ask(plain, 'up.test')
    assert.equal(reply.body, 'undefined')
    assert.equal(reply.headers['x-request-id'], undefined)
  })
})
