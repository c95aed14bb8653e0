/**
 * The admin app on its own (supertest): health, readiness, metrics formats and reload answers.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import request from 'supertest'
import { createAdminApp } from '../../src/admin/app.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { clusterSource, registrySource, type RegistryJson } from '../../src/metrics/render.js'
import { eventually } from '../helpers/gateway.js'

const SKIPPED_VERIFY = 'routes.yaml:7:9 routes[0].upstream.insecureSkipVerify: upstream certificate verification is off'

describe('admin app', () => {
  const metrics = createMetrics()
  let ready = false
  let reloadOk = true
  const app = createAdminApp({
    logger: pino({ level: 'silent' }),
    metrics: registrySource(metrics.registry),
    isReady: () => ready,
    reload: async () => (reloadOk ? { ok: true, errors: [], warnings: [SKIPPED_VERIFY] } : { ok: false, errors: ['routes.yaml:3:5 listen: bad'], warnings: [] }),
  })

  it('answers a method a path does not take with 405 and the methods it does', async () => {
    await request(app).get('/reload').expect(405).expect('allow', 'POST')
    await request(app).post('/metrics').expect(405).expect('allow', 'GET, HEAD')
  })

  it('answers a path it does not serve 404 in plain text, naming the ones it does, not with an HTML page', async () => {
    for (const path of ['/', '/nowhere']) {
      const answer = await request(app).get(path).expect(404).expect('content-type', /^text\/plain/)
      assert.equal(answer.text, 'not found: the admin listener serves GET /healthz, GET /readyz, GET /metrics, POST /reload\n')
    }
  })

  it('/healthz answers 200 whenever the process runs', async () => {
    await request(app).get('/healthz').expect(200, 'ok\n')
  })

  it('/readyz answers 503 until the gateway is ready, then 200', async () => {
    ready = false
    await request(app).get('/readyz').expect(503)
    ready = true
    await request(app).get('/readyz').expect(200)
  })

  // catalogue MT-06
  it('/metrics serves the Prometheus text format, and OpenMetrics when asked', async () => {
    metrics.requests.inc({ route: 'r', method: 'GET', code: '200' })
    const text = await request(app).get('/metrics').expect(200)
    assert.match(text.headers['content-type']!, /^text\/plain; version=0\.0\.4/)
    assert.match(text.text, /^portcullis_requests_total\{route="r",method="GET",code="200"\} 1$/m)
    assert.match(text.text, /^portcullis_process_cpu_user_seconds_total /m)
    const open = await request(app).get('/metrics').set('accept', 'application/openmetrics-text; version=1.0.0').expect(200)
    assert.match(open.headers['content-type']!, /^application\/openmetrics-text/)
    assert.match(open.text, /# EOF\n$/)
    const again = await request(app).get('/metrics').expect(200)
    assert.doesNotMatch(again.text, /# EOF/, 'an OpenMetrics scrape does not change the next text scrape')
    assert.match(again.text, /^portcullis_requests_total\{/m, 'counters keep their _total name after an OpenMetrics scrape')
  })

  it('POST /reload answers 200 with the warnings on success and 422 with the errors on failure', async () => {
    reloadOk = true
    await request(app).post('/reload').expect(200, { result: 'success', errors: [], warnings: [SKIPPED_VERIFY] })
    reloadOk = false
    await request(app).post('/reload').expect(422, { result: 'failure', errors: ['routes.yaml:3:5 listen: bad'], warnings: [] })
  })

  // A page in a browser on the gateway's machine, or one whose name its attacker rebinds to the admin
  // address, could otherwise POST a reload: a browser sends Origin with every POST, curl none.
  it('refuses POST /reload from a web page (with an Origin) with 403, and reloads nothing', async () => {
    let reloads = 0
    const counting = createAdminApp({ logger: pino({ level: 'silent' }), metrics: registrySource(metrics.registry), isReady: () => true, reload: async () => (reloads++, { ok: true, errors: [], warnings: [] }) })
    for (const origin of ['http://evil.example', 'http://127.0.0.1:9901', 'null']) {
      await request(counting).post('/reload').set('origin', origin).set('content-type', 'text/plain').expect(403, 'POST /reload from a web page is refused: send it without an Origin header\n')
    }
    assert.equal(reloads, 0)
    await request(counting).post('/reload').expect(200)
    assert.equal(reloads, 1)
  })

  it('with workers, serves OpenMetrics when asked, each counter named as a single process names it', async () => {
    const worker = createMetrics({ defaultMetrics: false })
    worker.requests.inc({ route: 'r', method: 'GET', code: '200' })
    const answers = [await worker.registry.getMetricsAsJSON(), await worker.registry.getMetricsAsJSON()]
    const open = await clusterSource(async () => answers).render(true)
    assert.match(open.contentType, /^application\/openmetrics-text/)
    assert.match(open.body, /^# TYPE portcullis_requests counter$/m)
    assert.match(open.body, /^portcullis_requests_total\{route="r",method="GET",code="200"\} 2$/m)
    assert.doesNotMatch(open.body, /_total_total/)
    assert.match(open.body, /# EOF\n$/)
    const text = await clusterSource(async () => answers).render(false)
    assert.match(text.body, /^# TYPE portcullis_requests_total counter$/m, 'a text scrape keeps the _total name')
  })

  it('answers a handler that fails 500 in plain text, and logs the error, not its stack', async () => {
    const lines: string[] = []
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    })
    const failing = createAdminApp({
      logger: pino(sink),
      metrics: { render: () => Promise.reject(new Error('registry went away')) },
      isReady: () => true,
      reload: () => Promise.reject(new Error('reload blew up')),
    })
    const scrape = await request(failing).get('/metrics').expect(500, 'internal error\n')
    assert.match(scrape.headers['content-type']!, /^text\/plain/)
    await request(failing).post('/reload').expect(500, 'internal error\n')
    const logged = lines.map((line) => JSON.parse(line) as { path: string; code: string; error: { message: string; stack?: string } })
    assert.deepEqual(
      logged.map(({ path, code, error }) => [path, code, error.message, error.stack]),
      [
        ['/metrics', 'PCL_ERR_INTERNAL', 'registry went away', undefined],
        ['/reload', 'PCL_ERR_INTERNAL', 'reload blew up', undefined],
      ],
    )
  })

  it("with workers, asks them once for every scrape that comes during one round of questions", async () => {
    const rounds: ((answers: RegistryJson[]) => void)[] = []
    const source = clusterSource(() => new Promise((resolve) => rounds.push(resolve)))
    const first = source.render(false)
    await new Promise((resolve) => setImmediate(resolve))
    const during = Array.from({ length: 49 }, () => source.render(false))
    rounds[0]!([])
    await first
    const worker = createMetrics({ defaultMetrics: false })
    worker.requests.inc({ route: 'r', method: 'GET', code: '200' })
    // The next round starts once the render interval from the first has passed.
    await eventually(async () => rounds.length >= 2, 3000, 'a second round')
    assert.equal(rounds.length, 2, 'one round for the 49 scrapes')
    rounds[1]!([await worker.registry.getMetricsAsJSON()])
    for (const scrape of await Promise.all(during)) {
      assert.match(scrape.body, /^portcullis_requests_total\{route="r",method="GET",code="200"\} 1$/m, 'the answers of a round asked after the scrape came')
    }
  })
})
