/**
 * The primary's own series, scraped beside its workers': how many workers it was told to keep, how
 * many serve, how many it has replaced, and whether it drains them. A worker that keeps failing to
 * start (a replacement after a bad edit of routes.yaml) leaves the gateway on fewer workers while
 * /readyz answers 200 for the others; these show it.
 */
import { Counter, Gauge, Registry } from 'prom-client'
import { drainingGauge } from '../metrics/metrics.js'
import type { RegistryJson } from '../metrics/render.js'

export interface WorkerPoolMetrics {
  /** Counts a worker replaced (it died, or the watchdog killed it). */
  readonly replacing: () => void
  /** The primary drains its workers to stop. */
  readonly draining: () => void
  readonly json: () => Promise<RegistryJson>
}

export function createWorkerPoolMetrics(configured: number, serving: () => number): WorkerPoolMetrics {
  const registry = new Registry()
  new Gauge({
    name: 'portcullis_workers',
    help: 'Worker processes of a gateway with workers: configured (the workers setting) and serving.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'configured' }, configured)
      this.set({ state: 'serving' }, serving())
    },
  })
  const replaced = new Counter({
    name: 'portcullis_worker_replacements_total',
    help: 'Workers that exited (died, or were killed as stuck) and were started again.',
    registers: [registry],
  })
  const draining = drainingGauge([registry])
  return { replacing: () => replaced.inc(), draining: () => draining.set(1), json: () => registry.getMetricsAsJSON() }
}
