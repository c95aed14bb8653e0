/**
 * /metrics as Prometheus sees it, after real handshakes and requests through the gateway.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import tls from 'node:tls'
import { AggregatorRegistry, Gauge } from 'prom-client'
import { listenOnLoopback, startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { httpRequest, httpsRequest } from '../helpers/client.js'
import { eventually, seriesIn, seriesSum, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'

describe('metrics', () => {
  let pki: TestPki
  let good: EchoUpstream
  let wrongName: EchoUpstream
  /** Requires a client certificate of CA B; the gateway presents one of CA A. */
  let refusing: EchoUpstream
  let gw: TestGateway

  before(async () => {
    pki = await makeTestPki()
    good = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key, clientCA: pki.caA.cert })
    wrongName = await startEchoUpstream({ cert: pki.upWrongName.cert, key: pki.upWrongName.key })
    refusing = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key, clientCA: pki.caB.cert })
    const upstream = (port: number) =>
      `{ url: 'https://127.0.0.1:${port}', ca: ${pki.caS.certFile}, cert: ${pki.cliA.certFile}, key: ${pki.cliA.keyFile}, serverName: up.test }`
    gw = await startGateway(`
listen: { https: 127.0.0.1:0, http: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
  - name: mtls
    host: a.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile} }
    upstream: ${upstream(good.port)}
  - { name: badup, host: bad.test, upstream: ${upstream(wrongName.port)} }
  - { name: refused, host: refused.test, upstream: ${upstream(refusing.port)} }
  - name: chained
    host: chained.test
    tls: { cert: ${pki.leafChain.certFile}, key: ${pki.leafChain.keyFile} }
    upstream: ${upstream(good.port)}
  - name: anonymous
    host: anonymous.test
    upstream: { url: 'https://127.0.0.1:${good.port}', ca: ${pki.caS.certFile}, serverName: up.test }
  - name: revocable
    host: revocable.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.root.certFile}, crl: ${pki.crlRootEmpty.file} }
    upstream: ${upstream(good.port)}
`)
  })
  after(async () => {
    await gw.close()
    await good.close()
    await wrongName.close()
    await refusing.close()
    await pki.cleanup()
  })

  const scrape = async () => (await httpRequest({ port: gw.ports.admin!, path: '/metrics' })).body
  const mtls = (cert?: 'cliA') =>
    httpsRequest({ port: gw.ports.https!, servername: 'a.test', ca: pki.caS.cert, ...(cert && { cert: pki[cert].cert, key: pki[cert].key }) })
  /** Writes `bytes` to the HTTPS port over plain TCP, closes, and waits for the gateway's close. */
  const sendRaw = async (bytes: string) => {
    const socket = net.connect(gw.ports.https!, '127.0.0.1')
    socket.on('error', () => {})
    socket.resume()
    await once(socket, 'connect')
    socket.end(bytes)
    await once(socket, 'close')
  }
  const random = () => Math.random().toString(36).slice(2)
  /** The series `keys` finds after a first `burst` of requests, asserted unchanged by a second one. */
  const seriesUnchangedBy = async (burst: () => Promise<unknown>, keys: (scraped: string) => Set<string | undefined>) => {
    await burst()
    const before = keys(await scrape())
    await burst()
    assert.deepEqual(keys(await scrape()), before)
    return before
  }

  // catalogue IM-01 (the no-certificate counter), MT-01
  it('counts successful and failed handshakes, ingress and upstream, with route and reason', async () => {
    assert.equal((await mtls('cliA')).status, 200)
    await assert.rejects(mtls())
    await assert.rejects(httpsRequest({ port: gw.ports.https!, servername: 'a.test', ca: pki.caS.cert, maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }))
    assert.equal((await httpRequest({ port: gw.ports.http!, host: 'bad.test' })).status, 502)
    const text = await scrape()
    for (const series of [
      'portcullis_tls_handshakes_total{side="ingress",route="mtls",result="ok",reason="none"}',
      'portcullis_tls_handshakes_total{side="ingress",route="mtls",result="error",reason="no_client_cert"}',
      'portcullis_tls_handshakes_total{side="ingress",route="mtls",result="error",reason="protocol_version"}',
      'portcullis_tls_handshakes_total{side="upstream",route="mtls",result="ok",reason="none"}',
      'portcullis_tls_handshakes_total{side="upstream",route="badup",result="error",reason="hostname_mismatch"}',
      'portcullis_tls_handshake_duration_seconds_count{side="ingress",route="mtls",result="ok"}',
      'portcullis_tls_handshake_duration_seconds_count{side="upstream",route="mtls",result="ok"}',
      'portcullis_requests_total{route="mtls",method="GET",code="200"}',
      'portcullis_requests_total{route="badup",method="GET",code="502"}',
      'portcullis_request_duration_seconds_count{route="mtls",method="GET"}',
      'portcullis_request_duration_seconds_bucket{le="+Inf",route="badup",method="GET"}',
    ]) {
      // The first requests of a fresh gateway: each counted once.
      assert.equal(seriesIn(text, series), 1, `${series} in\n${text}`)
    }
    assert.ok(seriesIn(text, 'portcullis_tls_handshake_duration_seconds_sum{side="ingress",route="mtls",result="ok"}')! > 0)
  })

  // catalogue MT-01, LA-08
  it('counts connections that never got to a handshake, except one that sent nothing', async () => {
    const series = (reason: string) => `portcullis_tls_handshakes_total{side="ingress",route="(none)",result="error",reason="${reason}"}`
    const before = await scrape()
    await sendRaw('') // a TCP health check
    await sendRaw('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n') // plain HTTP to the HTTPS port
    await sendRaw('\x16\x03\x01\x02\x00\x01') // the first bytes of a ClientHello, then a close
    let after = ''
    const added = (reason: string) => (seriesIn(after, series(reason)) ?? 0) - (seriesIn(before, series(reason)) ?? 0)
    // The last close may reach the gateway just after the client is done with it.
    await eventually(
      async () => {
        after = await scrape()
        return added('connection_reset') === 1
      },
      3000,
      'the close counted',
    )
    assert.deepEqual(
      { protocol_version: added('protocol_version'), connection_reset: added('connection_reset'), timeout: added('timeout') },
      { protocol_version: 1, connection_reset: 1, timeout: 0 },
    )
  })

  // catalogue MT-02: each connection lands in exactly one handshake series.
  it('counts each connection of a mix of outcomes once, in one series', async () => {
    const ingressHandshakes = async () => seriesSum(gw, 'portcullis_tls_handshakes_total{side="ingress",')
    const before = await ingressHandshakes()
    const refusedBy = (promise: Promise<unknown>) => assert.rejects(promise)
    for (let i = 0; i < 3; i++) assert.equal((await mtls('cliA')).status, 200)
    await refusedBy(mtls())
    await refusedBy(mtls())
    assert.equal((await httpsRequest({ port: gw.ports.https!, servername: 'a.test', ca: pki.caS.cert, cert: pki.cliB.cert, key: pki.cliB.key })).status, 400, 'a certificate refused')
    await sendRaw('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n')
    await sendRaw('\x16\x03\x01\x02\x00\x01')
    await sendRaw('') // a TCP health check: no handshake
    await eventually(async () => (await ingressHandshakes()) - before >= 8, 3000, 'eight handshakes counted')
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal((await ingressHandshakes()) - before, 8)
  })

  // catalogue UM-02 (TLS 1.3)
  it('counts an upstream that refuses the gateway certificate after a TLS 1.3 handshake as a failed handshake', async () => {
    // TLS 1.3 servers check the client certificate after the client's side of the handshake is done.
    assert.equal((await httpRequest({ port: gw.ports.http!, host: 'refused.test' })).status, 502)
    const text = await scrape()
    const series = (result: string) => text.split('\n').filter((l) => l.startsWith(`portcullis_tls_handshakes_total{side="upstream",route="refused",result="${result}"`))
    assert.deepEqual(series('ok'), [])
    assert.equal(series('error').length, 1, text)
    assert.equal(Number(series('error')[0]!.split(' ')[1]), 1, 'one handshake: a refused request is not sent again')
  })

  // catalogue UM-07
  it('logs an upstream that refuses with a TLS 1.3 alert after the handshake by the alert, not as a reset', async () => {
    // The upstream requires a client certificate and the route presents none: certificate_required.
    assert.equal((await httpRequest({ port: gw.ports.http!, host: 'anonymous.test' })).status, 502)
    const logged = gw.logs.find((l) => l.route === 'anonymous' && l.msg === 'upstream request failed')
    assert.deepEqual({ code: logged?.code, reason: logged?.reason }, { code: 'PCL_ERR_UPSTREAM_TLS', reason: 'no_client_cert' })
    const text = await scrape()
    assert.equal(seriesIn(text, 'portcullis_tls_handshakes_total{side="upstream",route="anonymous",result="error",reason="no_client_cert"}'), 1)
  })

  // catalogue MT-04
  it('exports the expiry of every certificate in use, by route, role and subject', async () => {
    const text = await scrape()
    const expiry = (route: string, role: string, subject: string) =>
      seriesIn(text, `portcullis_certificate_expiry_timestamp_seconds{route="${route}",role="${role}",subject="${subject}"}`)
    const notAfter = (pem: string) => Math.floor(new Date(new X509Certificate(pem).validTo).getTime() / 1000)
    assert.equal(expiry('mtls', 'server', 'CN=srv'), notAfter(pki.srv.cert))
    assert.equal(expiry('mtls', 'ca', 'CN=Test Client CA A'), notAfter(pki.caA.cert))
    assert.equal(expiry('mtls', 'ca', 'CN=Test Server CA'), notAfter(pki.caS.cert))
    assert.equal(expiry('mtls', 'client', 'CN=alice,O=A'), notAfter(pki.cliA.cert))
    // An intermediate served after the leaf: when it expires, so does the chain.
    assert.equal(expiry('chained', 'server', 'CN=Test Intermediate CA'), notAfter(pki.int.cert))
    assert.equal(expiry('chained', 'server', 'CN=leaf'), notAfter(pki.leaf.cert))
  })

  it("exports each CRL's nextUpdate, by route and issuer", async () => {
    const nextUpdate = seriesIn(await scrape(), 'portcullis_crl_next_update_timestamp_seconds{route="revocable",issuer="CN=Test Root CA"}')
    // The test PKI's CRLs promise their next issue in 30 days.
    assert.ok(nextUpdate !== undefined && Math.abs(nextUpdate - (Date.now() / 1000 + 30 * 86_400)) < 86_400, String(nextUpdate))
  })

  // catalogue MT-08
  it('reports pooled upstream connections from the pools', async () => {
    // A request of its own: the route's pool holds its one connection, whichever tests ran before.
    assert.equal((await mtls('cliA')).status, 200)
    const text = await scrape()
    assert.equal((seriesIn(text, 'portcullis_upstream_connections{route="mtls",state="idle"}') ?? 0) + (seriesIn(text, 'portcullis_upstream_connections{route="mtls",state="active"}') ?? 0), 1)
  })

  // catalogue MT-08
  it('counts open client connections per listener, from accept to close', async () => {
    const open = async (listener: string) => seriesIn(await scrape(), `portcullis_client_connections{listener="${listener}"}`)
    const before = { https: await open('https'), http: await open('http') }
    const tlsClient = tls.connect({ port: gw.ports.https!, servername: 'a.test', ca: pki.caS.cert, cert: pki.cliA.cert, key: pki.cliA.key })
    await once(tlsClient, 'secureConnect')
    const plainClient = net.connect(gw.ports.http!)
    await once(plainClient, 'connect')
    await eventually(async () => (await open('https')) === before.https! + 1 && (await open('http')) === before.http! + 1, 3000, 'both counted')
    tlsClient.destroy()
    plainClient.destroy()
    await eventually(async () => (await open('https')) === before.https && (await open('http')) === before.http, 3000, 'both gone')
  })

  // catalogue MT-02, LA-10
  it('does not create label values from random hosts, paths and methods', async () => {
    const burst = () =>
      Promise.all(
        Array.from({ length: 30 }, () =>
          httpRequest({ port: gw.ports.http!, host: `${random()}.test`, path: `/${random()}`, method: ['GET', 'PURGE', 'PROPFIND', 'DELETE'][Math.floor(Math.random() * 4)]! }),
        ),
      )
    const seriesNames = (text: string) => new Set(text.split('\n').filter((l) => l.startsWith('portcullis_requests_total')).map((l) => l.split(' ')[0]))
    const before = await seriesUnchangedBy(burst, seriesNames)
    assert.ok(before.has('portcullis_requests_total{route="(none)",method="OTHER",code="404"}'), [...before].join('\n'))
  })

  // catalogue LA-10, MT-02: attacker-chosen SNI names and hosts make no series of their own.
  it('does not create series from random SNI names and hosts either', async () => {
    const request = async () => {
      // The chain is not what matters here, nor does a random name match the certificate.
      const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: `${random()}.test`, rejectUnauthorized: false })
      socket.on('error', () => undefined)
      await once(socket, 'secureConnect')
      socket.end(`GET / HTTP/1.1\r\nHost: ${random()}.test\r\nConnection: close\r\n\r\n`)
      socket.resume()
      await once(socket, 'close')
    }
    const burst = () => Promise.all(Array.from({ length: 30 }, request))
    const seriesKeys = (text: string) => new Set(text.split('\n').filter((l) => l.startsWith('portcullis_') && !/^portcullis_(process|nodejs)_/.test(l)).map((l) => l.split(' ')[0]))
    const before = await seriesUnchangedBy(burst, seriesKeys)
    assert.ok(before.has('portcullis_requests_total{route="(none)",method="GET",code="404"}'), [...before].join('\n'))
  })

  // catalogue MT-06: scrapes sent as reloads swap the config see each series once. A reload swaps it
  // in one turn of the event loop, and a render reads its series in one turn too (only an asynchronous
  // collect() waits), so no render sees half a swap; the scrapes here come between and after them.
  it('answers scrapes sent as reloads run, each series in them once', async () => {
    assert.equal((await mtls('cliA')).status, 200, 'a request, for series of every kind')
    const reloads = Promise.all(Array.from({ length: 5 }, () => gw.gateway.reload()))
    const scrapes = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 30))
        return httpRequest({ port: gw.ports.admin!, path: '/metrics' })
      }),
    )
    for (const { status, body } of scrapes) {
      assert.equal(status, 200)
      const keys = body.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => line.slice(0, line.lastIndexOf(' ')))
      assert.deepEqual(keys.filter((key, i) => keys.indexOf(key) !== i), [])
    }
    for (const result of await reloads) assert.equal(result.ok, true)
  })

  // catalogue MT-07
  it('serves nothing of the admin app on the public listeners', async () => {
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      assert.equal((await httpRequest({ port: gw.ports.http!, host: '127.0.0.1', path })).status, 404)
    }
  })
})

describe('metrics of shared and plaintext upstream pools', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  let plain: Server
  let gw: TestGateway

  const config = (routeNames: readonly string[]) => `
listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
${routeNames.map((name) => `  - { name: ${name}, host: ${name}.test, upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test } }`).join('\n')}
  - { name: plain, host: plain.test, upstream: { url: 'http://127.0.0.1:${(plain.address() as AddressInfo).port}' } }
  - { host: shared.test, path: /a, upstream: { url: 'http://127.0.0.1:${(plain.address() as AddressInfo).port}', timeouts: { connect: 4s } } }
  - { host: shared.test, path: /b, upstream: { url: 'http://127.0.0.1:${(plain.address() as AddressInfo).port}', timeouts: { connect: 3s } } }
`

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    plain = createServer((_req, res) => res.end('plain'))
    await listenOnLoopback(plain)
    gw = await startGateway(config(['first', 'second']))
  })
  after(async () => {
    await gw.close()
    await upstream.close()
    plain.close()
    await pki.cleanup()
  })

  const get = async (host: string) => assert.equal((await httpRequest({ port: gw.ports.http!, host })).status, 200)
  const upstreamSeries = async () =>
    (await httpRequest({ port: gw.ports.admin!, path: '/metrics' })).body
      .split('\n')
      .filter((line) => /^portcullis_(tls_handshakes_total\{side="upstream"|upstream_connections\{)/.test(line))

  it('reports a pool that routes share once, under the first of them in the config now serving', async () => {
    await get('second.test')
    await get('first.test')
    let series = await upstreamSeries()
    assert.ok(series.includes('portcullis_tls_handshakes_total{side="upstream",route="first",result="ok",reason="none"} 1'), series.join('\n'))
    assert.ok(series.includes('portcullis_upstream_connections{route="first",state="idle"} 1'), series.join('\n'))
    assert.ok(!series.some((line) => line.includes('route="second"')), 'one pool, one label')

    await writeFile(gw.configFile, config(['second']))
    const reloaded = await gw.gateway.reload()
    assert.deepEqual([reloaded.ok, reloaded.errors], [true, []])
    upstream.server.closeAllConnections()
    await get('second.test')
    series = await upstreamSeries()
    assert.ok(series.includes('portcullis_tls_handshakes_total{side="upstream",route="second",result="ok",reason="none"} 1'), series.join('\n'))
    assert.ok(series.includes('portcullis_upstream_connections{route="second",state="idle"} 1'), series.join('\n'))
    assert.ok(!series.some((line) => line.includes('route="first"') && line.startsWith('portcullis_upstream_connections')), 'no gauge for a removed route')
  })

  it('sums the pools of routes that share a name (the host, by default)', async () => {
    for (const path of ['/a', '/b']) assert.equal((await httpRequest({ port: gw.ports.http!, host: 'shared.test', path })).status, 200)
    const series = await upstreamSeries()
    assert.ok(series.includes('portcullis_upstream_connections{route="shared.test",state="idle"} 2'), series.join('\n'))
  })

  it('counts no TLS handshake for a plaintext upstream', async () => {
    await get('plain.test')
    const series = await upstreamSeries()
    assert.ok(series.includes('portcullis_upstream_connections{route="plain",state="idle"} 1'), series.join('\n'))
    assert.ok(!series.some((line) => line.startsWith('portcullis_tls_handshakes_total') && line.includes('route="plain"')), series.join('\n'))
  })
})

// catalogue MT-08
describe('requests waiting for an upstream connection', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  /** Accepts the gateway's upstream connections and holds them, unanswered, until `release`. */
  let gate: net.Server
  const held: net.Socket[] = []
  let gw: TestGateway

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    gate = net.createServer((socket) => held.push(socket))
    const gatePort = await listenOnLoopback(gate)
    const behindGate = `{ url: 'https://127.0.0.1:${gatePort}', ca: ${pki.caS.certFile}, serverName: up.test, timeouts: { connect: 30s } }`
    gw = await startGateway(`
listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
  - { name: gated, host: gated.test, upstream: ${behindGate} }
  - { name: alias, host: alias.test, upstream: ${behindGate} }
`)
  })
  after(async () => {
    await gw.close()
    gate.close()
    await upstream.close()
    await pki.cleanup()
  })

  /** Lets the held connections through to the upstream, their TLS handshakes still to come. */
  const release = () => {
    for (const socket of held.splice(0)) socket.pipe(net.connect(upstream.port, '127.0.0.1')).pipe(socket)
  }
  const pending = async (route: string) => seriesIn((await httpRequest({ port: gw.ports.admin!, path: '/metrics' })).body, `portcullis_upstream_pending_requests{route="${route}"}`)

  it('counts them while their connection is made, under the first route of the pool they share, and none after', async () => {
    const replies = ['gated.test', 'alias.test'].map((host) => httpRequest({ port: gw.ports.http!, host }))
    await eventually(async () => held.length === 2, 3000, 'both upstream connections held before their handshake')
    assert.equal(await pending('gated'), 2)
    assert.equal(await pending('alias'), undefined, 'one pool, one label')
    release()
    assert.deepEqual((await Promise.all(replies)).map((reply) => reply.status), [200, 200])
    assert.equal(await pending('gated'), 0)
  })

  it("is summed over the workers in the primary's scrape", async () => {
    const workers = [2, 3].map((waiting) => {
      const metrics = createMetrics({ defaultMetrics: false, collectUpstreamPendingRequests: (gauge) => gauge.set({ route: 'gated' }, waiting) })
      return metrics.registry.getMetricsAsJSON()
    })
    const text = await AggregatorRegistry.aggregate(await Promise.all(workers)).metrics()
    assert.match(text, /^portcullis_upstream_pending_requests\{route="gated"\} 5$/m)
  })
})

describe('the result of the last config load', () => {
  let gw: TestGateway
  const config = (host: string) => `
listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
  - { host: ${host}, upstream: { url: 'http://127.0.0.1:1' } }
`
  before(async () => {
    gw = await startGateway(config('a.test'))
  })
  after(() => gw.close())

  const successful = async () => {
    const text = (await httpRequest({ port: gw.ports.admin!, path: '/metrics' })).body
    return /^portcullis_config_last_reload_successful (\S+)$/m.exec(text)?.[1]
  }

  // catalogue MT-03
  it('is 1 after the start, 0 after a failed reload and 1 again after a good one', async () => {
    assert.equal(await successful(), '1')
    await writeFile(gw.configFile, `${config('a.test')}  - { host: [oops\n`)
    assert.equal((await gw.gateway.reload()).ok, false)
    assert.equal(await successful(), '0')
    await writeFile(gw.configFile, config('b.test'))
    assert.deepEqual(await gw.gateway.reload(), { ok: true, errors: [], warnings: [] })
    assert.equal(await successful(), '1')
  })

  it("shows the worst of the workers' results in the primary's sum", async () => {
    // One worker refused the last edit: the config on disk is not serving everywhere.
    const workers = [1, 0, 1].map((result) => {
      const metrics = createMetrics({ defaultMetrics: false })
      metrics.configLastReloadSuccessful.set(result)
      return metrics.registry.getMetricsAsJSON()
    })
    const text = await AggregatorRegistry.aggregate(await Promise.all(workers)).metrics()
    assert.match(text, /^portcullis_config_last_reload_successful 0$/m)
  })
})

// A tester's wrk flood of GET /metrics (300 scrapes a second) rendered the whole registry once per
// scrape, on the event loop that serves traffic: the proxied rate fell from 7,900 to 88 req/s.
describe('a flood of scrapes', () => {
  let gw: TestGateway
  before(async () => {
    gw = await startGateway(`
listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
  - { host: a.test, upstream: { url: 'http://127.0.0.1:1' } }
`)
  })
  after(() => gw.close())

  for (const [format, accept] of [
    ['Prometheus text', 'text/plain'],
    ['OpenMetrics', 'application/openmetrics-text; version=1.0.0'],
  ] as const) {
    // catalogue MT-06
    it(`renders 50 concurrent ${format} scrapes at most twice, each with the values set before it was sent`, async (t) => {
      let renders = 0
      let sent = 0
      // The first render lasts until the last scrape has reached the admin listener, however slowly a
      // busy machine sends them: all 50 come in while a render runs.
      const admin = (gw.gateway as unknown as { listeners: Map<string, Server> }).listeners.get('admin')!
      let received = 0
      let allReceived = () => {}
      const everyScrape = new Promise<void>((resolve) => (allReceived = resolve))
      const onRequest = () => ++received === 50 && allReceived()
      admin.on('request', onRequest)
      t.after(() => admin.off('request', onRequest))
      new Gauge({
        name: 'test_scrapes_sent',
        help: 'scrapes the test had sent when a render began',
        registers: [gw.gateway.metrics.registry],
        // A slow collect, as of a large registry: scrapes come in while a render runs.
        async collect() {
          renders++
          this.set(sent)
          if (renders === 1) await everyScrape
          await new Promise((resolve) => setTimeout(resolve, 20))
        },
      })
      t.after(() => gw.gateway.metrics.registry.removeSingleMetric('test_scrapes_sent'))
      const replies = []
      for (let i = 1; i <= 50; i++) {
        sent = i
        replies.push(httpRequest({ port: gw.ports.admin!, path: '/metrics', headers: { accept } }))
        // Lets the requests sent so far reach the admin listener, and one of them start a render.
        await new Promise((resolve) => setImmediate(resolve))
      }
      for (const [i, reply] of (await Promise.all(replies)).entries()) {
        assert.equal(reply.status, 200)
        const shown = Number(/^test_scrapes_sent (\d+)$/m.exec(reply.body)?.[1])
        assert.ok(shown >= i + 1, `scrape ${i + 1} shows ${shown}: a render that started before it was sent`)
      }
      assert.ok(renders <= 2, `${renders} renders`)
    })
  }
})
