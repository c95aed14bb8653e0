/**
 * The series of routes that a reload removed. A counter or histogram of a route keeps its series until
 * it is removed, so with routes added and removed all day /metrics would grow without bound and
 * dashboards list routes long gone: a successful reload drops every series whose route is no route of
 * the config it applied, and so does each scrape, for what requests in flight at the reload record
 * after it (Traefik drops those of removed routers and services; Envoy the stats of a
 * removed cluster). A route that comes back, or a renamed one, starts again from 0, a counter reset
 * that rate() and increase() take in their stride. `(none)`, the requests and handshakes no route
 * matched, is no route of any config and always stays.
 */
import type { Registry, RegistryContentType } from 'prom-client'
import { NO_ROUTE } from './labels.js'
import type { RegistryJson } from './render.js'

/** Label values as prom-client keeps and sends them. */
type Labels = Partial<Record<string, string | number>>

/** Whether a series labelled `route` belongs to no route of the config serving (`served`'s names). */
export function isRemovedRoute(route: Labels[string], served: ReadonlySet<string>): boolean {
  return typeof route === 'string' && route !== NO_ROUTE && !served.has(route)
}

/**
 * Drops the series of removed routes from every prom-client metric of `registry`. prom-client can
 * remove a series by its labels but lists them only by rendering them (get(), asynchronous), so they
 * are read from where it keeps them (`hashMap`, in 15.1, to which package.json holds it). Metrics of other kinds (RequestMetrics)
 * have no hashMap and drop their own.
 */
export function dropRemovedRouteSeries(registry: Registry<RegistryContentType>, served: ReadonlySet<string>): void {
  for (const metric of registry.getMetricsAsArray()) {
    const { hashMap } = metric as unknown as { hashMap?: Record<string, { labels: Labels }> }
    for (const { labels } of Object.values(hashMap ?? {})) {
      if (isRemovedRoute(labels.route, served)) (metric as unknown as { remove(labels: Labels): void }).remove(labels)
    }
  }
}

/** A registry as a worker sent it (cluster/registries.ts), without the series of removed routes. */
export function withoutRemovedRoutes(registry: RegistryJson, served: ReadonlySet<string>): RegistryJson {
  return registry.map((metric) => ({ ...metric, values: metric.values.filter(({ labels }) => !isRemovedRoute(labels.route, served)) }))
}
