/**
 * routes[].forwardAuth: each request is first asked of an auth service (nginx's auth_request,
 * Traefik's forwardAuth). A 2xx lets it through, with the answer's responseHeaders in place of the
 * client's copies; any other answer is the client's; no answer is 502, or 504 past the timeout. The
 * service gets the request's headers and what the request is, never its body; WebSocket upgrades are
 * asked too.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { httpRequest } from '../helpers/client.js'
import { eventually, seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { listenOnLoopback, startHoldingUpstream, type HoldingUpstream } from '../helpers/upstream.js'
import { echoWebSockets } from '../helpers/websocket.js'

/** What the upstream got: its method, headers and body. */
interface Seen {
  readonly method: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

describe('a route with forwardAuth', () => {
  let auth: http.Server
  /** The requests the auth service got, with the bytes of body each had. */
  const asked: { headers: http.IncomingHttpHeaders; url: string; method: string; bodyBytes: number }[] = []
  let upstream: http.Server
  /** The auth service's answers to /held, given when the test calls them. */
  const heldAnswers: (() => void)[] = []
  /** An upstream that holds each request for /hold. */
  let holding: HoldingUpstream
  let gw: TestGateway

  before(async () => {
    auth = http.createServer((req, res) => {
      let bodyBytes = 0
      req.on('data', (chunk: Buffer) => (bodyBytes += chunk.length))
      req.on('end', () => {
        asked.push({ headers: req.headers, url: req.url!, method: req.method!, bodyBytes })
        if (req.url === '/slow') return
        if (req.url === '/held') return void heldAnswers.push(() => res.writeHead(200).end())
        const cookie = req.headers.cookie ?? ''
        if (cookie.includes('session=alice')) return void res.writeHead(200, { 'x-auth-user': 'alice', 'x-other': 'secret' }).end('ok')
        if (cookie.includes('session=anonymous')) return void res.writeHead(204).end()
        if (req.headers.authorization) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="app"', 'content-type': 'text/plain' }).end('wrong password')
        res.writeHead(302, { location: `https://login.test/?rd=${req.headers['x-forwarded-uri']}`, 'set-cookie': 'csrf=1' }).end('to the login page')
      })
    })
    upstream = echoWebSockets(
      http.createServer((req, res) => {
        let body = ''
        req.on('data', (chunk: Buffer) => (body += chunk.toString())).on('end', () => res.end(JSON.stringify({ method: req.method, headers: req.headers, body })))
      }),
    )
    const [authPort, upstreamPort] = [await listenOnLoopback(auth), await listenOnLoopback(upstream)]
    holding = await startHoldingUpstream('holding')
    const route = (host: string, forwardAuth: string) => `  - { host: ${host}, forwardAuth: ${forwardAuth}, upstream: { url: 'http://127.0.0.1:${upstreamPort}' } }\n`
    gw = await startGateway(
      'listen: { http: 127.0.0.1:0 }\nroutes:\n' +
        route('app.test', `{ url: 'http://127.0.0.1:${authPort}/check', responseHeaders: [X-Auth-User] }`) +
        route('slow.test', `{ url: 'http://127.0.0.1:${authPort}/slow', timeout: 300ms }`) +
        route('down.test', "{ url: 'http://127.0.0.1:1/check' }") +
        `  - { host: one-at-a-time.test, forwardAuth: { url: 'http://127.0.0.1:${authPort}/held' }, upstream: { url: '${holding.url}', maxRequests: 1 } }\n`,
    )
  })
  after(async () => {
    await gw?.close()
    holding?.close()
    for (const server of [auth, upstream]) {
      server?.closeAllConnections()
      server?.close()
    }
  })

  const send = (host: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    httpRequest({ port: gw.ports.http!, host, path, ...options })

  it("lets a request the service answers 2xx through, with the service's user in place of the client's", async () => {
    const reply = await send('app.test', '/orders?id=7', { headers: { cookie: 'session=alice', 'x-auth-user': 'mallory' } })
    assert.equal(reply.status, 200)
    const seen = JSON.parse(reply.body) as Seen
    assert.deepEqual([seen.headers['x-auth-user'], seen.headers['x-other']], ['alice', undefined], 'only responseHeaders, and not the client\'s')
    const question = asked.at(-1)!
    assert.deepEqual(
      [question.method, question.url, question.headers['x-forwarded-method'], question.headers['x-forwarded-uri'], question.headers['x-forwarded-host'], question.headers['x-forwarded-proto']],
      ['GET', '/check', 'GET', '/orders?id=7', 'app.test', 'http'],
    )
    assert.equal(question.headers.cookie, 'session=alice')
    assert.notEqual(question.headers.host, 'app.test', "the service's own Host")
    const anonymous = JSON.parse((await send('app.test', '/', { headers: { cookie: 'session=anonymous', 'x-auth-user': 'mallory' } })).body) as Seen
    assert.equal(anonymous.headers['x-auth-user'], undefined, "a client's copy goes even where the service names nobody")
    assert.equal(await seriesValue(gw, 'portcullis_forward_auth_total{route="app.test",result="allowed"}'), 2)
  })

  it('keeps the body of a request for its upstream: the service gets none', async () => {
    const reply = await send('app.test', '/orders', { method: 'POST', headers: { cookie: 'session=alice', 'content-type': 'text/plain' }, body: 'an order' })
    const seen = JSON.parse(reply.body) as Seen
    assert.deepEqual([seen.method, seen.body], ['POST', 'an order'])
    assert.deepEqual([asked.at(-1)!.method, asked.at(-1)!.bodyBytes, asked.at(-1)!.headers['x-forwarded-method'], asked.at(-1)!.headers['content-length']], ['GET', 0, 'POST', undefined])
  })

  it("answers a request the service refuses with the service's answer: its status, headers and body", async () => {
    const denied = () => seriesValue(gw, 'portcullis_forward_auth_total{route="app.test",result="denied"}')
    const deniedBefore = await denied()
    const login = await send('app.test', '/orders')
    assert.deepEqual(
      [login.status, login.headers.location, login.headers['set-cookie'], login.headers['content-length'], login.body],
      [302, 'https://login.test/?rd=/orders', ['csrf=1'], '17', 'to the login page'],
    )
    const wrong = await send('app.test', '/orders', { headers: { authorization: 'Basic bWFsbG9yeTp4' } })
    assert.deepEqual([wrong.status, wrong.headers['www-authenticate'], wrong.body], [401, 'Basic realm="app"', 'wrong password'])
    assert.equal(await denied(), deniedBefore + 2)
  })

  it('answers 502 where the service cannot be reached, and 504 where it does not answer in time', async () => {
    const since = gw.logs.length
    const down = await send('down.test', '/')
    assert.deepEqual([down.status, down.body], [502, "502 Bad Gateway: the route's auth service gave no answer\n"])
    assert.equal((await send('slow.test', '/')).status, 504)
    const logged = gw.logs.slice(since).filter((line) => line.msg === 'forwardAuth service failed')
    assert.deepEqual(logged.map((line) => [line.route, line.status]), [['down.test', 502], ['slow.test', 504]])
    for (const route of ['down.test', 'slow.test']) assert.equal(await seriesValue(gw, `portcullis_forward_auth_total{route="${route}",result="failed"}`), 1)
  })

  it("gives a request its url once the service lets it through, so that those it holds do not pass the url's maxRequests", async () => {
    const both = [send('one-at-a-time.test', '/hold'), send('one-at-a-time.test', '/hold')]
    await eventually(async () => heldAnswers.length === 2)
    heldAnswers.splice(0).forEach((answer) => answer())
    await eventually(async () => holding.held() === 1)
    holding.release()
    assert.deepEqual((await Promise.all(both)).map(({ status }) => status).sort(), [200, 503])
    assert.equal(holding.arrivals(), 1)
  })

  it('asks about a WebSocket upgrade too', async () => {
    const refused = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/ws`, { headers: { host: 'app.test' } })
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => refused.once('unexpected-response', (_req, res) => resolve(res)).once('open', () => reject(new Error('opened'))))
    assert.deepEqual([response.statusCode, response.headers.location], [302, 'https://login.test/?rd=/ws'])
    refused.on('error', () => {}).terminate()
    const allowed = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/ws`, { headers: { host: 'app.test', cookie: 'session=alice' } })
    await new Promise((resolve, reject) => allowed.once('open', resolve).once('error', reject))
    allowed.send('hi')
    assert.equal(String(await new Promise((resolve) => allowed.once('message', resolve))), 'echo hi')
    allowed.close()
  })
})

