/**
 * Durations in routes.yaml (`5s`, `250ms`): the pattern the schema holds them to, their defaults, and
 * their reading as milliseconds, bounded by what a Node timer can wait.
 */
import type { Report } from './issues.js'

/** Node's timers hold 32 bits of milliseconds (24.8 days): a longer delay fires after 1 ms. */
const MAX_DURATION_MS = 2 ** 31 - 1
export const MAX_DURATION_TEXT = '596h'

/** A duration in routes.yaml: a number with a unit. The schema's pattern, and what parseDuration reads. */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$'
const DURATION = new RegExp(DURATION_PATTERN)

export const DEFAULT_CONNECT_TIMEOUT = '5s'
export const DEFAULT_RESPONSE_TIMEOUT = '30s'
/** nginx's upstream keepalive_timeout. */
export const DEFAULT_IDLE_TIMEOUT = '60s'
export const DEFAULT_SHUTDOWN_GRACE = '25s'
export const DEFAULT_RATE_LIMIT_PERIOD = '1s'
/** As long as a url that could not be reached rests (routing/balancer.ts). */
export const DEFAULT_HEALTH_CHECK_INTERVAL = '10s'
/** Caddy's and Traefik's health check timeout. */
export const DEFAULT_HEALTH_CHECK_TIMEOUT = '5s'
/** As long as an upstream has to connect: a client waits for the answer in its handshake. */
export const DEFAULT_OCSP_TIMEOUT = '5s'
/** nginx's auth_request has its proxy_read_timeout (60 s); an auth service answers in milliseconds, and a login waits on none. */
export const DEFAULT_FORWARD_AUTH_TIMEOUT = '5s'

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const

/** '250ms' → 250, '1.5s' → 1500, '1m' → 60000; undefined when the text is not a duration with a unit. */
export function parseDuration(text: string): number | undefined {
  const unit = DURATION.exec(text)?.[2] as keyof typeof UNIT_MS | undefined
  if (unit === undefined) return undefined
  return Math.round(Number(text.slice(0, -unit.length)) * UNIT_MS[unit])
}

/** A duration the schema took that a timer cannot: more than MAX_DURATION_MS, or 0 where it must be `positive`. */
export function checkDuration(path: string, text: string | undefined, report: Report, { positive = false } = {}): void {
  const ms = text === undefined ? undefined : parseDuration(text)
  if (ms === undefined) return
  // `0.4ms` is not zero as written, but rounds to it: the message must not call it zero.
  if (positive && ms === 0) report(path, Number.parseFloat(text!) === 0 ? 'must be more than 0' : 'must be at least 1ms: durations count whole milliseconds')
  else if (ms > MAX_DURATION_MS) report(path, `must be at most ${MAX_DURATION_TEXT} (Node's timers hold up to 24.8 days)`)
}
