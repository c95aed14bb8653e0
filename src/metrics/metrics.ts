/**
 * Every metric of a gateway process, in one Registry per gateway (no prom-client global, so tests can
 * run two gateways in one process), which the process metrics alone are shared by (processMetrics).
 * Named here but for portcullis_requests_total and portcullis_request_duration_seconds, which
 * requests.ts keeps in plain numbers until a scrape, and a cluster primary's own
 * (cluster/worker-pool-metrics.ts). Metric names are API: dashboards and alerts depend on them.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Aggregator, type Metric, type RegistryContentType } from 'prom-client'
import { dropRemovedRouteSeries } from './removed-routes.js'
import { RequestMetrics } from './requests.js'

/** Handshakes take from well under a millisecond (resumed, loopback) to seconds (slow clients). */
const HANDSHAKE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

interface MetricsOptions {
  /** Registers the process and Node.js metrics (processMetrics). Default: true. */
  readonly defaultMetrics?: boolean
  /** Sets portcullis_upstream_connections from the pools' live socket counts, at every scrape. */
  readonly collectUpstreamConnections?: (gauge: Gauge<'route' | 'state'>) => void
  /** Sets portcullis_upstream_pending_requests from the pools' own counts, at every scrape. */
  readonly collectUpstreamPendingRequests?: (gauge: Gauge<'route'>) => void
  /** Sets portcullis_upstream_url_up from the routes' balancers, at every scrape. */
  readonly collectUpstreamUrls?: (gauge: Gauge<'route' | 'url'>) => void
  /** Sets portcullis_upstream_url_weight from the routes' balancers, at every scrape. */
  readonly collectUpstreamUrlWeights?: (gauge: Gauge<'route' | 'url'>) => void
  /** Sets portcullis_client_connections from the open client sockets of each listener, at every scrape. */
  readonly collectClientConnections?: (gauge: Gauge<'listener'>) => void
}

const PER_PROCESS_AGGREGATORS: ReadonlyMap<string, Aggregator> = new Map([
  ['process_max_fds', 'min'],
  ['process_open_fds', 'max'],
  ['process_start_time_seconds', 'min'],
])

/**
 * A gateway's Registry and every metric in it. With `workers`, the primary's AggregatorRegistry sums
 * each series over the worker processes, so the gauges that describe shared state set an `aggregator`
 * that takes one worker's value instead: the soonest certificate expiry and CRL nextUpdate (a worker
 * whose reload failed still serves the older file, and the alerts must see it), the latest config
 * load, and the worst last-reload result.
 */
export function createMetrics(options: MetricsOptions = {}) {
  // Either text format: the admin app switches to OpenMetrics when the scraper asks for it.
  const registry = new Registry<RegistryContentType>()
  if (options.defaultMetrics !== false) for (const metric of processMetrics()) registry.registerMetric(metric)
  const registers = [registry]
  const configReloads = new Counter({
    name: 'portcullis_config_reloads_total',
    help: 'Config loads and reloads by result (success|failure).',
    labelNames: ['result'] as const,
    registers,
  })
  // Both series exist from the start, so increase() and alerts see the first failure too.
  for (const result of ['success', 'failure'] as const) configReloads.inc({ result }, 0)
  const overloadRejections = new Counter({
    name: 'portcullis_overload_rejections_total',
    help: 'Client connections closed at accept (limit="connections") and requests answered 503 (limit="requests", by route) because a limit of routes.yaml `limits` was reached, or (limit="upstream", by route) because every url of the route was at its upstream.maxRequests.',
    // A connection is turned away before it has a route; a request after routing, so that the 5xx
    // alert can leave its route's 503 to the overload alert. A route's series is there from 0 as soon
    // as its config serves (Overload.countFromZero), so increase() sees its first rejection too.
    labelNames: ['limit', 'route'] as const,
    registers,
  })
  overloadRejections.inc({ limit: 'connections' }, 0)
  // Per request: the counter and histogram as portcullis counts them (requests.ts), not prom-client's.
  const requestMetrics = new RequestMetrics({ buckets: REQUEST_BUCKETS, registers })
  const metrics = {
    registry,
    configReloads,
    overloadRejections,
    tlsHandshakeDuration: new Histogram({
      name: 'portcullis_tls_handshake_duration_seconds',
      help: 'TLS handshake time: ingress from ClientHello read to completed handshake, upstream from connect to secure connection.',
      labelNames: ['side', 'route', 'result'] as const,
      buckets: HANDSHAKE_BUCKETS,
      registers,
    }),
    tlsHandshakes: new Counter({
      name: 'portcullis_tls_handshakes_total',
      help: 'TLS handshakes by side, route, result (ok|error) and reason (none on success).',
      labelNames: ['side', 'route', 'result', 'reason'] as const,
      registers,
    }),
    tlsSessionResumptions: new Counter({
      name: 'portcullis_tls_session_resumptions_total',
      help: 'Successful TLS handshakes that resumed an earlier session, by side and route.',
      labelNames: ['side', 'route'] as const,
      registers,
    }),
    requests: requestMetrics.requests,
    /** One answered request; route and method must be closed label values. */
    recordRequest: (route: string, method: string, code: number, seconds: number) => requestMetrics.record(route, method, code, seconds),
    passthroughConnections: new Counter({
      name: 'portcullis_passthrough_connections_total',
      help: 'Connects of TLS passthrough connections to their upstream by route and how each went: result (ok|error), reason (none on success). A connection whose url could not be reached, and that went to the next url, counts each connect.',
      labelNames: ['route', 'result', 'reason'] as const,
      registers,
    }),
    websocketRechecks: new Counter({
      name: 'portcullis_websocket_rechecks_total',
      help: 'WebSockets checked again after a reload changed the client CAs, CRLs, OCSP lookups or minVersion of their route, by route, result (ok: kept; error: closed) and reason (none when kept).',
      labelNames: ['route', 'result', 'reason'] as const,
      registers,
    }),
    rateLimited: new Counter({
      name: 'portcullis_rate_limited_requests_total',
      help: "Requests (WebSocket upgrades included) answered 429 by the gateway because their client (its address, or with rateLimit.by its certificate or a header's value) had sent its route's rateLimit, by route.",
      labelNames: ['route'] as const,
      registers,
    }),
    forwardAuth: new Counter({
      name: 'portcullis_forward_auth_total',
      help: "Requests (WebSocket upgrades included) a route's forwardAuth service was asked about, by route and result: allowed (it answered 2xx), denied (any other answer, which the client got), failed (no answer to relay: unreachable, past its timeout, or too large; the client got 502 or 504).",
      labelNames: ['route', 'result'] as const,
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'portcullis_upstream_errors_total',
      help: 'Upstream requests (WebSocket upgrades included) that failed, by route, reason and stage (before_response: the client got the gateway\'s 502 or 504; mid_response: the upstream\'s answer was cut short); once per request, after any resend. A client that left is not one.',
      labelNames: ['route', 'reason', 'stage'] as const,
      registers,
    }),
    upstreamRetries: new Counter({
      name: 'portcullis_upstream_retries_total',
      help: 'Requests sent again, by route: because a pooled upstream connection closed under them before any answer, or to the next url of the route because theirs could not be reached or answered a status of its upstream.retryOn.',
      labelNames: ['route'] as const,
      registers,
    }),
    upstreamHealthChecks: new Counter({
      name: 'portcullis_upstream_health_checks_total',
      help: "Active health checks of the urls of routes with upstream.healthCheck, by route, url and result (pass: a 2xx or 3xx answer, or one of its status, in time, with a body its body matches, or on a passthrough route a TCP connect; fail: any other answer, or none).",
      labelNames: ['route', 'url', 'result'] as const,
      registers,
    }),
    ocspLookups: new Counter({
      name: 'portcullis_ocsp_lookups_total',
      help: 'OCSP lookups of client certificates (tls.ocsp), by result: good, revoked, unknown (answers, remembered until their nextUpdate) or failed (no responder to ask, or no answer that verifies in time; not remembered).',
      labelNames: ['result'] as const,
      registers,
    }),
    upstreamConnections: new Gauge({
      name: 'portcullis_upstream_connections',
      help: 'Upstream connections in the pools, by route and state (active|idle).',
      labelNames: ['route', 'state'] as const,
      registers,
      collect() {
        options.collectUpstreamConnections?.(this)
      },
    }),
    upstreamPendingRequests: new Gauge({
      name: 'portcullis_upstream_pending_requests',
      help: 'Requests waiting for an upstream connection (while a new one is made), by route.',
      labelNames: ['route'] as const,
      registers,
      collect() {
        options.collectUpstreamPendingRequests?.(this)
      },
    }),
    upstreamUrlUp: new Gauge({
      name: 'portcullis_upstream_url_up',
      help: "Whether each url of a route's upstream is chosen in turn (1) or left out (0): resting after its connect or TLS handshake failed, or failing its health check. By route and url.",
      labelNames: ['route', 'url'] as const,
      registers,
      // With workers, 0 while any of them rests the url.
      aggregator: 'min',
      collect() {
        options.collectUpstreamUrls?.(this)
      },
    }),
    upstreamUrlWeight: new Gauge({
      name: 'portcullis_upstream_url_weight',
      help: "The weight each url of a route's upstream has now, which its share of the requests follows: its upstream.weights' (1 without them), 0 drained, a part of it in its slow start. By route and url.",
      labelNames: ['route', 'url'] as const,
      registers,
      // With workers, each ramps a slow start of its own.
      aggregator: 'average',
      collect() {
        options.collectUpstreamUrlWeights?.(this)
      },
    }),
    clientConnections: new Gauge({
      name: 'portcullis_client_connections',
      help: 'Open client connections by public listener (https|http): handshaking, keep-alive, WebSocket and passthrough alike.',
      labelNames: ['listener'] as const,
      registers,
      collect() {
        options.collectClientConnections?.(this)
      },
    }),
    certificateExpiry: new Gauge({
      name: 'portcullis_certificate_expiry_timestamp_seconds',
      help: 'Expiry (notAfter, Unix seconds) of every certificate loaded, by route, role (server|client|ca) and subject.',
      labelNames: ['route', 'role', 'subject'] as const,
      registers,
      aggregator: 'min',
    }),
    crlNextUpdate: new Gauge({
      name: 'portcullis_crl_next_update_timestamp_seconds',
      help: "nextUpdate (Unix seconds) of every CRL loaded (tls.crl, upstream.crl), by route and issuer: past it, the route refuses every client or upstream certificate the CRL covers.",
      labelNames: ['route', 'issuer'] as const,
      registers,
      aggregator: 'min',
    }),
    configLastReloadSuccessTimestamp: new Gauge({
      name: 'portcullis_config_last_reload_success_timestamp_seconds',
      help: 'When the config now serving was loaded (Unix seconds).',
      registers,
      aggregator: 'max',
    }),
    draining: drainingGauge(registers),
    configLastReloadSuccessful: new Gauge({
      name: 'portcullis_config_last_reload_successful',
      help: 'Whether the last config load or reload succeeded (1) or failed (0).',
      registers,
      // With workers, 0 when any of them failed its last reload: the config on disk is not serving there.
      aggregator: 'min',
    }),
  }
  return {
    ...metrics,
    /** Every series of a route that is none of `served` goes (removed-routes.ts): at a reload, and before each scrape. */
    dropRemovedRoutes(served: ReadonlySet<string>): void {
      requestMetrics.dropRemovedRoutes(served)
      dropRemovedRouteSeries(registry, served)
    },
  }
}

export type Metrics = ReturnType<typeof createMetrics>

/** processMetrics()'s, made at its first call. */
let madeProcessMetrics: readonly Metric[] | undefined

/**
 * prom-client's default process and Node.js metrics, prefixed, with the changes a scrape of workers
 * needs. Made once per process, whose metrics they are, and registered in each gateway's registry:
 * made for a registry, they start a GC observer and an event-loop delay monitor that never stop, and
 * that would hold the registry, the gateway whose metrics it reads, and its last config, for the life
 * of the process.
 */
function processMetrics(): readonly Metric[] {
  if (madeProcessMetrics) return madeProcessMetrics
  const registry = new Registry<RegistryContentType>()
  collectDefaultMetrics({ register: registry, prefix: 'portcullis_' })
  // Gauges named *_total break Prometheus' naming rules (promtool check metrics fails on them), and
  // each is only the sum of its per-type sibling (portcullis_nodejs_active_handles{type}, ...).
  for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
    registry.removeSingleMetric(`portcullis_nodejs_${name}`)
  }
  // Summed over workers, a per-process limit doubles and a start time means nothing (prom-client
  // leaves it out). The fd limit and use are per process, so the scrape shows the worst worker's
  // against it; the start time is the oldest worker's.
  for (const [name, aggregator] of PER_PROCESS_AGGREGATORS) {
    const metric = registry.getSingleMetric(`portcullis_${name}`) as { aggregator: Aggregator } | undefined
    if (metric) metric.aggregator = aggregator
  }
  // The metrics themselves, whatever prom-client's types call them.
  return (madeProcessMetrics = registry.getMetricsAsArray() as unknown as Metric[])
}

/**
 * 1 from the start of the drain (SIGTERM, stop()) until the process exits, as Envoy's
 * listener_manager.total_listeners_draining: /readyz turns 503 then, and this says why. A cluster
 * primary has its own (cluster/worker-pool-metrics.ts), which covers the moments when no worker
 * answers; the scrape shows the highest, not the number of processes draining.
 */
export function drainingGauge(registers: Registry<RegistryContentType>[]): Gauge {
  const gauge = new Gauge({
    name: 'portcullis_draining',
    help: 'Whether the gateway is draining to stop (1) or serving (0).',
    registers,
    aggregator: 'max',
  })
  gauge.set(0)
  return gauge
}
