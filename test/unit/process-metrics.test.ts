/**
 * prom-client's process and Node.js metrics are made once per process and registered in every
 * gateway's registry. Made per registry, their GC observer and event-loop delay monitor, which never
 * stop, held each registry, and the gateway whose metrics it reads, for the life of the process.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setImmediate as turn } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createMetrics } from '../../src/metrics/metrics.js'
import { registrySource } from '../../src/metrics/render.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

describe('process metrics', () => {
  it('are in the registry of every gateway', async () => {
    for (const metrics of [createMetrics(), createMetrics()]) {
      const text = await metrics.registry.metrics()
      assert.match(text, /^portcullis_process_cpu_user_seconds_total /m)
      assert.match(text, /^portcullis_nodejs_eventloop_lag_seconds /m)
    }
  })

  // An OpenMetrics render renames counters in place, and puts the names back after: a text render of
  // another registry beside it read the renamed ones, and put those back for good.
  it("keep their names in every registry's text scrape while another scrapes OpenMetrics", async () => {
    const registries = [createMetrics().registry, createMetrics().registry]
    const counterName = (body: string) => /^# TYPE (portcullis_process_cpu_user_seconds\w*) counter$/m.exec(body)?.[1]
    const [openMetrics, text] = await Promise.all([registrySource(registries[0]!).render(true), registrySource(registries[1]!).render(false)])
    assert.equal(counterName(openMetrics.body), 'portcullis_process_cpu_user_seconds')
    assert.equal(counterName(text.body), 'portcullis_process_cpu_user_seconds_total')
    const names = registries.map((registry) => registry.getMetricsAsArray().find((metric) => metric.name.startsWith('portcullis_process_cpu_user'))?.name)
    assert.deepEqual(names, ['portcullis_process_cpu_user_seconds_total', 'portcullis_process_cpu_user_seconds_total'], 'the names once both are done')
  })

  it('hold no registry: one no longer referenced is let go', async () => {
    const registries = Array.from({ length: 3 }, () => new WeakRef(createMetrics().registry))
    await turn()
    gc()
    await turn()
    gc()
    assert.equal(registries.filter((registry) => registry.deref() !== undefined).length, 0)
  })
})
