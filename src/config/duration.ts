/** Node's timers hold 32 bits of milliseconds (24.8 days): a longer delay fires after 1 ms. */
export const MAX_DURATION_MS = 2 ** 31 - 1
export const MAX_DURATION_TEXT = '596h'

/** A duration in routes.yaml: a number with a unit. The schema's pattern, and what parseDuration reads. */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$'
const DURATION = new RegExp(DURATION_PATTERN)

export const DEFAULT_CONNECT_TIMEOUT = '5s'
export const DEFAULT_RESPONSE_TIMEOUT = '30s'
export const DEFAULT_SHUTDOWN_GRACE = '25s'

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const

/** '250ms' → 250, '1.5s' → 1500, '1m' → 60000; undefined when the text is not a duration with a unit. */
export function parseDuration(text: string): number | undefined {
  const unit = DURATION.exec(text)?.[2] as keyof typeof UNIT_MS | undefined
  if (unit === undefined) return undefined
  return Math.round(Number(text.slice(0, -unit.length)) * UNIT_MS[unit])
}
