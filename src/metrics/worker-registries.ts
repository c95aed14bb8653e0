/**
 * The primary's memory of its workers' registries, so that a scraped counter never goes down. A worker
 * late for a scrape counts with its last answer; a worker that exited leaves its counters and
 * histograms, as last seen, in the sum for good, as one process keeps them while it runs. Otherwise
 * every worker restart drops the sum, Prometheus reads the drop as a counter reset, and rate() shows a
 * spike the size of the surviving workers' totals.
 */
import type { Worker } from 'node:cluster'
import { AggregatorRegistry } from 'prom-client'
import type { RegistryJson } from './render.js'

/** Metric types whose values only grow. prom-client's types declare a numeric enum; the values are these names. */
const CUMULATIVE_TYPES = new Set(['counter', 'histogram'])

export class WorkerRegistries {
  private readonly latest = new Map<Worker, RegistryJson>()
  /** Counters and histograms of the workers that exited, summed. */
  private departed: RegistryJson = []
  /** Exits are folded into `departed` one at a time: each fold starts from the last one's result. */
  private folding = Promise.resolve()

  /** What one scrape sums: `answers[i]` is `workers[i]`'s registry, or undefined when it was late. */
  forScrape(workers: readonly Worker[], answers: readonly (RegistryJson | undefined)[]): RegistryJson[] {
    workers.forEach((worker, i) => answers[i] && this.latest.set(worker, answers[i]))
    return [this.departed, ...this.latest.values()]
  }

  exited(worker: Worker): void {
    this.folding = this.folding.then(async () => {
      const last = this.latest.get(worker)
      if (!last) return
      const cumulative = last.filter((metric) => CUMULATIVE_TYPES.has(metric.type as unknown as string))
      // The worker's last registry stays in the sum until its counters are in `departed`.
      this.departed = await AggregatorRegistry.aggregate([this.departed, cumulative]).getMetricsAsJSON()
      this.latest.delete(worker)
    })
  }
}
