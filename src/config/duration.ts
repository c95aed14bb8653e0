/** Node's timers hold 32 bits of milliseconds (24.8 days): a longer delay fires after 1 ms. */
export const MAX_DURATION_MS = 2 ** 31 - 1
export const MAX_DURATION_TEXT = '596h'

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const

/** '250ms' → 250, '1.5s' → 1500, '1m' → 60000; undefined when the text is not a duration with a unit. */
export function parseDuration(text: string): number | undefined {
  const match = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(text)
  if (!match) return undefined
  return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS])
}
