/**
 * The overload limits of routes.yaml `limits` and of each route's upstream.maxRequests, per process:
 * what is turned away is counted every time and logged at most every 10 s, since a flood of rejections
 * must not become a flood of log lines.
 */
import type { RouteConfig } from '../config/types.js'
import { ErrorCodes } from '../errors.js'
import { limitedLog, type Logger } from '../log.js'
import type { OverloadLimit, OverloadRejection } from '../metrics/labels.js'
import type { Metrics } from '../metrics/metrics.js'

const LOG_LIMIT = { lines: 1, intervalMs: 10_000 }

const REACHED: Record<OverloadLimit, string> = {
  connections: 'limits.connections reached: new client connections are closed',
  requests: 'limits.requests reached: new requests are answered 503',
  upstream: 'upstream.maxRequests reached at every url of a route: its new requests are answered 503',
}

export class Overload {
  private readonly logs: Record<OverloadLimit, (fields: object) => void>

  constructor(
    private readonly metrics: Metrics,
    logger: Logger,
  ) {
    this.logs = {
      connections: limitedLog(logger, 'warn', REACHED.connections, LOG_LIMIT),
      requests: limitedLog(logger, 'warn', REACHED.requests, LOG_LIMIT),
      upstream: limitedLog(logger, 'warn', REACHED.upstream, LOG_LIMIT),
    }
  }

  /**
   * Puts at 0 the series of each route a request may be refused on (passthrough routes take no slot;
   * only routes with upstream.maxRequests are refused at it), as its config starts to serve: a series
   * first seen at its first rejection gives increase() no sample before it, so that rejection is
   * missed. One that exists keeps its count; a removed route's goes with its other series
   * (metrics/removed-routes.ts).
   */
  countFromZero(routes: readonly RouteConfig[]): void {
    for (const route of routes) {
      if (route.tls !== 'passthrough') this.metrics.overloadRejections.inc({ limit: 'requests', route: route.name }, 0)
      if (route.upstream.maxRequests !== undefined) this.metrics.overloadRejections.inc({ limit: 'upstream', route: route.name }, 0)
    }
  }

  /**
   * One connection or request turned away because `max` of them are open already: in the process, or
   * (`upstream`) at each url of the route, whose log line names it.
   */
  rejected(rejection: OverloadRejection, max: number): void {
    this.metrics.overloadRejections.inc(rejection)
    const route = rejection.limit === 'upstream' ? { route: rejection.route } : {}
    this.logs[rejection.limit]({ code: ErrorCodes.OVERLOADED, limit: rejection.limit, max, ...route })
  }
}

/** The requests being proxied now, WebSockets included, against limits.requests. */
export class RequestSlots {
  private taken = 0

  /** Takes a slot if fewer than `max` are taken; whoever took it gives it back with release(). */
  take(max: number): boolean {
    if (this.taken >= max) return false
    this.taken++
    return true
  }

  release(): void {
    this.taken--
  }
}
