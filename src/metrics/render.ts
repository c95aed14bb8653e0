/**
 * Where a scrape's text comes from: this process' registry, or (with workers) the primary's
 * aggregation of every worker's registry.
 */
import { AggregatorRegistry, Registry, type RegistryContentType } from 'prom-client'
import { coalesce } from '../coalesce.js'

/**
 * The least time between the starts of two renders of one format, whatever the rate of scrapes
 * (coalesce.ts): a flood of them renders at most four times a second per format, a small share of
 * one core even for a large registry (a small one renders in half a millisecond), while a Prometheus
 * that scrapes every second or slower (15 s is usual) never waits for it. Every scrape still gets a
 * render that started after it came in.
 */
const RENDER_INTERVAL_MS = 250

interface Scrape {
  readonly contentType: string
  readonly body: string
}

export interface MetricsSource {
  /** OpenMetrics when asked for, else the Prometheus text format. */
  render(openMetrics: boolean): Promise<Scrape>
}

/**
 * The renders of every registry of the process, one after the other: prom-client fixes the format per
 * registry, and an OpenMetrics render (Prometheus asks for it first) renames counters in place (below),
 * the process metrics too, which every gateway's registry shares (metrics.ts processMetrics); a text
 * render beside it would read, and then put back, the names it changed.
 */
let scrapes: Promise<unknown> = Promise.resolve()

/** `beforeRender` runs at the start of each render, before any metric is read. */
export function registrySource(registry: Registry<RegistryContentType>, beforeRender: () => void = () => {}): MetricsSource {
  return coalescedPerFormat((openMetrics) => {
    const contentType = contentTypeOf(openMetrics)
    const next = scrapes.then(async () => {
      beforeRender()
      // An OpenMetrics render strips `_total` from counter names in place (prom-client 15, fixed by
      // the still-open siimon/prom-client#829); put the names back so text scrapes keep the documented names.
      const names = registry.getMetricsAsArray().map((metric) => [metric, metric.name] as const)
      registry.setContentType(contentType)
      try {
        return { contentType, body: await registry.metrics() }
      } finally {
        for (const [metric, name] of names) (metric as { name: string }).name = name
      }
    })
    scrapes = next.catch(() => undefined)
    return next
  })
}

/** One process' registry as getMetricsAsJSON() gives it, which is what a worker sends the primary. */
export type RegistryJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>

/**
 * The primary's view with workers: one scrape, every worker's registry summed by each metric's
 * aggregator into a registry of its own, in either format.
 */
export function clusterSource(workerMetrics: () => Promise<RegistryJson[]>): MetricsSource {
  // One round of questions to the workers per render of a format, whatever the rate of scrapes.
  return coalescedPerFormat(async (openMetrics) => {
    const contentType = contentTypeOf(openMetrics)
    const answers = await workerMetrics()
    const summed = AggregatorRegistry.aggregate(openMetrics ? answers.map(withOpenMetricsCounterNames) : answers)
    summed.setContentType(contentType)
    return { contentType, body: await summed.metrics() }
  })
}

/**
 * `render` behind coalesce(), once per format: a text scrape cannot share an OpenMetrics render, nor
 * wait for one's interval.
 */
function coalescedPerFormat(render: (openMetrics: boolean) => Promise<Scrape>): MetricsSource {
  const text = coalesce(() => render(false), { minIntervalMs: RENDER_INTERVAL_MS })
  const openMetricsText = coalesce(() => render(true), { minIntervalMs: RENDER_INTERVAL_MS })
  return { render: (openMetrics) => (openMetrics ? openMetricsText() : text()) }
}

function contentTypeOf(openMetrics: boolean): RegistryContentType {
  return openMetrics ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE
}

/**
 * OpenMetrics names a counter without `_total`, which only its samples carry. prom-client renders a
 * registry's own counters so, but takes an aggregated counter's name as it is and adds `_total` to the
 * samples again (`portcullis_requests_total_total`): the name it is given is the one without.
 */
function withOpenMetricsCounterNames(metrics: RegistryJson): RegistryJson {
  // String(): prom-client's types declare `type` a numeric enum; the JSON holds the name, 'counter'.
  return metrics.map((metric) => (String(metric.type) === 'counter' ? { ...metric, name: metric.name.replace(/_total$/, '') } : metric))
}
