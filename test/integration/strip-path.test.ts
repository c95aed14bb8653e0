/**
 * A route's stripPath: the upstream gets the path without the route's `path` (after the upstream url's
 * own), however the client spelt the prefix, WebSocket upgrades included; the access log keeps the path
 * the client asked for, and routes without it send the path as it came.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
import { httpRequest } from '../helpers/client.js'
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/upstream.js'

describe('stripPath', () => {
  let upstream: http.Server
  let gw: TestGateway
  /** The target of the last WebSocket upgrade request the upstream took. */
  let upgradeTarget: string | undefined

  before(async () => {
    upstream = http.createServer((req, res) => res.end(`${req.url}${req.headers['x-forwarded-prefix'] === undefined ? '' : ` prefix ${req.headers['x-forwarded-prefix']}`}`))
    new WebSocketServer({ server: upstream }).on('headers', (_headers, req) => (upgradeTarget = req.url))
    const port = await listenOnLoopback(upstream)
    gw = await startGateway(`
listen: { http: 127.0.0.1:0 }
accessLog: true
routes:
  - { name: stripped, host: s.test, path: /api, stripPath: true, upstream: { url: 'http://127.0.0.1:${port}' } }
  - { name: replaced, host: s.test, path: /v2/api, stripPath: true, upstream: { url: 'http://127.0.0.1:${port}/internal/v2/' } }
  - { name: kept, host: s.test, path: /keep, upstream: { url: 'http://127.0.0.1:${port}' } }
  - { name: named, host: s.test, path: /named, stripPath: true, headers: { request: { set: { X-Forwarded-Prefix: /public/named } } }, upstream: { url: 'http://127.0.0.1:${port}' } }
  - { name: unnamed, host: s.test, path: /unnamed, stripPath: true, headers: { request: { remove: [X-Forwarded-Prefix] } }, upstream: { url: 'http://127.0.0.1:${port}' } }
`)
  })
  after(async () => {
    await gw.close()
    upstream.closeAllConnections()
    upstream.close()
  })

  /** The target the upstream got, without the X-Forwarded-Prefix it says it got. */
  const upstreamTarget = async (path: string) => (await upstreamAnswer(path)).split(' prefix ')[0]
  const upstreamAnswer = async (path: string, headers: Record<string, string> = {}) => (await httpRequest({ port: gw.ports.http!, host: 's.test', path, headers })).body

  it('sends the rest of the path and the query, / where nothing is left', async () => {
    assert.equal(await upstreamTarget('/api/orders/7?x=1'), '/orders/7?x=1')
    assert.equal(await upstreamTarget('/api'), '/')
    assert.equal(await upstreamTarget('/api?x=1'), '/?x=1')
    assert.equal(await upstreamTarget('/api/'), '/')
  })

  it('cuts a prefix the client wrote with escapes, and keeps the escapes of the rest', async () => {
    assert.equal(await upstreamTarget('/%61pi/%6Frders'), '/%6Frders')
    assert.equal(await upstreamTarget('//api//orders'), '/orders', 'merged slashes')
  })

  it("puts the upstream url's path before the rest, as a prefix rewrite", async () => {
    assert.equal(await upstreamTarget('/v2/api/orders'), '/internal/v2/orders')
  })

  it('sends the path as it came on a route that does not strip', async () => {
    assert.equal(await upstreamTarget('/keep/a?b'), '/keep/a?b')
  })

  it("tells the upstream the path it stripped in X-Forwarded-Prefix, never a client's", async () => {
    assert.equal(await upstreamAnswer('/api/orders', { 'x-forwarded-prefix': '/evil' }), '/orders prefix /api')
    assert.equal(await upstreamAnswer('/v2/api/orders'), '/internal/v2/orders prefix /v2/api')
    assert.equal(await upstreamAnswer('/keep/a', { 'x-forwarded-prefix': '/evil' }), '/keep/a', 'none where the route strips nothing')
    assert.deepEqual([await upstreamAnswer('/named/a'), await upstreamAnswer('/unnamed/a')], ['/a prefix /public/named', '/a'], "the route's own headers stand")
  })

  it('strips the path of a WebSocket upgrade', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/api/live?since=5`, { headers: { host: 's.test' } })
    await once(ws, 'open')
    ws.close()
    assert.equal(upgradeTarget, '/live?since=5')
  })

  it('logs the path the client asked for', async () => {
    await upstreamTarget('/api/logged')
    await eventually(async () => gw.logs.some((line) => line.msg === 'request' && line.path === '/api/logged' && line.route === 'stripped'), 3000, 'the access log line')
  })
})
