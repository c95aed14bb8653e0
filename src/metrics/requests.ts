/**
 * portcullis_requests_total and portcullis_request_duration_seconds change on every request, so they
 * are counted here in plain numbers and handed to prom-client when it is scraped. prom-client's own
 * inc() and observe() build and hash a label string on every call (even on a cached child), which
 * cost about 5 % of a proxied request in bench a; here a request costs two Map lookups on strings
 * that are already hashed, a bucket search, and a count by status code in a Map of numbers.
 */
import { Counter, type Metric, type Registry, type RegistryContentType } from 'prom-client'
import { isRemovedRoute } from './removed-routes.js'

interface Series {
  readonly route: string
  readonly method: string
  /** Observations per finite bucket, not cumulative; +Inf is `count`. */
  readonly buckets: Float64Array
  sum: number
  count: number
  /** Requests per status code not yet added to the counter. */
  readonly uncounted: Map<number, number>
}

interface RequestMetricsOptions {
  readonly buckets: readonly number[]
  readonly registers: readonly Registry<RegistryContentType>[]
}

export class RequestMetrics {
  /** The prom-client counter: tests and the cluster primary read it like any other. */
  readonly requests: Counter<'route' | 'method' | 'code'>
  private readonly bounds: readonly number[]
  private readonly byRoute = new Map<string, Map<string, Series>>()

  constructor(options: RequestMetricsOptions) {
    this.bounds = options.buckets
    const series = () => this.allSeries()
    this.requests = new Counter({
      name: 'portcullis_requests_total',
      help: 'HTTP requests answered, by route, method and status code.',
      labelNames: ['route', 'method', 'code'] as const,
      registers: [...options.registers],
      collect() {
        for (const s of series()) {
          for (const [code, count] of s.uncounted) this.inc({ route: s.route, method: s.method, code: String(code) }, count)
          s.uncounted.clear()
        }
      },
    })
    const histogram = durationHistogram(this.bounds, series, () => this.byRoute.clear())
    // A registry needs only name, help, type, aggregator, get() and reset() of a metric.
    for (const registry of options.registers) registry.registerMetric(histogram as unknown as Metric)
  }

  /** `route` and `method` are closed label values (route names, methodLabel()). */
  record(route: string, method: string, code: number, seconds: number): void {
    let byMethod = this.byRoute.get(route)
    if (!byMethod) this.byRoute.set(route, (byMethod = new Map()))
    let series = byMethod.get(method)
    if (!series) {
      series = { route, method, buckets: new Float64Array(this.bounds.length), sum: 0, count: 0, uncounted: new Map() }
      byMethod.set(method, series)
    }
    let bucket = 0
    while (bucket < this.bounds.length && seconds > this.bounds[bucket]!) bucket++
    if (bucket < this.bounds.length) series.buckets[bucket]!++
    series.sum += seconds
    series.count++
    series.uncounted.set(code, (series.uncounted.get(code) ?? 0) + 1)
  }

  /** A reload removed routes (removed-routes.ts): their counts go, those not yet scraped with them. */
  dropRemovedRoutes(served: ReadonlySet<string>): void {
    for (const route of this.byRoute.keys()) if (isRemovedRoute(route, served)) this.byRoute.delete(route)
  }

  private *allSeries(): Iterable<Series> {
    for (const byMethod of this.byRoute.values()) yield* byMethod.values()
  }
}

/** The histogram as prom-client's registry and cluster aggregator read a metric (`get()`). */
function durationHistogram(bounds: readonly number[], series: () => Iterable<Series>, reset: () => void) {
  const name = 'portcullis_request_duration_seconds'
  return {
    name,
    help: 'Time from request received to response finished, by route and method.',
    type: 'histogram',
    aggregator: 'sum',
    reset,
    async get() {
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = []
      for (const { route, method, buckets, sum, count } of series()) {
        let cumulative = 0
        bounds.forEach((le, i) => {
          cumulative += buckets[i]!
          values.push({ labels: { le, route, method }, value: cumulative, metricName: `${name}_bucket` })
        })
        values.push({ labels: { le: '+Inf', route, method }, value: count, metricName: `${name}_bucket` })
        values.push({ labels: { route, method }, value: sum, metricName: `${name}_sum` })
        values.push({ labels: { route, method }, value: count, metricName: `${name}_count` })
      }
      return { name, help: this.help, type: this.type, aggregator: this.aggregator, values }
    },
  }
}
