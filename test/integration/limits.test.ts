/**
 * routes.yaml `limits` (test catalogue LA-07): beyond `connections` a new connection is closed before
 * any TLS work, beyond `requests` a request gets 503 without reaching the upstream; both are counted,
 * what was admitted is served on, the admin listener is not limited, and a reload moves the limits.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import type { IncomingHttpHeaders } from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { after, afterEach, before, describe, it } from 'node:test'
import tls from 'node:tls'
import WebSocket from 'ws'
import { httpRequest, httpsRequest } from '../helpers/client.js'
import { eventually, requestsCounted, seriesIn, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { echoWebSockets } from '../helpers/websocket.js'

describe('overload limits', { timeout: 10_000 }, () => {
  let pki: TestPki
  /** A mutual TLS upstream: /slow answers once released, anything else at once; WebSockets echo. */
  let upstream: https.Server
  let arrivals = 0
  let held: (() => void)[] = []
  let gw: TestGateway | undefined

  before(async () => {
    pki = await makeTestPki()
    upstream = https.createServer({ cert: pki.up.cert, key: pki.up.key, ca: pki.caA.cert, requestCert: true }, (req, res) => {
      arrivals++
      if (req.url === '/slow') held.push(() => res.end('slow\n'))
      else res.end('fast\n')
    })
    echoWebSockets(upstream)
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
  })
  after(async () => {
    upstream.closeAllConnections()
    upstream.close()
    await pki.cleanup()
  })
  afterEach(async () => {
    for (const release of held) release()
    held = []
    await gw?.close()
  })

  const config = (limits: string) => `
listen: { https: 127.0.0.1:0, admin: 127.0.0.1:0 }
limits: ${limits}
routes:
  - name: limited
    host: a.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }
    upstream:
      url: https://127.0.0.1:${(upstream.address() as AddressInfo).port}
      ca: ${pki.caS.certFile}
      cert: ${pki.cliA.certFile}
      key: ${pki.cliA.keyFile}
      serverName: up.test
`

  /** A keep-alive client of one connection, so that a test can tell whether its connection survived. */
  const keepAliveClient = () => new https.Agent({ keepAlive: true, maxSockets: 1 })
  const get = (agent: https.Agent | false, path = '/') =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: string; reusedSocket: boolean }>((resolve, reject) => {
      const req = https.get(
        { host: '127.0.0.1', port: gw!.ports.https!, servername: 'a.test', ca: pki.caS.cert, agent, path, headers: { host: 'a.test' } },
        (res) => {
          let body = ''
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, reusedSocket: req.reusedSocket }))
        },
      )
      req.on('error', reject)
    })
  /** A request the upstream holds until releaseHeld(), once it has arrived there; its reply to come. */
  const slowRequestArrived = async () => {
    const before = held.length
    const reply = get(false, '/slow')
    await eventually(async () => held.length > before, 3000, 'the slow request at the upstream')
    return { reply }
  }
  // ws passes TLS options on to https.request; its types leave servername out.
  const openWebSocket = () =>
    new WebSocket(`wss://127.0.0.1:${gw!.ports.https}/`, { servername: 'a.test', ca: pki.caS.cert, headers: { host: 'a.test' } } as WebSocket.ClientOptions)
  const releaseHeld = () => held.splice(0).forEach((release) => release())
  const scrape = async () => (await httpRequest({ port: gw!.ports.admin!, path: '/metrics' })).body
  /** The requests limits.requests turned away, counted under their route. */
  const rejectedRequests = async () => Number(/^portcullis_overload_rejections_total\{limit="requests",route="limited"\} (\d+)$/m.exec(await scrape())?.[1])
  const overloadWarnings = () => gw!.logs.filter((line) => line.code === 'PCL_ERR_OVERLOADED')

  // catalogue LA-07
  it('closes a connection beyond limits.connections before any handshake, counts it, and serves the two admitted', async () => {
    gw = await startGateway(config('{ connections: 2 }'))
    const clients = [keepAliveClient(), keepAliveClient()]
    for (const client of clients) assert.equal((await get(client)).status, 200)

    for (let i = 0; i < 3; i++) {
      const third = tls.connect({ host: '127.0.0.1', port: gw.ports.https!, servername: 'a.test', ca: pki.caS.cert })
      // Node calls the close an ECONNRESET, before secure TLS connection was established.
      const outcome = await new Promise((resolve) => {
        third.once('secureConnect', () => resolve('handshake'))
        third.on('error', () => {}).once('close', () => resolve('closed'))
      })
      third.destroy()
      assert.equal(outcome, 'closed', 'closed before a TLS handshake')
    }

    for (const client of clients) {
      const reply = await get(client)
      assert.deepEqual([reply.status, reply.reusedSocket], [200, true], 'still served on its own connection')
      client.destroy()
    }
    const text = await scrape()
    assert.match(text, /^portcullis_overload_rejections_total\{limit="connections"\} 3$/m, 'the admin listener answers, and counted them')
    assert.doesNotMatch(text, /^portcullis_tls_handshakes_total\{side="ingress",route="\(none\)"/m, 'not a handshake failure')
    assert.equal(overloadWarnings().length, 1, 'one warning for the three')
    assert.deepEqual([overloadWarnings()[0]!.limit, overloadWarnings()[0]!.max], ['connections', 2])
  })

  // catalogue LA-07
  it('answers 503 beyond limits.requests without contacting the upstream, on a connection that stays open', async () => {
    gw = await startGateway(config('{ requests: 1 }'))
    const { reply: first } = await slowRequestArrived()
    const arrived = arrivals
    const client = keepAliveClient()
    const refused = await get(client)
    assert.equal(refused.status, 503)
    assert.equal(refused.headers['retry-after'], undefined)
    assert.equal(arrivals, arrived, 'the upstream never saw it')
    assert.equal(await rejectedRequests(), 1)
    assert.equal(await requestsCounted(gw, 'route="limited",method="GET"', 503), 1)

    releaseHeld()
    assert.equal((await first).status, 200)
    const next = await get(client)
    assert.deepEqual([next.status, next.body, next.reusedSocket], [200, 'fast\n', true], 'served on the connection that got the 503')
    client.destroy()
  })

  it('applies limits raised by a reload, and cuts nothing admitted before it', async () => {
    gw = await startGateway(config('{ requests: 1 }'))
    const { reply: first } = await slowRequestArrived()
    assert.equal((await get(false)).status, 503)

    await writeFile(gw.configFile, config('{ requests: 2 }'))
    assert.equal((await gw.gateway.reload()).ok, true)
    const { reply: second } = await slowRequestArrived()
    assert.equal((await get(false)).status, 503, 'two in flight now: the new limit')
    releaseHeld()
    assert.deepEqual([(await first).status, (await second).status], [200, 200])
  })

  // A route's series began at its first rejection: Prometheus has no sample before that one, so
  // increase() and the overload alert missed each route's first rejections.
  it('exports the requests series of every route it may refuse at 0, from the load and from the reload that adds one', async () => {
    const passthrough = `  - { name: tunnel, host: t.test, tls: passthrough, upstream: { url: 'tcp://127.0.0.1:1' } }\n`
    gw = await startGateway(config('{ requests: 1 }') + passthrough)
    const series = (route: string) => `portcullis_overload_rejections_total{limit="requests",route="${route}"}`
    const loaded = await scrape()
    assert.equal(seriesIn(loaded, series('limited')), 0, loaded)
    assert.equal(seriesIn(loaded, series('tunnel')), undefined, 'a passthrough route takes no request slot')

    const added = `  - { name: added, host: a.test, path: /added, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }, upstream: { url: 'http://127.0.0.1:1' } }\n`
    await writeFile(gw.configFile, config('{ requests: 1 }') + passthrough + added)
    assert.equal((await gw.gateway.reload()).ok, true)
    assert.equal(seriesIn(await scrape(), series('added')), 0)
  })

  it('answers a request for no route with 404 while every slot is taken: only a routed request takes one', async () => {
    gw = await startGateway(config('{ requests: 1 }'))
    const { reply } = await slowRequestArrived()
    assert.equal((await get(false)).status, 503)
    const unrouted = await httpsRequest({ port: gw.ports.https!, servername: 'a.test', host: 'nowhere.test', ca: pki.caS.cert })
    assert.equal(unrouted.status, 404)
    releaseHeld()
    assert.equal((await reply).status, 200)
  })

  it('counts a WebSocket against limits.requests for as long as it is open', async () => {
    gw = await startGateway(config('{ requests: 1 }'))
    const ws = openWebSocket()
    await once(ws, 'open')
    ws.send('hi')
    assert.equal(String((await once(ws, 'message'))[0]), 'echo hi')

    assert.equal((await get(false)).status, 503)
    const second = openWebSocket()
    const [, response] = (await once(second, 'unexpected-response')) as [unknown, { statusCode: number }]
    assert.equal(response.statusCode, 503)
    second.on('error', () => {}).terminate()
    assert.equal(await rejectedRequests(), 2)

    ws.close()
    await once(ws, 'close')
    await eventually(async () => (await get(false)).status === 200, 3000, 'served once the WebSocket closed')
  })
})
