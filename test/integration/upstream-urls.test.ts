/**
 * An upstream of several urls: requests take them in turn (by their weights); a url that cannot be reached (refused, a TLS
 * handshake that fails) rests while what could not reach it goes to the next url, bodies and WebSocket
 * upgrades included, and passthrough connections too; only when no url can be reached does the client
 * get 502.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
import { httpRequest } from '../helpers/client.js'
import { eventually, loggedAfter, seriesIn, seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type CertFiles, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback, startEchoUpstream, startHoldingUpstream, type EchoReply, type EchoUpstream, type HoldingUpstream } from '../helpers/upstream.js'

/** Nothing listens on port 1 (tcpmux) of the loopback: connecting is refused. */
const REFUSED = 'http://127.0.0.1:1'

describe('an upstream of several urls', () => {
  let pki: TestPki
  let named: EchoUpstream
  let numbered: EchoUpstream
  let wrongName: EchoUpstream
  /** Plain upstreams that answer with their own name and the body they got. */
  const plain: { server: http.Server; port: number }[] = []
  /** Their urls. */
  let one: string
  let two: string
  /** A plain upstream that holds each request for /hold until the test lets it go, and answers others at once. */
  let holding: HoldingUpstream
  /** Plain upstreams that answer every request 503, and how many they got. */
  const busy: http.Server[] = []
  let busyArrivals = 0
  let gw: TestGateway

  before(async () => {
    pki = await makeTestPki()
    const start = ({ cert, key }: CertFiles) => startEchoUpstream({ cert, key })
    ;[named, numbered, wrongName] = await Promise.all([start(pki.up), start(pki.up), start(pki.upWrongName)])
    for (const name of ['one', 'two']) {
      const server = http.createServer((req, res) => {
        const chunks: Buffer[] = []
        req.on('data', (chunk: Buffer) => chunks.push(chunk)).on('end', () => res.end(`${name} ${Buffer.concat(chunks).toString()}`.trim()))
      })
      new WebSocketServer({ server })
      plain.push({ server, port: await listenOnLoopback(server) })
    }
    ;[one, two] = plain.map(({ port }) => `http://127.0.0.1:${port}`) as [string, string]
    holding = await startHoldingUpstream('holding')
    const busyUrls = []
    for (let i = 0; i < 2; i++) {
      const server = http.createServer((_req, res) => {
        busyArrivals++
        res.writeHead(503, { 'content-type': 'text/plain' }).end('busy')
      })
      busy.push(server)
      busyUrls.push(`http://127.0.0.1:${await listenOnLoopback(server)}`)
    }
    const [busyUrl, busyUrl2] = busyUrls
    const ca = `ca: ${pki.caS.certFile}`
    gw = await startGateway(`
listen: { https: 127.0.0.1:0, http: 127.0.0.1:0 }
accessLog: true
forwardedFor: { trustedIPs: [127.0.0.1] }
routes:
  - { name: turns, host: turns.test, upstream: { url: ['${one}', '${two}'] } }
  - { name: failover, host: failover.test, upstream: { url: ['${REFUSED}', '${one}'] } }
  - { name: chunked-failover, host: chunked-failover.test, upstream: { url: ['${REFUSED}', '${one}'] } }
  - { name: ws-failover, host: ws-failover.test, upstream: { url: ['${REFUSED}', '${one}'] } }
  - { name: weighted, host: weighted.test, upstream: { url: ['${one}', '${two}'], weights: [3, 1] } }
  - { name: cookie, host: cookie.test, upstream: { url: ['${one}', '${two}'], stickyCookie: portcullis_url } }
  - { name: drained, host: drained.test, upstream: { url: ['${one}', '${two}'], weights: [1, 0], stickyCookie: portcullis_url } }
  - { name: cookie-failover, host: cookie-failover.test, upstream: { url: ['${REFUSED}', '${one}'], stickyCookie: portcullis_url } }
  - { name: sticky, host: sticky.test, upstream: { url: ['${one}', '${two}'], balance: clientIPHash } }
  - { name: tenants, host: tenants.test, upstream: { url: ['${one}', '${two}'], balance: headerHash, hashHeader: X-Tenant } }
  - { name: least, host: least.test, upstream: { url: ['${holding.url}', '${one}'], balance: leastRequests } }
  - { name: retry, host: retry.test, upstream: { url: ['${busyUrl}', '${one}'], retryOn: [502, 503] } }
  - { name: retry-post, host: retry-post.test, upstream: { url: ['${busyUrl}', '${one}'], retryOn: [503] } }
  - { name: retry-all-busy, host: retry-all-busy.test, upstream: { url: ['${busyUrl}', '${busyUrl2}'], retryOn: [503] } }
  - { name: none, host: none.test, upstream: { url: ['${REFUSED}', 'http://127.0.0.2:1'] } }
  - { name: names, host: names.test, upstream: { url: ['https://localhost:${named.port}', 'https://127.0.0.1:${numbered.port}'], ${ca} } }
  - { name: bad-tls, host: bad-tls.test, upstream: { url: ['https://127.0.0.1:${wrongName.port}', 'https://127.0.0.1:${named.port}'], ${ca}, serverName: up.test } }
  - { name: pass, host: pass.test, tls: passthrough, upstream: { url: ['tcp://127.0.0.1:1', 'tcp://127.0.0.1:${named.port}'] } }
`)
  })
  after(async () => {
    await gw.close()
    for (const upstream of [named, numbered, wrongName]) await upstream.close()
    for (const { server } of plain) {
      server.closeAllConnections()
      server.close()
    }
    holding.close()
    for (const server of busy) {
      server.closeAllConnections()
      server.close()
    }
    await pki.cleanup()
  })

  const get = (host: string, options: { method?: string; body?: string } = {}) => httpRequest({ port: gw.ports.http!, host, path: '/', ...options })

  it('sends requests to each url in turn', async () => {
    const answers = []
    for (let i = 0; i < 6; i++) answers.push((await get('turns.test')).body)
    assert.deepEqual([...answers].sort(), ['one', 'one', 'one', 'two', 'two', 'two'])
    assert.notEqual(answers[0], answers[1])
  })

  it('with weights, gives each url its share of the requests, spread out', async () => {
    const answers = []
    for (let i = 0; i < 8; i++) answers.push((await get('weighted.test')).body)
    assert.deepEqual(answers, ['one', 'one', 'two', 'one', 'one', 'one', 'two', 'one'])
    const weight = (route: string, url: string) => seriesValue(gw, `portcullis_upstream_url_weight{route="${route}",url="${url}"}`)
    assert.deepEqual(
      [await weight('weighted', one), await weight('weighted', two), await weight('drained', two), await weight('turns', one)],
      [3, 1, 0, 1],
      'each url weighs what it is given now, a drained one 0',
    )
  })

  it('with stickyCookie, names the url in a cookie, and sends each request that carries it there', async () => {
    const withCookie = (host: string, cookie?: string) => httpRequest({ port: gw.ports.http!, host, path: '/', headers: cookie ? { cookie } : {} })
    const first = await withCookie('cookie.test')
    const [cookie] = first.headers['set-cookie'] ?? []
    assert.match(String(cookie), /^portcullis_url=[0-9a-f]{16}; Path=\/; HttpOnly; SameSite=Lax$/)
    const named = String(cookie).split(';')[0]!
    for (let i = 0; i < 4; i++) {
      const again = await withCookie('cookie.test', `theme=dark; ${named}`)
      assert.deepEqual([again.body, again.headers['set-cookie']], [first.body, undefined], 'the same url, and no new cookie')
    }
    const unknown = await withCookie('cookie.test', 'portcullis_url=0123456789abcdef')
    assert.match(String(unknown.headers['set-cookie']), /^portcullis_url=[0-9a-f]{16};/, 'a value naming no url is balanced, and given a cookie')
    // The cookie of a url that cannot be reached: the request goes to the next, and the client to it.
    const refusedToken = createHash('sha256').update(REFUSED).digest('hex').slice(0, 16)
    const moved = await withCookie('cookie-failover.test', `portcullis_url=${refusedToken}`)
    assert.equal(moved.body, 'one')
    assert.match(String(moved.headers['set-cookie']), /^portcullis_url=[0-9a-f]{16};/)
    assert.notEqual(String(moved.headers['set-cookie']).split(';')[0], `portcullis_url=${refusedToken}`)
  })

  it('with a weight of 0, sends no new client to its url, and still the clients its sticky cookie keeps there', async () => {
    const answers = []
    for (let i = 0; i < 4; i++) answers.push((await get('drained.test')).body)
    assert.deepEqual(answers, ['one', 'one', 'one', 'one'])
    const twoToken = createHash('sha256').update(two).digest('hex').slice(0, 16)
    const kept = await httpRequest({ port: gw.ports.http!, host: 'drained.test', path: '/', headers: { cookie: `portcullis_url=${twoToken}` } })
    assert.deepEqual([kept.body, kept.headers['set-cookie']], ['two', undefined])
  })

  it('with balance: leastRequests, sends requests to the url with the fewest in flight', async () => {
    const heldRequest = httpRequest({ port: gw.ports.http!, host: 'least.test', path: '/hold' })
    await eventually(async () => (await seriesValue(gw, 'portcullis_upstream_connections{route="least",state="active"}')) === 1)
    const answers = []
    for (let i = 0; i < 4; i++) answers.push((await get('least.test')).body)
    assert.deepEqual(answers, ['one', 'one', 'one', 'one'], 'not to the url that holds a request')
    holding.release()
    assert.equal((await heldRequest).body, 'holding held')
    const even = []
    for (let i = 0; i < 4; i++) even.push((await get('least.test')).body)
    assert.deepEqual(even.sort(), ['holding', 'holding', 'one', 'one'], 'in turn when the loads are even')
  })

  it('with balance: clientIPHash, sends each client address to one url', async () => {
    const from = async (client: string) => (await httpRequest({ port: gw.ports.http!, host: 'sticky.test', headers: { 'x-forwarded-for': client } })).body
    const urlOf = new Map<string, string>()
    for (let i = 0; i < 16; i++) urlOf.set(`198.51.100.${i}`, await from(`198.51.100.${i}`))
    for (const [client, url] of urlOf) for (let i = 0; i < 2; i++) assert.equal(await from(client), url)
    assert.deepEqual(new Set(urlOf.values()), new Set(['one', 'two']), 'the clients spread over the urls')
  })

  it('with balance: headerHash, sends each value of the header to one url, and a request without it in turn', async () => {
    const of = async (tenant?: string) => (await httpRequest({ port: gw.ports.http!, host: 'tenants.test', headers: tenant ? { 'x-tenant': tenant } : {} })).body
    const urlOf = new Map<string, string>()
    for (let i = 0; i < 16; i++) urlOf.set(`tenant-${i}`, await of(`tenant-${i}`))
    for (const [tenant, url] of urlOf) for (let i = 0; i < 2; i++) assert.equal(await of(tenant), url)
    assert.deepEqual(new Set(urlOf.values()), new Set(['one', 'two']), 'the tenants spread over the urls')
    const unnamed = [await of(), await of()]
    assert.deepEqual(unnamed.sort(), ['one', 'two'])
  })

  it('with retryOn, sends a request the url answered 503 to the next, which then takes the turns, and passes on the answer of a request with a body', async () => {
    const retries = await seriesValue(gw, 'portcullis_upstream_retries_total{route="retry"}')
    const arrivals = busyArrivals
    assert.deepEqual([await get('retry.test'), await get('retry.test')].map(({ status, body }) => [status, body]), [[200, 'one'], [200, 'one']])
    assert.equal(busyArrivals - arrivals, 1, 'the url that answered 503 rests')
    assert.equal(await seriesValue(gw, 'portcullis_upstream_retries_total{route="retry"}'), retries + 1)
    const logged = gw.logs.find((line) => line.msg === 'upstream url answered a status of upstream.retryOn; the request goes to the next url')
    assert.deepEqual([logged?.route, logged?.status], ['retry', 503])
    const all = await get('retry-all-busy.test')
    assert.deepEqual([all.status, all.body, busyArrivals - arrivals], [503, 'busy', 3], "each url once, the last one's answer the client's")
    const posted = await get('retry-all-busy.test', { method: 'POST', body: 'order' })
    assert.deepEqual([posted.status, busyArrivals - arrivals], [503, 4], 'a request with a body is not sent twice')
    const order = await get('retry-post.test', { method: 'POST', body: 'order' })
    const after = [(await get('retry-post.test')).body, (await get('retry-post.test')).body]
    assert.deepEqual([order.status, order.body, ...after, busyArrivals - arrivals], [503, 'busy', 'one', 'one', 5], 'but its answer rests the url')
  })

  it('sends what could not reach a url to the next, with its body, and leaves the url out for a while', async () => {
    const since = gw.logs.length
    const retriesBefore = await seriesValue(gw, 'portcullis_upstream_retries_total{route="failover"}')
    const first = await get('failover.test', { method: 'POST', body: 'the body' })
    assert.equal(first.status, 200)
    assert.equal(first.body, 'one the body')
    const logged = await loggedAfter(gw, since, 'upstream url unreachable; the request goes to the next url')
    assert.equal(logged.upstream, REFUSED)
    assert.equal(logged.reason, 'connection_refused')
    for (let i = 0; i < 5; i++) assert.equal((await get('failover.test')).body, 'one')
    // The refused url rests: the requests after the first went straight to the other.
    assert.equal((await seriesValue(gw, 'portcullis_upstream_retries_total{route="failover"}')) - retriesBefore, 1)
    const scrape = await gw.gateway.metrics.registry.metrics()
    const up = (url: string) => seriesIn(scrape, `portcullis_upstream_url_up{route="failover",url="${url}"}`)
    assert.deepEqual([up(REFUSED), up(one)], [0, 1])
  })

  it('logs the url each request went to', async () => {
    const since = gw.logs.length
    await get('failover.test', { method: 'POST', body: 'x' })
    const logged = await loggedAfter(gw, since, 'request', (line) => line.route === 'failover')
    assert.equal(logged.upstream, one)
    await get('no-route.test')
    const refused = await loggedAfter(gw, since, 'request', (line) => line.status === 404)
    assert.equal(refused.upstream, undefined, 'a request that reached no upstream')
  })

  it('sends a chunked body to the next url too', async () => {
    const reply = await httpRequest({ port: gw.ports.http!, host: 'chunked-failover.test', method: 'PUT', headers: { 'transfer-encoding': 'chunked' }, body: 'in chunks' })
    assert.equal(reply.body, 'one in chunks')
    assert.equal(await seriesValue(gw, 'portcullis_upstream_retries_total{route="chunked-failover"}'), 1)
  })

  it('answers 502 when no url can be reached, naming the last one tried', async () => {
    const since = gw.logs.length
    assert.equal((await get('none.test')).status, 502)
    const logged = await loggedAfter(gw, since, 'upstream request failed', (line) => line.route === 'none')
    assert.match(String(logged.upstream), /^http:\/\/127\.0\.0\.[12]:1$/)
    // Both urls rest now, and are tried all the same: still 502, not a refusal of the gateway's own.
    assert.equal((await get('none.test')).status, 502)
  })

  it("gives each url of an https upstream its own host as SNI, and none to an IP address's", async () => {
    const servernames = new Set<string | null>()
    for (let i = 0; i < 4; i++) servernames.add((JSON.parse((await get('names.test')).body) as EchoReply).servername)
    assert.deepEqual([...servernames].sort(), ['localhost', null])
  })

  it('takes a failed TLS handshake for a url that cannot be reached', async () => {
    for (let i = 0; i < 4; i++) {
      const reply = await get('bad-tls.test')
      assert.equal(reply.status, 200)
      assert.equal((JSON.parse(reply.body) as EchoReply).servername, 'up.test')
    }
    assert.equal(wrongName.requests.length, 0)
  })

  it('sends a WebSocket upgrade to the next url too', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/live`, { headers: { host: 'ws-failover.test' } })
    await once(ws, 'open')
    ws.close()
    assert.equal(await seriesValue(gw, 'portcullis_upstream_retries_total{route="ws-failover"}'), 1)
  })

  it('sends a passthrough connection to the next url', async () => {
    const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'pass.test', ca: pki.caS.cert, checkServerIdentity: () => undefined })
    await once(socket, 'secureConnect')
    // The certificate of the url that took it: no TLS ends at the gateway.
    assert.equal(socket.getPeerCertificate().subject.CN, 'up.test')
    socket.destroy()
    assert.equal(await seriesValue(gw, 'portcullis_passthrough_connections_total{route="pass",result="error",reason="connection_refused"}'), 1)
    assert.equal(await seriesValue(gw, 'portcullis_passthrough_connections_total{route="pass",result="ok",reason="none"}'), 1)
  })
})
