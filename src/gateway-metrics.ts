/**
 * What the gateway records about the TLS and upstream parts of the snapshot serving: each handshake
 * (ingress and upstream) with its result and reason, each passthrough connection's upstream connect,
 * each WebSocket re-checked at a reload, the expiry of every certificate and CRL it loaded, and the
 * sockets of its upstream pools and the requests waiting for them. Request metrics are recorded by the
 * proxy handlers.
 */
import type { Gauge } from 'prom-client'
import type { UpstreamUrl } from './config/types.js'
import type { LoadedCertificate, LoadedCrl } from './snapshot/route-files.js'
import type { Route } from './snapshot/snapshot.js'
import type { Upstream } from './snapshot/upstreams.js'
import type { HandshakeOutcome } from './tls/ingress.js'
import type { OcspOutcome } from './tls/ocsp-lookups.js'
import { failureReason, type FailureReason } from './tls/reasons.js'
import { subjectRfc2253 } from './tls/subject.js'
import type { UpstreamHandshakeEvent } from './tls/upstream.js'
import type { HealthCheckFailure } from './upstream-health-checks.js'
import type { Metrics } from './metrics/metrics.js'

/** `route` is a route name or NO_ROUTE, never the client's SNI. */
export function recordIngressHandshake(metrics: Metrics, route: string, outcome: HandshakeOutcome): void {
  const result = outcome.reason === 'none' ? 'ok' : 'error'
  metrics.tlsHandshakeDuration.observe({ side: 'ingress', route, result }, outcome.durationSeconds)
  metrics.tlsHandshakes.inc({ side: 'ingress', route, result, reason: outcome.reason })
  if (outcome.resumed) metrics.tlsSessionResumptions.inc({ side: 'ingress', route })
}

export function recordUpstreamHandshake(metrics: Metrics, route: string, event: UpstreamHandshakeEvent): void {
  const result = event.error ? 'error' : 'ok'
  const reason = event.error ? failureReason(event.error) : 'none'
  metrics.tlsHandshakeDuration.observe({ side: 'upstream', route, result }, event.durationSeconds)
  metrics.tlsHandshakes.inc({ side: 'upstream', route, result, reason })
  if (event.resumed) metrics.tlsSessionResumptions.inc({ side: 'upstream', route })
}

/** A passthrough connection reached its upstream, or failed to (refused, timed out, unknown host). */
export function recordPassthrough(metrics: Metrics, route: Route, error?: Error): void {
  metrics.passthroughConnections.inc({ route: route.name, result: error ? 'error' : 'ok', reason: error ? failureReason(error) : 'none' })
}

/** An active health check of one url of a route (upstream-health-checks.ts). */
export function recordHealthCheck(metrics: Metrics, route: Route, url: UpstreamUrl, failure: HealthCheckFailure | undefined): void {
  metrics.upstreamHealthChecks.inc({ route: route.name, url: url.url, result: failure ? 'fail' : 'pass' })
}

/** A url a route no longer checks: its series go, as a removed route's do (metrics/removed-routes.ts). */
export function forgetHealthChecks(metrics: Metrics, route: string, url: string): void {
  for (const result of ['pass', 'fail']) metrics.upstreamHealthChecks.remove({ route, url, result })
}

/** An OCSP lookup of a client certificate (tls/ocsp-lookups.ts): the answer's status, or failed. */
export function recordOcspLookup(metrics: Metrics, outcome: OcspOutcome): void {
  metrics.ocspLookups.inc({ result: outcome.answer?.status ?? 'failed' })
}

/** A WebSocket checked against its route's new client CAs and CRLs: kept, or closed for `reason`. */
export function recordWebSocketRecheck(metrics: Metrics, route: Route, reason: FailureReason): void {
  metrics.websocketRechecks.inc({ route: route.name, result: reason === 'none' ? 'ok' : 'error', reason })
}

/**
 * Replaces every expiry series: a certificate the new config no longer loads loses its series. Two
 * certificates with the same route, role and subject (a CA renewed under the same name, both in the
 * bundle) share a series, which shows the one that expires first, as the alert needs.
 */
export function setCertificateExpiry(metrics: Metrics, certificates: readonly LoadedCertificate[]): void {
  setSoonest(
    metrics.certificateExpiry,
    certificates.map(({ route, role, certificate }) => ({ labels: { route, role, subject: subjectRfc2253(certificate) }, date: new Date(certificate.validTo) })),
  )
}

/**
 * The same for each CRL's nextUpdate, by route and issuer: past it, OpenSSL refuses the clients or the
 * upstream it covers. Ingress and upstream CRLs share the series, as clientCAs and upstream.ca share
 * role="ca" of the expiry gauge: a route's CRLs of one issuer show the soonest, which is what the alerts need.
 */
export function setCrlNextUpdate(metrics: Metrics, crls: readonly LoadedCrl[]): void {
  setSoonest(
    metrics.crlNextUpdate,
    crls.flatMap(({ route, issuer, nextUpdate }) => (nextUpdate ? [{ labels: { route, issuer }, date: nextUpdate }] : [])),
  )
}

function setSoonest<L extends string>(gauge: Gauge<L>, entries: readonly { labels: Record<L, string>; date: Date }[]): void {
  const soonest = new Map<string, { labels: Record<L, string>; seconds: number }>()
  for (const { labels, date } of entries) {
    const seconds = Math.floor(date.getTime() / 1000)
    const key = JSON.stringify(labels)
    if (seconds < (soonest.get(key)?.seconds ?? Infinity)) soonest.set(key, { labels, seconds })
  }
  gauge.reset()
  for (const { labels, seconds } of soonest.values()) gauge.set(labels, seconds)
}

/**
 * The pool gauge, read from undici's live socket counts at scrape time. Per pool (labelled by its
 * metricsRoute), so that a sum over routes counts each socket once; added up, as routes may share a name.
 */
export function collectUpstreamConnections(gauge: Gauge<'route' | 'state'>, upstreams: Iterable<Upstream>): void {
  gauge.reset()
  for (const { pool, metricsRoute: route } of upstreams) {
    gauge.inc({ route, state: 'active' }, pool.stats.connected - pool.stats.free)
    gauge.inc({ route, state: 'idle' }, pool.stats.free)
  }
}

/**
 * The state of every url of the routes serving, read from their balancers at scrape time: 0 while a
 * url rests or fails its health check (routing/balancer.ts), as Traefik's traefik_service_server_up
 * and Envoy's ejected hosts tell an upstream left out. Without health checks a url rests only once a
 * request or connection found it unreachable, so a url nothing was sent to reads 1, whatever its state.
 */
export function collectUpstreamUrls(gauge: Gauge<'route' | 'url'>, routes: readonly Route[]): void {
  collectOfUrls(gauge, routes, (balancer, url) => (balancer.isAwake(url) ? 1 : 0))
}

/**
 * The weight of the moment of every url of the routes serving (routing/balancer.ts): a canary's, a
 * drained url's 0, and one in its slow start, growing to its whole, as nginx Plus's API reports a
 * server's weight and Envoy's slow start its effective weight.
 */
export function collectUpstreamUrlWeights(gauge: Gauge<'route' | 'url'>, routes: readonly Route[]): void {
  collectOfUrls(gauge, routes, (balancer, url) => balancer.weightNow(url))
}

/** `gauge`, afresh, with `valueOf` each url of the routes serving (a removed route's or url's series gone). */
function collectOfUrls(gauge: Gauge<'route' | 'url'>, routes: readonly Route[], valueOf: (balancer: Route['balancer'], url: number) => number): void {
  gauge.reset()
  for (const { name, balancer, config } of routes) {
    config.upstream.urls.forEach(({ url }, index) => gauge.set({ route: name, url }, valueOf(balancer, index)))
  }
}

/**
 * Requests waiting for a connection of their pool (Envoy's upstream_rq_pending_active), read from
 * undici at scrape time as the connections are, labelled and added up alike. undici's `pending`, not
 * its `queued`: `queued` holds only the requests kept in the pool under a connection limit, which these
 * pools do not set; `pending` adds those handed to a connection still in its TCP connect or TLS handshake.
 */
export function collectUpstreamPendingRequests(gauge: Gauge<'route'>, upstreams: Iterable<Upstream>): void {
  gauge.reset()
  for (const { pool, metricsRoute: route } of upstreams) gauge.inc({ route }, pool.stats.pending)
}
