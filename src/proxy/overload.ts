/**
 * The overload limits of routes.yaml `limits`, per process: what is turned away is counted every time
 * and logged at most every 10 s, since a flood of rejections must not become a flood of log lines.
 */
import { ErrorCodes } from '../errors.js'
import { floodLog, type Logger } from '../log.js'
import type { OverloadLimit } from '../metrics/labels.js'
import type { Metrics } from '../metrics/metrics.js'

const LOG_INTERVAL_MS = 10_000

const REACHED: Record<OverloadLimit, string> = {
  connections: 'limits.connections reached: new client connections are closed',
  requests: 'limits.requests reached: new requests are answered 503',
}

export class Overload {
  private readonly logs: Record<OverloadLimit, (fields: object) => void>

  constructor(
    private readonly metrics: Metrics,
    logger: Logger,
  ) {
    this.logs = {
      connections: floodLog(logger, REACHED.connections, LOG_INTERVAL_MS),
      requests: floodLog(logger, REACHED.requests, LOG_INTERVAL_MS),
    }
  }

  /** One connection or request turned away because `max` of them are open already. */
  rejected(limit: OverloadLimit, max: number): void {
    this.metrics.overloadRejections.inc({ limit })
    this.logs[limit]({ code: ErrorCodes.OVERLOADED, limit, max })
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
