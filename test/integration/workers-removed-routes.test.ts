/**
 * `workers: 2`: the series of a route that a reload removed leave the primary's scrape, those a worker
 * that exited counted included, and a route that comes back starts from 0; a reload that fails
 * removes nothing.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { httpRequest } from '../helpers/client.js'
import { eventually, metricNames, routeCounts, routeSeries, seriesIn } from '../helpers/gateway.js'
import { liveWorkers, startWorkersInFront, type WorkersInFront } from '../helpers/workers.js'

describe('workers: metrics of a route that a reload removed', () => {
  let workers: WorkersInFront | undefined
  let withB: string
  let withoutB: string

  before(async () => {
    workers = await startWorkersInFront(['w.test', 'b.test'])
    withB = workers.config
    withoutB = withB.replace(/^.*b\.test.*\n/m, '')
  })
  after(async () => {
    if (workers) assert.equal(await workers.stop(), 0)
  })

  const scrape = async () => (await httpRequest({ port: workers!.ports.admin, path: '/metrics' })).body
  const get = async (host: string) => assert.equal((await httpRequest({ port: workers!.ports.http, host })).status, 200)
  const reload = async (config: string) => {
    await writeFile(workers!.configFile, config)
    return (await httpRequest({ port: workers!.ports.admin, method: 'POST', path: '/reload' })).status
  }
  const requestsOf = (text: string, route: string) => seriesIn(text, `portcullis_requests_total{route="${route}",method="GET",code="200"}`)

  it("drops them, a replaced worker's counts included, on a reload that succeeds only", { timeout: 60_000 }, async () => {
    const { gateway } = workers!
    // The primary hands connections round-robin: each worker counts requests of both routes.
    for (let i = 0; i < 3; i++) for (const host of ['w.test', 'w.test', 'b.test', 'b.test']) await get(host)
    // The primary keeps a worker's counts as its last answer to a scrape showed them.
    assert.deepEqual([requestsOf(await scrape(), 'w.test'), requestsOf(await scrape(), 'b.test')], [6, 6])
    const [victim] = liveWorkers(gateway)
    const since = gateway.logs.length
    process.kill(victim!, 'SIGKILL')
    await gateway.logged('portcullis is serving', (record) => record.worker !== undefined, since)
    await eventually(async () => seriesIn(await scrape(), 'portcullis_workers{state="serving"}') === 2, 10_000, 'serving again')
    const before = await scrape()
    assert.deepEqual([requestsOf(before, 'w.test'), requestsOf(before, 'b.test')], [6, 6], 'the exited worker counts too')

    assert.equal(await reload(`${withoutB}  - { host: [oops\n`), 422)
    assert.deepEqual(routeCounts(await scrape(), 'b.test'), routeCounts(before, 'b.test'), 'a failed reload removes nothing')

    assert.equal(await reload(withoutB), 200)
    const after = await scrape()
    assert.deepEqual(routeSeries(after, 'b.test'), [], after)
    assert.deepEqual(routeCounts(after, 'w.test'), routeCounts(before, 'w.test'))

    assert.equal(await reload(withB), 200)
    // Counted from 0 by every worker: the series of its requests refused by limits.requests alone,
    // beside the state and weight of its url.
    const comeBack = await scrape()
    const expected = new Set(['portcullis_overload_rejections_total', 'portcullis_upstream_url_up', 'portcullis_upstream_url_weight'])
    assert.deepEqual(metricNames(routeSeries(comeBack, 'b.test')), expected, comeBack)
    assert.equal(seriesIn(comeBack, 'portcullis_overload_rejections_total{limit="requests",route="b.test"}'), 0)
    await get('b.test')
    assert.equal(requestsOf(await scrape(), 'b.test'), 1)
  })
})
