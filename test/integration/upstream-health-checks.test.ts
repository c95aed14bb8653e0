/**
 * Active health checks of an upstream's urls: a url whose check fails (an answer other than 2xx or
 * 3xx, or than its `status`, a body its `body` does not match, none within the timeout, a TLS
 * handshake that fails) is left out of the turn with nothing sent to it, and is back once a check
 * passes (with slowStart, at a tenth of its share at first); the checks go through the url's pool, with the route's CA, name and client
 * certificate; a reload keeps what they said of a url while its check stays, and stops the checks it
 * drops, with their series.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { once } from 'node:events'
import http from 'node:http'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { httpRequest } from '../helpers/client.js'
import { eventually, loggedAfter, seriesSum, seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback, startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js'

const CHECK = 'healthCheck: { path: /healthz, interval: 100ms, timeout: 300ms }'

/** A plain upstream that answers with its name, and its health check with `healthStatus` (or never, with 0) and `healthBody`. */
interface PlainUpstream {
  readonly url: string
  healthStatus: number
  healthBody: string
  /** The checks it got: their target, Host and User-Agent, and when (Date.now()). */
  readonly checks: { target: string; host: string; userAgent: string; at: number }[]
  readonly server: http.Server
}

async function startPlainUpstream(name: string): Promise<PlainUpstream> {
  const upstream: Omit<PlainUpstream, 'url'> = {
    healthStatus: 200,
    healthBody: '{"status":"UP"}',
    checks: [],
    server: http.createServer((req, res) => {
      if (req.url !== '/healthz') return res.end(name)
      upstream.checks.push({ target: req.url, host: req.headers.host ?? '', userAgent: req.headers['user-agent'] ?? '', at: Date.now() })
      if (upstream.healthStatus !== 0) res.writeHead(upstream.healthStatus).end(upstream.healthBody)
    }),
  }
  const port = await listenOnLoopback(upstream.server)
  return Object.assign(upstream, { url: `http://127.0.0.1:${port}` })
}

describe('upstream health checks', () => {
  let pki: TestPki
  let one: PlainUpstream
  let two: PlainUpstream
  let silent: PlainUpstream
  let three: PlainUpstream
  let four: PlainUpstream
  let five: PlainUpstream
  let mutual: EchoUpstream
  let wrongName: EchoUpstream
  let gw: TestGateway
  const config = (checked: string) => `
listen: { http: 127.0.0.1:0, https: 127.0.0.1:0 }
routes:
  - { name: checked, host: checked.test, upstream: { url: ['${one.url}/base', '${two.url}/base'], ${checked} } }
  - { name: steady, host: steady.test, upstream: { url: ['${three.url}', '${one.url}'], healthCheck: { path: /healthz, interval: 50ms, fails: 3, passes: 2 } } }
  - { name: warming, host: warming.test, upstream: { url: ['${four.url}', '${one.url}'], slowStart: 1h, healthCheck: { path: /healthz, interval: 100ms } } }
  - { name: strict, host: strict.test, upstream: { url: ['${four.url}', '${one.url}'], healthCheck: { path: /healthz, interval: 100ms, status: [200, 204], host: api.example.com } } }
  - { name: bodied, host: bodied.test, upstream: { url: ['${five.url}', '${one.url}'], healthCheck: { path: /healthz, interval: 100ms, body: '"status":\\s*"UP"' } } }
  - { name: silent, host: silent.test, upstream: { url: ['${silent.url}', '${one.url}'], healthCheck: { path: /healthz, interval: 100ms, timeout: 200ms } } }
  - { name: pass, host: pass.test, tls: passthrough, upstream: { url: ['tcp://127.0.0.1:1', 'tcp://127.0.0.1:${wrongName.port}'], healthCheck: { interval: 100ms } } }
  - name: tls
    host: tls.test
    upstream:
      url: ['https://127.0.0.1:${mutual.port}', 'https://127.0.0.1:${wrongName.port}']
      serverName: up.test
      ca: ${pki.caS.certFile}
      cert: ${pki.cliA.certFile}
      key: ${pki.cliA.keyFile}
      ${CHECK}
`

  before(async () => {
    pki = await makeTestPki()
    ;[one, two, silent, three, four, five] = (await Promise.all(['one', 'two', 'silent', 'three', 'four', 'five'].map(startPlainUpstream))) as [PlainUpstream, PlainUpstream, PlainUpstream, PlainUpstream, PlainUpstream, PlainUpstream]
    silent.healthStatus = 0
    mutual = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key, clientCA: pki.caA.cert })
    wrongName = await startEchoUpstream({ cert: pki.upWrongName.cert, key: pki.upWrongName.key })
    gw = await startGateway(config(CHECK))
  })
  after(async () => {
    await gw.close()
    for (const { server } of [one, two, silent, three, four, five]) {
      server.closeAllConnections()
      server.close()
    }
    await Promise.all([mutual.close(), wrongName.close()])
    await pki.cleanup()
  })

  const get = async (host: string) => (await httpRequest({ port: gw.ports.http!, host, path: '/' })).body
  const answers = async (host: string, count: number) => {
    const bodies = []
    for (let i = 0; i < count; i++) bodies.push(await get(host))
    return bodies.sort()
  }
  const up = (route: string, url: string) => seriesValue(gw, `portcullis_upstream_url_up{route="${route}",url="${url}"}`)
  const isUp = async (route: string, url: string, expected: 0 | 1) => (await up(route, url)) === expected

  it('asks each url for the path as written, with its host and a user agent of its own', async () => {
    await eventually(async () => one.checks.length > 0 && two.checks.length > 0)
    const { at: _at, ...first } = one.checks[0]!
    assert.deepEqual(first, { target: '/healthz', host: one.url.slice('http://'.length), userAgent: 'portcullis-health-check' })
    assert.deepEqual(await answers('checked.test', 4), ['one', 'one', 'two', 'two'])
  })

  it('leaves out a url whose check fails until one passes', async () => {
    const since = gw.logs.length
    two.healthStatus = 503
    const failed = await loggedAfter(gw, since, 'upstream url failed its health check; it is left out until a check passes', (line) => line.route === 'checked')
    assert.deepEqual([failed.upstream, failed.check, failed.status], [`${two.url}/base`, '/healthz', 503])
    assert.equal(await up('checked', `${two.url}/base`), 0)
    assert.ok((await seriesValue(gw, `portcullis_upstream_health_checks_total{route="checked",url="${two.url}/base",result="fail"}`)) >= 1)
    assert.deepEqual(await answers('checked.test', 4), ['one', 'one', 'one', 'one'])

    two.healthStatus = 302
    const passed = await loggedAfter(gw, since, 'upstream url passed its health check; it is back in turn', (line) => line.route === 'checked')
    assert.equal(passed.upstream, `${two.url}/base`)
    assert.equal(await up('checked', `${two.url}/base`), 1, 'a redirect passes')
    assert.deepEqual(await answers('checked.test', 4), ['one', 'one', 'two', 'two'])
  })

  it('with host, sends each check with that Host', async () => {
    await eventually(async () => four.checks.some(({ host }) => host === 'api.example.com'))
    assert.ok(four.checks.some(({ host }) => host === four.url.slice('http://'.length)), "the checks of another route's, with the url's")
  })

  it('with status, passes only those statuses: a redirect fails', async () => {
    const since = gw.logs.length
    four.healthStatus = 302
    const failed = await loggedAfter(gw, since, 'upstream url failed its health check; it is left out until a check passes', (line) => line.route === 'strict')
    assert.equal(failed.status, 302)
    assert.deepEqual(await answers('strict.test', 2), ['one', 'one'])
    four.healthStatus = 204
    await loggedAfter(gw, since, 'upstream url passed its health check; it is back in turn', (line) => line.route === 'strict')
    assert.deepEqual(await answers('strict.test', 2), ['four', 'one'])
  })

  it('with body, passes only an answer whose body matches it', async () => {
    const since = gw.logs.length
    await eventually(async () => five.checks.length > 0)
    assert.deepEqual(await answers('bodied.test', 2), ['five', 'one'], 'in turn while its body matches')
    five.healthBody = '{"status":"DOWN"}'
    const failed = await loggedAfter(gw, since, 'upstream url failed its health check; it is left out until a check passes', (line) => line.route === 'bodied')
    assert.deepEqual([failed.status, failed.body], [200, 'did not match'])
    assert.deepEqual(await answers('bodied.test', 2), ['one', 'one'])
    five.healthBody = `{"status": "UP", "padding": "${'x'.repeat(100_000)}"}`
    await loggedAfter(gw, since, 'upstream url passed its health check; it is back in turn', (line) => line.route === 'bodied')
    assert.deepEqual(await answers('bodied.test', 2), ['five', 'one'], 'a match in the first 64 KiB of a longer body')
  })

  it('with slowStart, gives a url whose check passes after failing a tenth of its share at first', async () => {
    const since = gw.logs.length
    const onWarming = (line: Record<string, unknown>) => line.route === 'warming'
    four.healthStatus = 503
    await loggedAfter(gw, since, 'upstream url failed its health check; it is left out until a check passes', onWarming)
    four.healthStatus = 200
    await loggedAfter(gw, since, 'upstream url passed its health check; it is back in turn', onWarming)
    const toFour = (await answers('warming.test', 22)).filter((body) => body === 'four').length
    assert.ok(toFour >= 1 && toFour <= 3, `about 2 of 22 requests, not 11: ${toFour}`)
    const weight = await seriesValue(gw, `portcullis_upstream_url_weight{route="warming",url="${four.url}"}`)
    assert.ok(weight >= 0.1 && weight < 0.2, `a tenth of its weight, and growing: ${weight}`)
  })

  it('leaves a url out after `fails` failed checks in a row, and takes it back after `passes`', async () => {
    const since = gw.logs.length
    /** The checks `three` answered since the `from`th, up to the time of a log line (which follows its last check). */
    const checksUntil = (from: number, line: Record<string, unknown>) => three.checks.slice(from).filter(({ at }) => at <= Number(line.time)).length
    const healthy = three.checks.length
    three.healthStatus = 503
    const failed = await loggedAfter(gw, since, 'upstream url failed its health check; it is left out until a check passes', (line) => line.route === 'steady')
    assert.equal(checksUntil(healthy, failed), 3)
    const failing = three.checks.length
    three.healthStatus = 200
    const passed = await loggedAfter(gw, since, 'upstream url passed its health check; it is back in turn', (line) => line.route === 'steady')
    assert.equal(checksUntil(failing, passed), 2)
  })

  it('fails a url that does not answer its check within the timeout', async () => {
    const failed = await loggedAfter(gw, 0, 'upstream url failed its health check; it is left out until a check passes', (line) => line.route === 'silent')
    assert.deepEqual([failed.upstream, failed.reason], [silent.url, 'timeout'])
    assert.equal(await up('silent', silent.url), 0)
    assert.deepEqual(await answers('silent.test', 3), ['one', 'one', 'one'])
  })

  it("checks an https url through its pool: the route's CA, server name and client certificate", async () => {
    await eventually(() => isUp('tls', `https://127.0.0.1:${wrongName.port}`, 0))
    const failed = await loggedAfter(gw, 0, 'upstream url failed its health check; it is left out until a check passes', (line) => line.route === 'tls')
    assert.equal(failed.reason, 'hostname_mismatch')
    assert.equal(wrongName.requests.length, 0)
    assert.equal(await up('tls', `https://127.0.0.1:${mutual.port}`), 1)
    assert.ok(mutual.requests.includes('/healthz'))
    assert.equal(mutual.connections[0], 'alice', 'the check presented the route\'s client certificate')
    for (let i = 0; i < 3; i++) assert.equal(JSON.parse(await get('tls.test')).clientCertCN, 'alice')
    assert.equal(wrongName.requests.length, 0, 'no request was sent to the url that fails its check')
  })

  it("checks a passthrough route's urls with a TCP connect, and sends its connections to the urls that pass", async () => {
    await eventually(() => isUp('pass', 'tcp://127.0.0.1:1', 0))
    const failed = await loggedAfter(gw, 0, 'upstream url failed its health check; it is left out until a check passes', (line) => line.route === 'pass')
    assert.deepEqual([failed.check, failed.reason], ['tcp connect', 'connection_refused'])
    for (let i = 0; i < 2; i++) {
      const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'pass.test', ca: pki.caS.cert, checkServerIdentity: () => undefined })
      await once(socket, 'secureConnect')
      assert.equal(socket.getPeerCertificate().subject.CN, 'wrong.test')
      socket.destroy()
    }
    assert.equal(await seriesValue(gw, 'portcullis_passthrough_connections_total{route="pass",result="ok",reason="none"}'), 2)
    const unreachable = (await gw.gateway.metrics.registry.metrics()).includes('portcullis_passthrough_connections_total{route="pass",result="error"')
    assert.equal(unreachable, false, 'no connection tried the url left out')
  })

  // A check that hangs for its timeout after the reload: until it ends, only what was kept decides.
  it('keeps a url out across a reload that keeps its check, and checks it afresh where the path changed', async () => {
    const reloadWith = async (check: string) => {
      await writeFile(gw.configFile, config(check))
      assert.equal((await gw.gateway.reload()).ok, true)
    }
    two.healthStatus = 0
    await eventually(() => isUp('checked', `${two.url}/base`, 0))
    await reloadWith('healthCheck: { path: /healthz, interval: 150ms, timeout: 300ms }')
    assert.equal(await up('checked', `${two.url}/base`), 0)
    assert.deepEqual(await answers('checked.test', 4), ['one', 'one', 'one', 'one'])

    await reloadWith('healthCheck: { path: /ready, interval: 150ms, timeout: 300ms }')
    assert.equal(await up('checked', `${two.url}/base`), 1)
    assert.deepEqual(await answers('checked.test', 4), ['one', 'one', 'two', 'two'])
    two.healthStatus = 200
    await reloadWith(CHECK)
  })

  it('stops the checks a reload drops, takes their urls back in turn, and drops their series', async () => {
    two.healthStatus = 500
    await eventually(() => isUp('checked', `${two.url}/base`, 0))
    const checkSeries = `portcullis_upstream_health_checks_total{route="checked",url="${two.url}/base"`
    assert.ok((await seriesSum(gw, checkSeries)) > 0)
    await writeFile(gw.configFile, config(''))
    assert.equal((await gw.gateway.reload()).ok, true)
    assert.equal(await up('checked', `${two.url}/base`), 1)
    assert.equal((await gw.gateway.metrics.registry.metrics()).includes(checkSeries), false, 'the series of the checks dropped are gone')
    assert.ok((await seriesSum(gw, 'portcullis_upstream_health_checks_total{route="steady"')) > 0, 'the checks kept keep theirs')
    assert.deepEqual(await answers('checked.test', 4), ['one', 'one', 'two', 'two'])
    const checks = two.checks.length
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal(two.checks.length, checks, 'no check after the reload')
  })
})
