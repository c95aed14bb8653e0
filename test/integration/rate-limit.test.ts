/**
 * A route's rateLimit: each client address (or value of a header, with by: header) gets its burst,
 * then 429 with Retry-After on a connection that stays open, WebSocket upgrades included, with
 * nothing sent upstream; other addresses and routes are not touched; and a reload keeps the buckets of
 * a limit it leaves as it was.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import type net from 'node:net'
import { after, before, describe, it } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
import { httpRequest } from '../helpers/client.js'
import { seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/upstream.js'

describe('rateLimit', () => {
  let gw: TestGateway
  let upstream: http.Server
  let upstreamRequests = 0
  const config = (limit: string) => `
listen: { http: 127.0.0.1:0 }
routes:
  - { name: limited, host: limited.test, rateLimit: ${limit}, upstream: { url: 'http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}' } }
  - { name: ws, host: ws.test, rateLimit: { requests: 1, per: 1m }, upstream: { url: 'http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}' } }
  - { name: keyed, host: keyed.test, rateLimit: { requests: 1, per: 1m, by: header, header: X-API-Key }, upstream: { url: 'http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}' } }
  - { name: open, host: open.test, upstream: { url: 'http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}' } }
`

  before(async () => {
    upstream = http.createServer((_req, res) => {
      upstreamRequests++
      res.end('ok')
    })
    new WebSocketServer({ server: upstream })
    await listenOnLoopback(upstream)
    gw = await startGateway(config('{ requests: 2, per: 1m }'))
  })
  after(async () => {
    await gw.close()
    upstream.closeAllConnections()
    upstream.close()
  })

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  after(() => agent.destroy())
  const get = (host: string, localAddress?: string) =>
    new Promise<{ status: number; retryAfter: string | undefined; socket: net.Socket }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: gw.ports.http, headers: { host }, ...(localAddress ? { localAddress, agent: false } : { agent }) }, (res) => {
          res.resume().on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'], socket: res.socket }))
        })
        .on('error', reject)
    })

  it('answers 429 with Retry-After past the burst, on a connection that stays open, with nothing sent upstream', async () => {
    assert.deepEqual([(await get('limited.test')).status, (await get('limited.test')).status], [200, 200])
    const before = upstreamRequests
    const refused = await get('limited.test')
    assert.equal(refused.status, 429)
    assert.equal(refused.retryAfter, '30')
    assert.equal((await get('limited.test')).socket, refused.socket, 'the connection stays open after a 429')
    assert.equal(upstreamRequests, before)
    assert.equal(await seriesValue(gw, 'portcullis_rate_limited_requests_total{route="limited"}'), 2)
  })

  it('counts each address and each route apart', async () => {
    assert.equal((await get('limited.test', '127.0.0.2')).status, 200)
    assert.equal((await get('open.test')).status, 200)
  })

  it('with by: header, counts each value of the header apart, and a request without it by its address', async () => {
    const keyed = (key?: string) => httpRequest({ port: gw.ports.http!, host: 'keyed.test', headers: key ? { 'x-api-key': key } : {} })
    assert.equal((await keyed('key-a')).status, 200)
    const refused = await keyed('key-a')
    assert.deepEqual([refused.status, refused.body], [429, '429 Too Many Requests: this route takes no more requests from your x-api-key header for now; retry in 60 s\n'])
    assert.equal((await keyed('key-b')).status, 200, 'another key, from the same address')
    assert.equal((await keyed()).status, 200)
    assert.match((await keyed()).body, /from your address/)
  })

  it('refuses a WebSocket upgrade past the limit', async () => {
    const open = () => new WebSocket(`ws://127.0.0.1:${gw.ports.http}/`, { headers: { host: 'ws.test' } })
    const first = open()
    await once(first, 'open')
    first.close()
    const [, res] = (await once(open(), 'unexpected-response')) as [unknown, http.IncomingMessage]
    assert.equal(res.statusCode, 429)
  })

  it('keeps the buckets through a reload that leaves the limit as it was, and starts afresh under a new one', async () => {
    await writeFile(gw.configFile, `${config('{ requests: 2, per: 1m }')}# touched\n`)
    assert.equal((await gw.gateway.reload()).ok, true)
    assert.equal((await get('limited.test')).status, 429)
    await writeFile(gw.configFile, config('{ requests: 3, per: 1m }'))
    assert.equal((await gw.gateway.reload()).ok, true)
    assert.equal((await get('limited.test')).status, 200)
  })
})
