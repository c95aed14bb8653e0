/**
 * Upstream connection pools: kept alive and reused, one per upstream identity, never shared between
 * identities (a client certificate is never presented on another route's behalf).
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import net, { type AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as pause } from 'node:timers/promises'
import { httpRequest } from '../helpers/client.js'
import { eventually, loggedAfter, seriesIn, seriesSum, seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { rawExchange } from '../helpers/raw.js'
import { listenOnLoopback, startEchoUpstream, type EchoReply, type EchoUpstream } from '../helpers/upstream.js'

describe('upstream pools', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  let gw: TestGateway
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key, clientCA: pki.caA.cert })
    const route = (name: string, client: 'cliA' | 'cliA2' | 'cliA3OnKeyOfA', timeouts = '{}') => `
  - name: ${name}
    host: ${name}.test
    upstream:
      url: https://127.0.0.1:${upstream.port}
      ca: ${pki.caS.certFile}
      cert: ${pki[client].certFile}
      key: ${pki[client].keyFile}
      serverName: up.test
      timeouts: ${timeouts}`
    gw = await startGateway(`
listen: { http: 127.0.0.1:0 }
routes:${route('alice', 'cliA')}${route('alice-too', 'cliA')}${route('carol', 'cliA2')}${route('dave', 'cliA3OnKeyOfA')}${route('brief', 'cliA', '{ idle: 300ms }')}
`)
  })
  after(async () => {
    agent.destroy()
    await gw.close()
    await upstream.close()
    await pki.cleanup()
  })

  const get = (host: string) =>
    new Promise<EchoReply>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: gw.ports.http, headers: { host }, agent }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString()) as EchoReply))
        })
        .on('error', reject)
    })

  // catalogue UF-10
  it('serves 1,000 sequential requests over a handful of upstream TLS connections', async () => {
    const before = upstream.connections.length
    for (let i = 0; i < 1000; i++) assert.equal((await get('alice.test')).clientCertCN, 'alice')
    const opened = upstream.connections.length - before
    assert.ok(opened >= 1 && opened <= 3, `${opened} upstream connections opened`)
  })

  it('shares one pool between routes with the same identity', async () => {
    await get('alice.test')
    const before = upstream.connections.length
    for (let i = 0; i < 50; i++) await get('alice-too.test')
    assert.equal(upstream.connections.length, before, 'alice-too reuses the warm alice pool')
  })

  // catalogue UM-04
  it('never sends one identity’s requests over another identity’s socket', async () => {
    const hosts = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 'alice.test' : 'carol.test'))
    const replies = await Promise.all(hosts.map((host) => get(host)))
    replies.forEach((reply, i) => assert.equal(reply.clientCertCN, hosts[i] === 'alice.test' ? 'alice' : 'carol'))
    assert.ok(upstream.connections.includes('carol'))
  })

  // A certificate renewed with its key kept (certbot --reuse-key) is an identity of its own all the same.
  it('gives two client certificates on one key a pool each', async () => {
    assert.equal((await get('alice.test')).clientCertCN, 'alice')
    assert.equal((await get('dave.test')).clientCertCN, 'dave')
  })

  // For an upstream that closes idle connections sooner than the default 60 s (gunicorn's 2 s): a
  // connection it closes just as a request goes out costs that request a 502 where it has a body.
  it('closes an idle upstream connection after timeouts.idle, and keeps it for the default 60 s', async () => {
    const openedOver = async (host: string) => {
      await get(host)
      const before = upstream.connections.length
      await pause(1000)
      await get(host)
      return upstream.connections.length - before
    }
    assert.equal(await openedOver('brief.test'), 1, 'idle 300ms: the next request after 1 s opens a new connection')
    assert.equal(await openedOver('alice.test'), 0, 'the default: the connection is still there after 1 s')
  })

  // catalogue UF-10
  it('keeps the upstream connection after a HEAD request, as nginx does', async () => {
    await get('alice.test')
    const before = upstream.connections.length
    for (let i = 0; i < 20; i++) {
      assert.equal((await httpRequest({ port: gw.ports.http!, host: 'alice.test', method: 'HEAD' })).status, 200)
      assert.equal((await get('alice.test')).clientCertCN, 'alice')
    }
    assert.equal(upstream.connections.length, before, 'no new upstream connection')
  })

  // catalogue UF-10, MT-08
  it('resumes the TLS session when it opens a new upstream connection', async () => {
    const resumed = () => seriesValue(gw, 'portcullis_tls_session_resumptions_total{side="upstream",route="alice"}')
    await get('alice.test')
    const [resumedBefore, connectionsBefore] = [await resumed(), upstream.connections.length]
    upstream.server.closeAllConnections()
    assert.equal((await get('alice.test')).clientCertCN, 'alice')
    assert.equal(upstream.connections.length, connectionsBefore + 1, 'a new upstream connection')
    assert.equal(await resumed(), resumedBefore + 1, 'its session resumed')
  })
})

type StaleUpstream = net.Server & { connections: number }

/** Answers the first request of each connection after 100 ms, and closes under any later one; counts its connections. */
async function staleUpstream(): Promise<StaleUpstream> {
  const server = net.createServer((socket) => {
    stale.connections++
    let requests = 0
    socket.on('data', (chunk: Buffer) => {
      if (!chunk.includes('\r\n\r\n')) return
      if (requests++ > 0) return void socket.destroy()
      setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 100)
    })
    socket.on('error', () => undefined)
  })
  const stale = Object.assign(server, { connections: 0 })
  await listenOnLoopback(stale)
  return stale
}

describe('a pooled connection the upstream closes as a request goes out', () => {
  /** Answers the first request of each connection (keep-alive, no idle hint); resets at the second. */
  let upstream: net.Server
  let connections = 0
  /** Resets every connection as it arrives: a TLS handshake that fails, not a pooled connection. */
  let resetting: net.Server
  let resets = 0
  /** Takes each request and closes the connection unanswered: a request that kills its upstream. */
  let dropping: net.Server
  let dropped = 0
  /**
   * Answers the first request of a connection, and every later one with what undici cannot take: an
   * unsolicited 100, or for /upgrade a 101 to a request that asked no upgrade.
   */
  let unsolicited: net.Server
  let unsolicitedRequests = 0
  /** Writes part of a response head, then dies: an upstream that a request crashes. */
  let crashing: net.Server
  let crashingRequests = 0
  /** Answers the first request of a connection; a later one with 103 Early Hints, then dies. */
  let hinting: net.Server
  let hintedRequests = 0
  /** Answers the first request of each connection after 100 ms, and closes under any later one. */
  let stale: StaleUpstream
  /** The same, for the upgrade alone: a pool of one connection, which the upgrade must find stale. */
  let staleForUpgrade: StaleUpstream
  let gw: TestGateway

  before(async () => {
    upstream = net.createServer((socket) => {
      const connection = ++connections
      let received = ''
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1')
        const requests = received.split('\r\n\r\n').length - 1
        if (requests === 1 && !socket.writableEnded) socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${String(connection).length}\r\n\r\n${connection}`)
        if (requests >= 2) socket.resetAndDestroy()
      })
      socket.on('error', () => undefined)
    })
    await listenOnLoopback(upstream)
    resetting = net.createServer((socket) => {
      resets++
      socket.on('error', () => undefined)
      socket.resetAndDestroy()
    })
    await listenOnLoopback(resetting)
    dropping = net.createServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        if (chunk.includes('\r\n\r\n')) dropped++
        socket.destroy()
      })
      socket.on('error', () => undefined)
    })
    await listenOnLoopback(dropping)
    unsolicited = net.createServer((socket) => {
      let answered = 0
      socket.on('data', (chunk: Buffer) => {
        if (!chunk.includes('\r\n\r\n')) return
        unsolicitedRequests++
        const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
        if (answered++ === 0) socket.write(ok)
        else if (chunk.toString().startsWith('GET /upgrade ')) socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n')
        else socket.write(`HTTP/1.1 100 Continue\r\n\r\n${ok}`)
      })
      socket.on('error', () => undefined)
    })
    await listenOnLoopback(unsolicited)
    /** Writes `answer` to each request it is sent, then dies. */
    const dyingAfter = (answer: string, onRequest: () => void) =>
      net.createServer((socket) => {
        socket.on('data', (chunk: Buffer) => {
          if (!chunk.includes('\r\n\r\n')) return
          onRequest()
          socket.write(answer, () => setTimeout(() => socket.destroy(), 20))
        })
        socket.on('error', () => undefined)
      })
    crashing = dyingAfter('HTTP/1.1 500 Internal Server Error\r\nX-Partial: ', () => crashingRequests++)
    await listenOnLoopback(crashing)
    // A connection that answered once, and so may be sent a request again, but not after this 103.
    hinting = net.createServer((socket) => {
      let answered = 0
      socket.on('data', (chunk: Buffer) => {
        if (!chunk.includes('\r\n\r\n')) return
        hintedRequests++
        if (answered++ === 0) return void socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
        socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n', () => setTimeout(() => socket.destroy(), 20))
      })
      socket.on('error', () => undefined)
    })
    await listenOnLoopback(hinting)
    stale = await staleUpstream()
    staleForUpgrade = await staleUpstream()
    gw = await startGateway(`
listen: { http: 127.0.0.1:0 }
routes:
  - { name: closing, host: closing.test, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
  - { name: resetting, host: resetting.test, upstream: { url: 'https://127.0.0.1:${(resetting.address() as AddressInfo).port}' } }
  - { name: dropping, host: dropping.test, upstream: { url: 'http://127.0.0.1:${(dropping.address() as AddressInfo).port}' } }
  - { name: unsolicited, host: unsolicited.test, upstream: { url: 'http://127.0.0.1:${(unsolicited.address() as AddressInfo).port}' } }
  - { name: crashing, host: crashing.test, upstream: { url: 'http://127.0.0.1:${(crashing.address() as AddressInfo).port}' } }
  - { name: hinting, host: hinting.test, upstream: { url: 'http://127.0.0.1:${(hinting.address() as AddressInfo).port}' } }
  - { name: stale, host: stale.test, upstream: { url: 'http://127.0.0.1:${(stale.address() as AddressInfo).port}' } }
  - { name: stale-upgrade, host: stale-upgrade.test, upstream: { url: 'http://127.0.0.1:${(staleForUpgrade.address() as AddressInfo).port}' } }
`)
  })
  after(async () => {
    await gw.close()
    upstream.close()
    resetting.close()
    dropping.close()
    unsolicited.close()
    crashing.close()
    hinting.close()
    stale.close()
    staleForUpgrade.close()
  })

  const send = (method: string, body?: string, host = 'closing.test') => httpRequest({ port: gw.ports.http!, host, method, ...(body !== undefined && { body }) })
  /** A route's resends and upstream failures so far, by reason (`connection_reset` alone is expected here). */
  const counted = async (route: string) => ({
    retries: await seriesValue(gw, `portcullis_upstream_retries_total{route="${route}"}`),
    errors: await seriesSum(gw, `portcullis_upstream_errors_total{route="${route}",`),
    resets: await seriesValue(gw, `portcullis_upstream_errors_total{route="${route}",reason="connection_reset",stage="before_response"}`),
  })

  // catalogue UF-05, UF-06, MT-05
  it('retries a request without a body once on a new connection, and never a POST or a body, and counts each', async () => {
    assert.deepEqual(await send('GET').then((r) => [r.status, r.body]), [200, '1'])
    assert.equal((await send('POST', 'once only')).status, 502, 'a POST is not sent twice')
    assert.equal(connections, 1)
    assert.deepEqual(await counted('closing'), { retries: 0, errors: 1, resets: 1 }, 'the POST failed, and was not sent again')
    assert.deepEqual(await send('GET').then((r) => [r.status, r.body]), [200, '2'])
    assert.deepEqual(await send('GET').then((r) => [r.status, r.body]), [200, '3'], 'reset on connection 2, answered on connection 3')
    assert.deepEqual(await counted('closing'), { retries: 1, errors: 1, resets: 1 }, 'one resend, and no failure: its client got its answer')
    // A POST without a body (`POST /orders/42/ship`) is no more idempotent than one with a body: it
    // fails too when the pooled connection that just answered a GET closes under it.
    assert.equal((await send('GET')).status, 200)
    const [before, connectionsBefore] = [await counted('closing'), connections]
    assert.equal((await send('POST')).status, 502, 'a POST without a body is not sent twice either')
    assert.equal(connections, connectionsBefore)
    assert.deepEqual(await counted('closing'), { ...before, errors: before.errors + 1, resets: before.resets + 1 })
    // A PUT may be sent twice, but not its body, which went to the connection that closed.
    assert.equal((await send('GET')).status, 200)
    assert.equal((await send('PUT', 'once only')).status, 502, 'a PUT with a body is not sent twice')
    assert.deepEqual(await counted('closing'), { ...before, errors: before.errors + 2, resets: before.resets + 2 })
  })

  // catalogue UF-05
  it('goes on past every pooled connection that closes under the request, as nginx past its cached ones', async () => {
    // Two requests at once: two connections, each answered once, then idle in the pool.
    const both = await Promise.all([send('GET', undefined, 'stale.test'), send('GET', undefined, 'stale.test')])
    assert.deepEqual(both.map((r) => r.status), [200, 200])
    assert.equal(stale.connections, 2)
    // Both idle ones close under the next request; the third try is on a new connection.
    assert.equal((await send('GET', undefined, 'stale.test')).status, 200)
    assert.equal(stale.connections, 3)
    assert.deepEqual(await counted('stale'), { retries: 2, errors: 0, resets: 0 })
  })

  it('sends a WebSocket upgrade again too when its pooled connection closes under it, and counts it', async () => {
    assert.equal((await send('GET', undefined, 'stale-upgrade.test')).status, 200)
    assert.equal(staleForUpgrade.connections, 1)
    const before = { connections: 1, ...(await counted('stale-upgrade')) }
    const upgrade = 'GET / HTTP/1.1\r\nHost: stale-upgrade.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
    // The upstream answers a connection's first request with 200: it refuses the upgrade, and that
    // refusal is what the client gets, not a 502.
    assert.match(await rawExchange(gw.ports.http!, upgrade), /^HTTP\/1\.1 200 /)
    assert.deepEqual({ connections: staleForUpgrade.connections, ...(await counted('stale-upgrade')) }, { ...before, connections: 2, retries: before.retries + 1 })
  })

  // catalogue UF-01
  it('does not retry a connect or handshake that fails', async () => {
    assert.equal((await send('GET', undefined, 'resetting.test')).status, 502)
    assert.equal(resets, 1)
  })

  // catalogue UF-03
  it('does not retry when a new connection closes under its first request (it may be what killed it)', async () => {
    assert.equal((await send('GET', undefined, 'dropping.test')).status, 502)
    assert.equal(dropped, 1)
  })

  it('does not retry when a new connection dies part way through its first answer', async () => {
    assert.equal((await send('GET', undefined, 'crashing.test')).status, 502)
    assert.equal(crashingRequests, 1)
  })

  it('does not retry once the upstream has answered anything, an interim 103 included, on a pooled connection too', async () => {
    assert.equal((await send('GET', undefined, 'hinting.test')).status, 200)
    assert.equal((await send('GET', undefined, 'hinting.test')).status, 502)
    assert.equal(hintedRequests, 2)
  })

  for (const [what, path] of [
    ['an unsolicited 100', '/'],
    ['a 101 to a request that asked no upgrade', '/upgrade'],
  ] as const) {
    it(`does not retry an answer undici cannot take (${what}), even on a pooled connection, and says so`, async () => {
      const before = unsolicitedRequests
      assert.equal((await httpRequest({ port: gw.ports.http!, host: 'unsolicited.test' })).status, 200)
      const since = gw.logs.length
      assert.equal((await httpRequest({ port: gw.ports.http!, host: 'unsolicited.test', path })).status, 502)
      assert.equal(unsolicitedRequests, before + 2)
      assert.equal((await loggedAfter(gw, since, 'upstream request failed')).code, 'PCL_ERR_UPSTREAM_RESPONSE')
    })
  }
})

// catalogue RR-09
describe('a pool that a reload retired', () => {
  /** Answers the first request of each connection; holds the second 300 ms, then resets. */
  let resetting: net.Server
  let connections = 0
  /** Answers every request after 600 ms. */
  let slow: http.Server
  let gw: TestGateway
  /** Called when the next request reaches an upstream, resetting or slow. */
  let arrived = () => {}
  /** Resolves when the next request reaches an upstream: it is in flight on a pooled connection. */
  const arrival = () => new Promise<void>((resolve) => (arrived = resolve))

  before(async () => {
    resetting = net.createServer((socket) => {
      const connection = ++connections
      let requests = 0
      socket.on('data', (chunk: Buffer) => {
        if (!chunk.includes('\r\n\r\n')) return
        arrived()
        if (++requests === 1) socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${String(connection).length}\r\n\r\n${connection}`)
        else setTimeout(() => socket.resetAndDestroy(), 300)
      })
      socket.on('error', () => undefined)
    })
    await listenOnLoopback(resetting)
    slow = http.createServer((_req, res) => {
      arrived()
      setTimeout(() => res.end('slow\n'), 600)
    })
    await listenOnLoopback(slow)
    // Each reload must come while a request is held, not wait its turn behind the last test's reload.
    gw = await startGateway(routes('1s'), { reloadIntervalMs: 0 })
  })
  after(async () => {
    await gw.close()
    resetting.close()
    slow.close()
  })

  const routes = (connect: string) => `
listen: { http: 127.0.0.1:0 }
routes:
  - { host: r.test, upstream: { url: 'http://127.0.0.1:${(resetting.address() as AddressInfo).port}', timeouts: { connect: ${connect} } } }
  - { name: held, host: held.test, upstream: { url: 'http://127.0.0.1:${(slow.address() as AddressInfo).port}', timeouts: { connect: ${connect} } } }
`
  /** A changed timeout is a new upstream identity: the reload retires every pool, requests on them included. */
  const retirePools = async (connect: string) => {
    await writeFile(gw.configFile, routes(connect))
    assert.deepEqual(await gw.gateway.reload(), { ok: true, errors: [], warnings: [] })
  }
  const get = (host: string) => httpRequest({ port: gw.ports.http!, host })
  const active = async () =>
    (await gw.gateway.metrics.upstreamConnections.get()).values.find((v) => v.labels.route === 'held' && v.labels.state === 'active')?.value ?? 0

  it('sends a request that lost its pooled connection once more on it: it stays open until its last request ends', async () => {
    assert.deepEqual(await get('r.test').then((r) => [r.status, r.body]), [200, '1'])
    const sent = arrival()
    const pending = get('r.test')
    await sent
    await retirePools('2s')
    assert.deepEqual(await pending.then((r) => [r.status, r.body]), [200, '2'])
  })

  it('still counts its sockets in the pool gauge while it finishes a request', async () => {
    const sent = arrival()
    const pending = get('held.test')
    await sent
    assert.equal(await active(), 1)
    await retirePools('3s')
    assert.equal(await active(), 1, 'the request still running on the retired pool')
    assert.equal((await pending).status, 200)
    assert.equal(await active(), 0)
  })

  it('lets go of it once its last request has ended, scraped or not', async () => {
    const retiring = (gw.gateway as unknown as { retiring: Set<unknown> }).retiring
    for (const connect of ['4s', '5s']) {
      const sent = arrival()
      const pending = get('held.test')
      await sent
      await retirePools(connect)
      assert.equal((await pending).status, 200)
    }
    // No /metrics read in between: the retired pools, and the keys their connectors hold, are gone all the same.
    await eventually(async () => retiring.size === 0, 2000, 'no retired pool held')
  })
})

describe('the pool gauges of a retired pool', () => {
  /** Accepts TCP, reads and never answers: a TLS handshake to it waits until the socket is closed here. */
  let silent: net.Server
  const accepted: net.Socket[] = []
  let gw: TestGateway

  const routes = (connect: string) => `
listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
  - { name: handshaking, host: hs.test, upstream: { url: 'https://127.0.0.1:${(silent.address() as AddressInfo).port}', timeouts: { connect: ${connect} } } }
`
  before(async () => {
    silent = net.createServer((socket) => accepted.push(socket.on('error', () => undefined).resume()))
    await listenOnLoopback(silent)
    gw = await startGateway(routes('1m'), { reloadIntervalMs: 0 })
  })
  after(async () => {
    await gw.close()
    for (const socket of accepted) socket.destroy()
    silent.close()
  })

  /** One series of a scrape of the admin listener's /metrics. */
  const scraped = async (series: string) => seriesIn((await httpRequest({ port: gw.ports.admin!, path: '/metrics' })).body, series)
  const pending = () => scraped('portcullis_upstream_pending_requests{route="handshaking"}')

  it('keeps a connect that its last request left behind in the pending gauge until that connect ends', async () => {
    const client = net.connect(gw.ports.http!, '127.0.0.1')
    client.on('error', () => undefined)
    client.write('GET / HTTP/1.1\r\nHost: hs.test\r\n\r\n')
    await eventually(async () => accepted.length === 1, 3000, 'the connect reached the upstream')
    assert.equal(await pending(), 1)
    // A new connect timeout is a new upstream identity: the reload retires the pool, and the route's
    // new one has nothing pending.
    await writeFile(gw.configFile, routes('2m'))
    assert.deepEqual(await gw.gateway.reload(), { ok: true, errors: [], warnings: [] })
    assert.equal(await pending(), 1)
    // The client leaves: the last request on the retired pool has ended (counted 499), its connect not.
    client.destroy()
    await eventually(async () => (await scraped('portcullis_requests_total{route="handshaking",method="GET",code="499"}')) === 1, 3000, 'the request counted')
    assert.equal(await pending(), 1, "the retired pool's connect in progress")
    accepted[0]!.destroy()
    await eventually(async () => (await pending()) === 0, 3000, 'the retired pool closed')
    assert.equal((gw.gateway as unknown as { retiring: Set<unknown> }).retiring.size, 0)
  })
})

describe('many connections to one upstream', () => {
  it('opens them without a listener-leak warning: its sockets share the pool’s abort signal', async () => {
    const pki = await makeTestPki()
    // Holds every answer until all the requests have arrived, each on its own connection.
    const count = 16
    const held: http.ServerResponse[] = []
    const upstream = https.createServer({ cert: pki.up.cert, key: pki.up.key }, (_req, res) => {
      held.push(res)
      if (held.length === count) for (const waiting of held) waiting.end('ok')
    })
    const port = await listenOnLoopback(upstream)
    const gw = await startGateway(`
listen: { http: 127.0.0.1:0 }
routes:
  - host: wide.test
    upstream: { url: https://127.0.0.1:${port}, ca: ${pki.caS.certFile}, serverName: up.test }
`)
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(warning.message)
    process.on('warning', onWarning)
    const agent = new http.Agent({ keepAlive: true, maxSockets: count })
    try {
      const get = () =>
        new Promise<number | undefined>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port: gw.ports.http, headers: { host: 'wide.test' }, agent }, (res) => res.resume().on('end', () => resolve(res.statusCode))).on('error', reject)
        })
      assert.deepEqual(await Promise.all(Array.from({ length: count }, get)), Array(count).fill(200))
      await new Promise((resolve) => setImmediate(resolve))
      assert.deepEqual(warnings, [])
    } finally {
      process.off('warning', onWarning)
      agent.destroy()
      await gw.close()
      upstream.closeAllConnections()
      await new Promise((resolve) => upstream.close(resolve))
      await pki.cleanup()
    }
  })
})
