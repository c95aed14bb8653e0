/**
 * The primary's memory of its workers' registries, so that a scraped counter never goes down. A worker
 * late for a scrape counts with its last answer; a worker that exited leaves its counters and
 * histograms, as last seen, in the sum for good, as one process keeps them while it runs. Otherwise
 * every worker restart drops the sum, Prometheus reads the drop as a counter reset, and rate() shows a
 * spike the size of the surviving workers' totals. Their series of a route that no serving worker's
 * config has any more go, as a reload drops them from each worker's own (metrics/removed-routes.ts).
 */
import type { Worker } from 'node:cluster'
import { AggregatorRegistry } from 'prom-client'
import { withoutRemovedRoutes } from '../metrics/removed-routes.js'
import type { RegistryJson } from '../metrics/render.js'
import type { WorkerMetrics } from './messages.js'

/** Metric types whose values only grow. prom-client's types declare a numeric enum; the values are these names. */
const CUMULATIVE_TYPES = new Set(['counter', 'histogram'])
/** Exited workers' registries kept apart before they are summed into one (a worker that keeps dying). */
const MAX_DEPARTED = 8

export class WorkerRegistries {
  private readonly latest = new Map<Worker, WorkerMetrics>()
  private readonly exited = new WeakSet<Worker>()
  /** Counters and histograms of the workers that exited: each one's, or several already summed. */
  private departed: RegistryJson[] = []
  /** The routes some serving worker served at the last scrape; undefined before any answered. */
  private served: ReadonlySet<string> | undefined
  private summing = false

  /** What one scrape sums: `answers[i]` is `workers[i]`'s, or undefined when it was late. */
  forScrape(workers: readonly Worker[], answers: readonly (WorkerMetrics | undefined)[]): RegistryJson[] {
    workers.forEach((worker, i) => {
      // A worker that exited while this scrape waited is in `departed` already.
      if (answers[i] && !this.exited.has(worker)) this.latest.set(worker, answers[i])
    })
    // A route stays while any worker serves it: one whose reload failed serves the older config. With
    // no worker serving (all replaced at once), nothing is known to be removed.
    if (this.latest.size > 0) {
      this.served = new Set([...this.latest.values()].flatMap((answer) => answer.routes))
      this.departed = this.departed.map((registry) => this.withoutRemovedRoutes(registry))
    }
    return [...this.departed, ...[...this.latest.values()].map((answer) => answer.registry)]
  }

  workerExited(worker: Worker): void {
    this.exited.add(worker)
    const last = this.latest.get(worker)
    this.latest.delete(worker)
    if (!last) return
    this.departed.push(last.registry.filter((metric) => CUMULATIVE_TYPES.has(metric.type as unknown as string)))
    if (this.departed.length > MAX_DEPARTED) void this.sumDeparted()
  }

  private withoutRemovedRoutes(registry: RegistryJson): RegistryJson {
    return this.served ? withoutRemovedRoutes(registry, this.served) : registry
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
      // A scrape meanwhile may have dropped removed routes from the registries summed.
      this.departed = [this.withoutRemovedRoutes(sum), ...this.departed.slice(summed)]
    } catch {
      // Kept apart, and summed at every scrape instead.
    } finally {
      this.summing = false
    }
  }
}
