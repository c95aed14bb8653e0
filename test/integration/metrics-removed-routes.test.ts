/**
 * The series of a route that a reload removed: gone from /metrics, every metric of it, while the routes
 * that stay keep their counts and `(none)` keeps its own; a route that comes back starts from 0; a
 * reload that fails removes nothing.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import { httpRequest, httpsRequest } from '../helpers/client.js'
import { eventually, metricNames, routeCounts, routeSeries, seriesIn, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback, startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js'

describe('metrics of a route that a reload removed', () => {
  let pki: TestPki
  let upstreamA: EchoUpstream
  let upstreamB: EchoUpstream
  let gw: TestGateway
  let withB: string
  let withoutB: string

  before(async () => {
    pki = await makeTestPki()
    // Two upstreams, so that B has a pool (and upstream handshakes) of its own.
    upstreamA = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    upstreamB = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    const tls = `{ cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }`
    const upstream = (port: number) => `{ url: 'https://127.0.0.1:${port}', ca: ${pki.caS.certFile}, serverName: up.test }`
    withoutB = `
listen: { https: 127.0.0.1:0, http: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
  - { name: a, host: a.test, tls: ${tls}, upstream: ${upstream(upstreamA.port)} }
`
    // B is named by its host, as routes without a name are, and two routes of it share that name.
    withB = `${withoutB}  - { host: b.test, tls: ${tls}, upstream: ${upstream(upstreamB.port)} }
  - { host: b.test, path: /down, tls: ${tls}, upstream: { url: 'http://127.0.0.1:1' } }
`
    // Reloads back to back, not a second apart.
    gw = await startGateway(withB, { reloadIntervalMs: 0 })
  })
  after(async () => {
    await gw?.close()
    await Promise.all([upstreamA?.close(), upstreamB?.close()])
    await pki?.cleanup()
  })

  const scrape = async () => (await httpRequest({ port: gw.ports.admin!, path: '/metrics' })).body
  const reload = async (config: string) => {
    await writeFile(gw.configFile, config)
    return httpRequest({ port: gw.ports.admin!, method: 'POST', path: '/reload' })
  }
  const get = (host: string, path = '/') => httpsRequest({ port: gw.ports.https!, servername: host, ca: pki.caS.cert, path })

  // catalogue RR-09, MT-04
  it('drops every series of the removed route, and keeps those of the others', async () => {
    for (const host of ['a.test', 'b.test']) assert.equal((await get(host)).status, 200)
    assert.equal((await get('b.test', '/down')).status, 502)
    assert.equal((await httpRequest({ port: gw.ports.http!, host: 'nowhere.test' })).status, 404)
    const before = await scrape()
    const namesOfB = metricNames(routeSeries(before, 'b.test'))
    for (const name of [
      'portcullis_requests_total',
      'portcullis_request_duration_seconds_count',
      'portcullis_tls_handshakes_total',
      'portcullis_tls_handshake_duration_seconds_count',
      'portcullis_upstream_errors_total',
      'portcullis_upstream_connections',
      'portcullis_certificate_expiry_timestamp_seconds',
      'portcullis_overload_rejections_total',
    ]) {
      assert.ok(namesOfB.has(name), `${name} of b.test in\n${before}`)
    }
    const noRoute = 'portcullis_requests_total{route="(none)",method="GET",code="404"}'
    assert.equal(seriesIn(before, noRoute), 1)

    assert.equal((await reload(withoutB)).status, 200)
    const afterRemoval = await scrape()
    assert.deepEqual(routeSeries(afterRemoval, 'b.test'), [], afterRemoval)
    assert.deepEqual(routeCounts(afterRemoval, 'a'), routeCounts(before, 'a'))
    assert.equal(seriesIn(afterRemoval, noRoute), 1, 'requests no route matched are no route of the config')
  })

  it('removes nothing on a reload that fails', async () => {
    assert.equal((await reload(withB)).status, 200)
    assert.equal((await get('b.test')).status, 200)
    const before = await scrape()
    assert.notDeepEqual(routeSeries(before, 'b.test'), [])
    // Refused as it is built, the step that swaps it in: a key that is not the certificate's.
    const mismatch = `  - { host: c.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.cliA.keyFile} }, upstream: { url: 'http://127.0.0.1:1' } }\n`
    const refused = await reload(withoutB + mismatch)
    assert.equal(refused.status, 422)
    assert.match(refused.body, /is not the private key of/)
    const after = await scrape()
    assert.deepEqual(routeSeries(after, 'b.test'), routeSeries(before, 'b.test'))
    assert.deepEqual(routeCounts(after, 'a'), routeCounts(before, 'a'))
  })

  it('shows nothing of a removed route that its requests in flight at the reload record after it', async () => {
    let release = () => {}
    const held = http.createServer((_req, res) => (release = () => res.end('late')))
    const heldPort = await listenOnLoopback(held)
    try {
      const withHeld = `${withoutB}  - { name: held, host: held.test, upstream: { url: 'http://127.0.0.1:${heldPort}' } }\n`
      assert.equal((await reload(withHeld)).status, 200)
      const inFlight = httpRequest({ port: gw.ports.http!, host: 'held.test' })
      await eventually(async () => routeSeries(await scrape(), 'held').some((line) => line.startsWith('portcullis_upstream_connections{route="held",state="active"} 1')))
      assert.equal((await reload(withoutB)).status, 200)
      release()
      assert.equal((await inFlight).status, 200, 'the request in flight is answered')
      // Its pool, retired, closes once that request has ended; nothing of the route is left then.
      await eventually(async () => routeSeries(await scrape(), 'held').length === 0, 5000, 'the series of the removed route gone')
      assert.deepEqual(routeSeries(await scrape(), 'held'), [])
    } finally {
      held.closeAllConnections()
      held.close()
    }
  })

  it('counts a route that comes back from 0', async () => {
    assert.equal((await reload(withoutB)).status, 200)
    assert.equal((await reload(withB)).status, 200)
    // Until it serves a request, its gauges alone: its certificate's expiry, its url (up, and its
    // weight), and its new pool, empty; and its requests refused by limits.requests, none yet.
    const gauges = routeSeries(await scrape(), 'b.test')
    const fromZero = ['portcullis_upstream_connections', 'portcullis_upstream_pending_requests', 'portcullis_overload_rejections_total']
    const url = ['portcullis_upstream_url_up', 'portcullis_upstream_url_weight']
    assert.deepEqual(metricNames(gauges), new Set(['portcullis_certificate_expiry_timestamp_seconds', ...url, ...fromZero]))
    for (const name of url) assert.match(gauges.find((line) => line.startsWith(`${name}{`))!, / 1$/)
    const zeroValues = gauges.filter((line) => fromZero.some((name) => line.startsWith(`${name}{`))).map((line) => line.split(' ')[1])
    assert.deepEqual(zeroValues, ['0', '0', '0', '0'])
    assert.equal((await get('b.test')).status, 200)
    const text = await scrape()
    assert.equal(seriesIn(text, 'portcullis_requests_total{route="b.test",method="GET",code="200"}'), 1)
    assert.equal(seriesIn(text, 'portcullis_tls_handshakes_total{side="ingress",route="b.test",result="ok",reason="none"}'), 1)
    assert.equal(seriesIn(text, 'portcullis_upstream_errors_total{route="b.test",reason="connection_refused",stage="before_response"}'), undefined)
  })
})
