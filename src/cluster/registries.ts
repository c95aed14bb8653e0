/**
 * The primary's memory of its workers' registries, so that a scraped counter never goes down. A worker
 * late for a scrape counts with its last answer; a worker that exited leaves its counters and
 * histograms, as last seen, in the sum for good, as one process keeps them while it runs. Otherwise
 * every worker restart drops the sum, Prometheus reads the drop as a counter reset, and rate() shows a
 * spike the size of the surviving workers' totals.
 */
import type { Worker } from 'node:cluster'
import { AggregatorRegistry } from 'prom-client'
import type { RegistryJson } from '../metrics/render.js'

/** Metric types whose values only grow. prom-client's types declare a numeric enum; the values are these names. */
const CUMULATIVE_TYPES = new Set(['counter', 'histogram'])
/** Exited workers' registries kept apart before they are summed into one (a worker that keeps dying). */
const MAX_DEPARTED = 8

export class WorkerRegistries {
  private readonly latest = new Map<Worker, RegistryJson>()
  private readonly exited = new WeakSet<Worker>()
  /** Counters and histograms of the workers that exited: each one's, or several already summed. */
  private departed: RegistryJson[] = []
  private summing = false

  /** What one scrape sums: `answers[i]` is `workers[i]`'s registry, or undefined when it was late. */
  forScrape(workers: readonly Worker[], answers: readonly (RegistryJson | undefined)[]): RegistryJson[] {
    workers.forEach((worker, i) => {
      // A worker that exited while this scrape waited is in `departed` already.
      if (answers[i] && !this.exited.has(worker)) this.latest.set(worker, answers[i])
    })
    return [...this.departed, ...this.latest.values()]
  }

  workerExited(worker: Worker): void {
    this.exited.add(worker)
    const last = this.latest.get(worker)
    this.latest.delete(worker)
    if (!last) return
    this.departed.push(last.filter((metric) => CUMULATIVE_TYPES.has(metric.type as unknown as string)))
    if (this.departed.length > MAX_DEPARTED) void this.sumDeparted()
  }

  /**
   * Replaces the registries departed so far by their sum. prom-client sums asynchronously; exits in the
   * meantime append after them, and are kept.
   */
  private async sumDeparted(): Promise<void> {
    if (this.summing) return
    this.summing = true
    const summed = this.departed.length
    try {
      const sum = await AggregatorRegistry.aggregate(this.departed.slice(0, summed)).getMetricsAsJSON()
      this.departed = [sum, ...this.departed.slice(summed)]
    } catch {
      // Kept apart, and summed at every scrape instead.
    } finally {
      this.summing = false
    }
  }
}
