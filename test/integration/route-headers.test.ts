/**
 * A route's `headers`: what it sets and removes reaches the upstream in each request (WebSocket
 * upgrades included; Host too, X-Forwarded-Host keeping the client's) and the client in each relayed
 * response, replacing the sender's values; routes without it pass headers on as before, and a reload
 * applies new changes to the next request.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
import { httpRequest } from '../helpers/client.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const routesTo = (port: number, headers: string) => `
listen: { http: 127.0.0.1:0 }
routes:
  - name: changed
    host: changed.test
    headers:
${headers}
    upstream: { url: 'http://127.0.0.1:${port}' }
  - { name: plain, host: plain.test, upstream: { url: 'http://127.0.0.1:${port}' } }
`

const CHANGES = `
      request:
        set: { X-Env: production, Authorization: 'Bearer gateway', Host: 'backend.internal:8080' }
        remove: [Cookie, x-debug]
      response:
        set: { Strict-Transport-Security: max-age=31536000, Cache-Control: public }
        remove: [Server, X-Powered-By]`

describe('route headers', () => {
  let upstream: http.Server
  let port: number
  let gw: TestGateway
  /** The headers of the last WebSocket upgrade request the upstream took. */
  let upgradeHeaders: http.IncomingHttpHeaders | undefined

  before(async () => {
    upstream = http.createServer((req, res) => {
      res.writeHead(200, { server: 'upstream/1.0', 'x-powered-by': 'express', 'cache-control': 'no-store', 'content-type': 'application/json' })
      res.end(JSON.stringify(req.headers))
    })
    new WebSocketServer({ server: upstream })
      .on('headers', (headers, req) => {
        upgradeHeaders = req.headers
        headers.push('Server: upstream/1.0')
      })
      .on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data.toString()}`)))
    port = await listenOnLoopback(upstream)
    gw = await startGateway(routesTo(port, CHANGES))
  })
  after(async () => {
    await gw.close()
    upstream.closeAllConnections()
    upstream.close()
  })

  const ask = (host: string) =>
    httpRequest({
      port: gw.ports.http!,
      host,
      headers: { cookie: 'session=1', 'x-debug': 'on', 'x-env': 'client', authorization: 'Bearer client', 'x-kept': 'yes' },
    })

  it('removes and sets request headers upstream, replacing the client values, beside the gateway own', async () => {
    const reply = await ask('changed.test')
    assert.equal(reply.status, 200)
    const seen = JSON.parse(reply.body) as http.IncomingHttpHeaders
    assert.equal(seen['x-env'], 'production')
    assert.equal(seen.authorization, 'Bearer gateway')
    assert.equal(seen.cookie, undefined)
    assert.equal(seen['x-debug'], undefined)
    assert.equal(seen['x-kept'], 'yes')
    assert.equal(seen.host, 'backend.internal:8080')
    assert.equal(seen['x-forwarded-for'], '127.0.0.1')
    assert.equal(seen['x-forwarded-host'], 'changed.test', 'the host the client asked for')
  })

  it('removes and sets response headers, replacing the upstream values', async () => {
    const reply = await ask('changed.test')
    assert.equal(reply.headers['strict-transport-security'], 'max-age=31536000')
    assert.equal(reply.headers['cache-control'], 'public')
    assert.equal(reply.headers.server, undefined)
    assert.equal(reply.headers['x-powered-by'], undefined)
    assert.equal(reply.headers['content-type'], 'application/json')
  })

  it('leaves the headers of a route without changes as they were sent', async () => {
    const reply = await ask('plain.test')
    const seen = JSON.parse(reply.body) as http.IncomingHttpHeaders
    assert.equal(seen.cookie, 'session=1')
    assert.equal(seen['x-env'], 'client')
    assert.equal(reply.headers.server, 'upstream/1.0')
    assert.equal(reply.headers['strict-transport-security'], undefined)
  })

  it('changes the upgrade request of a WebSocket and its 101', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/`, { headers: { host: 'changed.test', cookie: 'session=1' } })
    // ws emits 'open' in the same turn as 'upgrade'.
    const upgraded = once(ws, 'upgrade') as Promise<[http.IncomingMessage]>
    await once(ws, 'open')
    const [response] = await upgraded
    ws.send('hi')
    const [message] = (await once(ws, 'message')) as [Buffer]
    ws.close()
    assert.equal(message.toString(), 'echo hi')
    assert.equal(upgradeHeaders?.['x-env'], 'production')
    assert.equal(upgradeHeaders?.cookie, undefined)
    assert.equal(response.headers['strict-transport-security'], 'max-age=31536000')
    assert.equal(response.headers.server, undefined)
  })

  it('applies the changes of a reload to the next request', async () => {
    await writeFile(gw.configFile, routesTo(port, `
      request:
        set: { X-Env: staging }`))
    const result = await gw.gateway.reload()
    assert.deepEqual(result.errors, [])
    const reply = await ask('changed.test')
    const seen = JSON.parse(reply.body) as http.IncomingHttpHeaders
    assert.equal(seen['x-env'], 'staging')
    assert.equal(seen.host, 'changed.test', 'as the client sent it again')
    assert.equal(seen.cookie, 'session=1', 'no longer removed')
    assert.equal(reply.headers.server, 'upstream/1.0', 'no longer removed')
  })
})
