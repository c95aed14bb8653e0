/**
 * forwardedFor.trustedIPs: a request from a trusted proxy has for its client the address its
 * X-Forwarded-For names (from the right, over the trusted proxies' own), which allowedIPs, X-Real-IP
 * and the access log take, while the proxy is still appended to X-Forwarded-For; an address a client
 * writes into the header itself is never taken, and a peer that is not trusted is its own client.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
import { loggedAfter, startGateway, type TestGateway } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/upstream.js'

/** A loopback address the gateway does not trust: a client that connects from it is its own client. */
const UNTRUSTED = '127.0.0.3'

describe('forwardedFor', () => {
  let gw: TestGateway
  let upstream: http.Server

  before(async () => {
    // Answers with the client headers it got.
    upstream = http.createServer((req, res) => res.end(JSON.stringify({ xff: req.headers['x-forwarded-for'], realIp: req.headers['x-real-ip'] })))
    new WebSocketServer({ server: upstream })
    const to = `upstream: { url: 'http://127.0.0.1:${await listenOnLoopback(upstream)}' }`
    gw = await startGateway(`
listen: { http: 127.0.0.1:0 }
accessLog: true
forwardedFor: { trustedIPs: [127.0.0.1, 10.0.0.0/8] }
routes:
  - { name: office, host: office.test, allowedIPs: [203.0.113.0/24], ${to} }
  - { name: open, host: open.test, ${to} }
`)
  })
  after(async () => {
    await gw.close()
    upstream.closeAllConnections()
    upstream.close()
  })

  const get = (host: string, xff?: string, localAddress?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const headers = { host, ...(xff !== undefined && { 'x-forwarded-for': xff }) }
      http
        .get({ host: '127.0.0.1', port: gw.ports.http, headers, agent: false, ...(localAddress && { localAddress }) }, (res) => {
          let body = ''
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve({ status: res.statusCode!, body }))
        })
        .on('error', reject)
    })

  it("takes the client a trusted proxy's X-Forwarded-For names, and still appends the proxy", async () => {
    const since = gw.logs.length
    const reply = await get('office.test', '198.51.100.9, 203.0.113.5')
    assert.equal(reply.status, 200)
    assert.deepEqual(JSON.parse(reply.body), { xff: '198.51.100.9, 203.0.113.5, 127.0.0.1', realIp: '203.0.113.5' })
    const logged = await loggedAfter(gw, since, 'request', (line) => line.route === 'office')
    assert.equal(logged.client, '203.0.113.5')
  })

  it('steps over the trusted proxies, and never reaches what the client wrote itself', async () => {
    assert.equal((await get('office.test', '203.0.113.5, 10.1.2.3')).status, 200)
    assert.equal((await get('office.test', '203.0.113.5, 198.51.100.9')).status, 403)
    assert.equal((await get('office.test', '203.0.113.5, unknown')).status, 403, 'an entry that is no address ends the reading')
  })

  it('takes the peer for a request without the header, or from a peer it does not trust', async () => {
    assert.equal((await get('office.test')).status, 403)
    assert.equal(JSON.parse((await get('open.test')).body).realIp, '127.0.0.1')
    assert.equal((await get('office.test', '203.0.113.5', UNTRUSTED)).status, 403)
    assert.deepEqual(JSON.parse((await get('open.test', '203.0.113.5', UNTRUSTED)).body), { xff: `203.0.113.5, ${UNTRUSTED}`, realIp: UNTRUSTED })
  })

  it('applies to WebSocket upgrades too', async () => {
    const open = (xff: string) => new WebSocket(`ws://127.0.0.1:${gw.ports.http}/`, { headers: { host: 'office.test', 'x-forwarded-for': xff } })
    const allowed = open('203.0.113.5')
    await once(allowed, 'open')
    allowed.close()
    const [, res] = (await once(open('198.51.100.9'), 'unexpected-response')) as [unknown, http.IncomingMessage]
    assert.equal(res.statusCode, 403)
  })
})
