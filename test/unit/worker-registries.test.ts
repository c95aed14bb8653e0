/**
 * The primary's sum of its workers' registries: a counter never goes down when a worker is late or
 * exits, and never counts a worker twice.
 */
import assert from 'node:assert/strict'
import type { Worker } from 'node:cluster'
import { describe, test } from 'node:test'
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client'
import type { RegistryJson } from '../../src/metrics/render.js'
import type { WorkerMetrics } from '../../src/cluster/messages.js'
import { WorkerRegistries } from '../../src/cluster/registries.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { eventually } from '../helpers/gateway.js'

/** A worker's answer: `served` requests counted, and a gauge of open connections. */
async function registry(served: number, open = 1): Promise<WorkerMetrics> {
  const r = new Registry()
  new Counter({ name: 'served_total', help: 'h', registers: [r] }).inc(served)
  new Gauge({ name: 'open', help: 'h', registers: [r] }).set(open)
  return { registry: await r.getMetricsAsJSON(), routes: [] }
}

async function sums(registries: RegistryJson[]): Promise<{ served?: number; open?: number }> {
  const text = await AggregatorRegistry.aggregate(registries).metrics()
  const value = (name: string) => {
    const match = new RegExp(`^${name} (\\d+)$`, 'm').exec(text)
    return match ? Number(match[1]) : undefined
  }
  return { served: value('served_total'), open: value('open') }
}

const workers = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i }) as unknown as Worker)

describe('WorkerRegistries', () => {
  test('counts a late worker with its last answer', async () => {
    const [a, b] = workers(2)
    const registries = new WorkerRegistries()
    registries.forScrape([a!, b!], [await registry(10), await registry(10)])
    assert.deepEqual(await sums(registries.forScrape([a!, b!], [await registry(12), undefined])), { served: 22, open: 2 })
  })

  test("keeps an exited worker's counters, not its gauges", async () => {
    const [a, b, c] = workers(3)
    const registries = new WorkerRegistries()
    registries.forScrape([a!, b!], [await registry(10), await registry(10)])
    registries.workerExited(a!)
    assert.deepEqual(await sums(registries.forScrape([b!, c!], [await registry(11), await registry(0)])), { served: 21, open: 2 })
  })

  test('counts a worker that exits while a scrape waits once, as last seen before it', async () => {
    const [a, b] = workers(2)
    const registries = new WorkerRegistries()
    registries.forScrape([a!, b!], [await registry(10), await registry(10)])
    // The next scrape asked both; a answered 15, then exited while b kept the scrape waiting.
    const answerOfA = await registry(15)
    registries.workerExited(a!)
    assert.deepEqual(await sums(registries.forScrape([a!, b!], [answerOfA, undefined])), { served: 20, open: 1 })
    assert.deepEqual(await sums(registries.forScrape([b!], [await registry(10)])), { served: 20, open: 1 })
  })

  test('sums the registries of many exited workers into one, and keeps their total', async () => {
    const many = workers(20)
    const registries = new WorkerRegistries()
    registries.forScrape(many, await Promise.all(many.map(() => registry(1))))
    for (const worker of many) registries.workerExited(worker)
    // prom-client sums them asynchronously.
    await eventually(async () => registries.forScrape([], []).length < many.length, 3000, 'the exited workers summed')
    const scraped = registries.forScrape([], [])
    assert.equal((await sums(scraped)).served, 20)
  })

  describe('the series a worker that exited kept of a route removed since', () => {
    /** A worker's answer: requests counted per route, and the routes its config serves. */
    async function routeCounts(counts: Record<string, number>, routes = Object.keys(counts).filter((route) => route !== '(none)')): Promise<WorkerMetrics> {
      const r = new Registry()
      const requests = new Counter({ name: 'requests_total', help: 'h', labelNames: ['route'], registers: [r] })
      for (const [route, count] of Object.entries(counts)) requests.inc({ route }, count)
      return { registry: await r.getMetricsAsJSON(), routes }
    }
    const summed = async (registries: RegistryJson[]) =>
      (await AggregatorRegistry.aggregate(registries).metrics()).split('\n').filter((line) => line.startsWith('requests_total{'))
    /** Workers a and b served routes x and y; a exited. */
    async function afterAnExit() {
      const [a, b, c] = workers(3)
      const registries = new WorkerRegistries()
      registries.forScrape([a!, b!], [await routeCounts({ x: 1, y: 2, '(none)': 3 }), await routeCounts({ x: 1, y: 2, '(none)': 3 })])
      registries.workerExited(a!)
      return { registries, b: b!, c: c! }
    }

    test('go once no serving worker serves it, and it starts from 0 when it comes back', async () => {
      const { registries, b } = await afterAnExit()
      // b's reload removed y, and its own series of y with it.
      assert.deepEqual(await summed(registries.forScrape([b], [await routeCounts({ x: 1, '(none)': 3 })])), [
        'requests_total{route="x"} 2',
        'requests_total{route="(none)"} 6',
      ])
      const back = await summed(registries.forScrape([b], [await routeCounts({ x: 1, y: 1, '(none)': 3 })]))
      assert.ok(back.includes('requests_total{route="y"} 1'), back.join('\n'))
    })

    test('stay while a worker serves it (its reload failed), or when no worker answers', async () => {
      const { registries, b, c } = await afterAnExit()
      const kept = 'requests_total{route="y"} 4'
      assert.ok((await summed(registries.forScrape([b, c], [await routeCounts({ x: 1, y: 2 }), await routeCounts({ x: 1 })]))).includes(kept))
      registries.workerExited(b)
      registries.workerExited(c)
      assert.ok((await summed(registries.forScrape([], []))).includes(kept))
    })
  })
})

test('sums portcullis_overload_rejections_total over the workers: limits are per worker, the rejections add up', async () => {
  const worker = async (connections: number, requests: number) => {
    const { overloadRejections, registry } = createMetrics({ defaultMetrics: false })
    overloadRejections.inc({ limit: 'connections' }, connections)
    overloadRejections.inc({ limit: 'requests', route: 'a' }, requests)
    return registry.getMetricsAsJSON()
  }
  const text = await AggregatorRegistry.aggregate([await worker(2, 0), await worker(3, 7)]).metrics()
  assert.match(text, /^portcullis_overload_rejections_total\{limit="connections"\} 5$/m)
  assert.match(text, /^portcullis_overload_rejections_total\{limit="requests",route="a"\} 7$/m)
})
