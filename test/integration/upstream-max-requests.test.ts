/**
 * upstream.maxRequests: a url with as many requests in flight is passed over, sticky clients' too; a
 * request that finds every url of its route at the limit gets 503 at once, reaches no upstream, and is
 * counted in portcullis_overload_rejections_total{limit="upstream"}; routes to the same url share its
 * count, and an open WebSocket does not count; a reload applies a new limit to the requests
 * already in flight.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
import { httpRequest, type Reply } from '../helpers/client.js'
import { eventually, requestsCounted, seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { startHoldingUpstream, type HoldingUpstream } from '../helpers/upstream.js'

describe('upstream.maxRequests', () => {
  let one: HoldingUpstream
  let two: HoldingUpstream
  let three: HoldingUpstream
  let gw: TestGateway

  const config = (limit: number) => `
listen: { http: 127.0.0.1:0 }
routes:
  - { name: single, host: single.test, upstream: { url: '${one.url}', maxRequests: ${limit} } }
  - { name: shares, host: shares.test, upstream: { url: '${one.url}' } }
  - { name: pair, host: pair.test, upstream: { url: ['${two.url}', '${three.url}'], maxRequests: 1, stickyCookie: portcullis_url } }
`

  before(async () => {
    ;[one, two, three] = await Promise.all([startHoldingUpstream('one'), startHoldingUpstream('two'), startHoldingUpstream('three')])
    new WebSocketServer({ server: three.server })
    gw = await startGateway(config(1))
  })
  after(async () => {
    await gw.close()
    for (const upstream of [one, two, three]) upstream.close()
  })

  const get = (host: string, path = '/', headers: Record<string, string> = {}) => httpRequest({ port: gw.ports.http!, host, path, headers })
  /** A request the upstream holds, once it has arrived there: its reply to come. */
  const held = async (host: string, upstream: HoldingUpstream, headers: Record<string, string> = {}) => {
    const before = upstream.held()
    const reply = get(host, '/hold', headers)
    await eventually(async () => upstream.held() > before, 3000, 'the request held at the upstream')
    return { reply }
  }
  const rejected = (route: string) => seriesValue(gw, `portcullis_overload_rejections_total{limit="upstream",route="${route}"}`)
  /** The sticky cookie that names the upstream's url. */
  const cookieOf = (upstream: HoldingUpstream) => ({ cookie: `portcullis_url=${tokenOf(upstream.url)}` })
  const tokenOf = (url: string) => createHash('sha256').update(url).digest('hex').slice(0, 16)

  it('answers 503 at once, reaching no upstream, while its one url has maxRequests in flight, on a connection kept open', async () => {
    assert.equal(await rejected('single'), 0, 'the series is there from the load')
    const since = gw.logs.length
    const { reply: first } = await held('single.test', one)
    const arrived = one.arrivals()
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const onOneConnection = () =>
      new Promise<Reply & { reused: boolean }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: gw.ports.http!, headers: { host: 'single.test' }, agent }, (res) => {
          let body = ''
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, reused: req.reusedSocket }))
        })
        req.on('error', reject)
      })
    const refused = await onOneConnection()
    assert.equal(refused.status, 503)
    assert.equal(refused.body, "503 Service Unavailable: the route's upstream is at its limit of requests in flight\n")
    assert.equal(refused.headers['retry-after'], undefined)
    assert.equal(one.arrivals(), arrived, 'the upstream never saw it')
    assert.equal(await rejected('single'), 1)
    assert.equal(await requestsCounted(gw, 'route="single",method="GET"', 503), 1)
    const warning = gw.logs.slice(since).find((line) => line.code === 'PCL_ERR_OVERLOADED')
    assert.deepEqual([warning?.limit, warning?.max, warning?.route], ['upstream', 1, 'single'])

    one.release()
    assert.equal((await first).body, 'one held')
    const next = await onOneConnection()
    assert.deepEqual([next.status, next.body, next.reused], [200, 'one', true], 'served once the first is over, on the same connection')
    agent.destroy()
  })

  it("counts the requests of other routes to the same url, which share its pool", async () => {
    const { reply: other } = await held('shares.test', one)
    assert.equal((await get('single.test')).status, 503)
    assert.equal((await get('shares.test')).status, 200, 'a route without the limit is not held to it')
    one.release()
    await other
    assert.equal((await get('single.test')).status, 200)
  })

  it('passes over a url at the limit, the one a sticky cookie names too, and answers 503 once every url is', async () => {
    const { reply: onTwo } = await held('pair.test', two)
    const sticky = await get('pair.test', '/', cookieOf(two))
    assert.equal(sticky.body, 'three', 'the sticky url is full: the other')
    assert.match(String(sticky.headers['set-cookie']), new RegExp(`^portcullis_url=${tokenOf(three.url)};`), 'and the client moves with it')
    const { reply: onThree } = await held('pair.test', three)
    const arrived = two.arrivals() + three.arrivals()
    assert.equal((await get('pair.test')).status, 503)
    assert.equal(two.arrivals() + three.arrivals(), arrived)
    assert.equal(await rejected('pair'), 1)
    two.release()
    assert.equal((await get('pair.test')).body, 'two', 'the url with room again')
    three.release()
    assert.deepEqual([(await onTwo).body, (await onThree).body], ['two held', 'three held'])
  })

  it('does not count an open WebSocket at its url', async () => {
    const { reply: onTwo } = await held('pair.test', two, cookieOf(two))
    const socket = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/`, { headers: { host: 'pair.test', ...cookieOf(three) } })
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))
    assert.equal((await get('pair.test', '/', cookieOf(three))).body, 'three', 'the open WebSocket takes no place at its url')
    socket.close()
    two.release()
    await onTwo
  })

  it('applies a limit a reload raises to the requests already in flight', async () => {
    const { reply: first } = await held('single.test', one)
    assert.equal((await get('single.test')).status, 503)
    await writeFile(gw.configFile, config(2))
    assert.equal((await gw.gateway.reload()).ok, true)
    const { reply: second } = await held('single.test', one)
    assert.equal((await get('single.test')).status, 503, 'two in flight now: the new limit, the first counted')
    one.release()
    assert.deepEqual([(await first).body, (await second).body], ['one held', 'one held'])
  })
})
