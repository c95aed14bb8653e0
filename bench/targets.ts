/**
 * Issue 8's targets, each read off the run that measured it. A ratio is taken within each repeat,
 * where the two peers ran a few seconds apart (this shared machine moves a peer's rate by 10 % and
 * more between repeats), and the target is met when the median of those ratios is. The lowest and
 * highest ratio show how far a single repeat would have moved the verdict.
 */
import { median } from './measure.js'
import type { Peer } from './peers/types.js'
import type { Row } from './scenarios/types.js'

export interface TargetCheck {
  readonly target: string
  /** The figure the verdict is drawn from, with its spread over the repeats. */
  readonly measured: string
  /** undefined: a row it needs was not measured (BENCH_PEERS left the peer out, or it failed). */
  readonly met: boolean | undefined
}

/** The row of `peer` (found by its label) if it has samples. */
export function rowOf(rows: readonly Row[], peer: Peer | string): Row | undefined {
  const label = typeof peer === 'string' ? peer : peer.label
  return rows.find((row) => row.label === label && row.samples.length > 0)
}

const notMeasured = (target: string): TargetCheck => ({ target, measured: 'not measured', met: undefined })

interface RatioTarget {
  readonly target: string
  readonly metric: string
  readonly of: Row | undefined
  readonly to: Row | undefined
  /** The ratio must be at least this, or at most with `atMost` (a latency). */
  readonly bound: number
  readonly atMost?: boolean
}

/**
 * `of`'s metric ÷ `to`'s, within each repeat (both rows measured in the same repeats). No verdict where
 * either row counted errors: wrk counts a fast 502 as a request served.
 */
export function ratioTarget({ target, metric, of, to, bound, atMost }: RatioTarget): TargetCheck {
  if (!of || !to) return notMeasured(target)
  const errors = (of.totals.errors ?? 0) + (to.totals.errors ?? 0)
  if (errors > 0) return { target, measured: `no verdict: ${errors} errors in the runs of ${of.label} and ${to.label}`, met: false }
  const ratios = of.samples.map((sample, repeat) => sample[metric]! / to.samples[repeat]![metric]!)
  const value = median(ratios)
  return {
    target,
    measured: `${value.toFixed(3)}×, the median of ${ratios.length} repeats (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
    met: atMost ? value <= bound : value >= bound,
  }
}

/** At least this share of the requests went over upstream connections the warm-up had opened. */
const REUSE_BOUND = 0.999

/**
 * Requests on reused upstream connections: every connection the upstream saw open during the measured
 * runs (its log, not portcullis' own count) carried at least one new request.
 */
export function reuseTarget(target: string, row: Row | undefined, durationSeconds: number): TargetCheck {
  if (!row) return notMeasured(target)
  const requests = row.samples.reduce((sum, sample) => sum + sample.rps! * durationSeconds, 0)
  const opened = row.totals.upOpened!
  const reused = 1 - opened / requests
  return {
    target,
    measured: `${(reused * 100).toFixed(3)} % (${opened} new connections in ${Math.round(requests).toLocaleString('en')} requests)`,
    met: reused >= REUSE_BOUND,
  }
}

/** A streaming proxy's peak memory with a body ten times larger, as a ratio: near 1, not near 10. */
export const RSS_GROWTH_BOUND = 1.2

/** The proxy's peak RSS with the largest body ÷ with the smallest. */
export function peakRssTarget(target: string, small: Row | undefined, large: Row | undefined): TargetCheck {
  if (!small || !large) return notMeasured(target)
  const ratio = large.median.peakRssMb! / small.median.peakRssMb!
  return {
    target,
    measured: `${ratio.toFixed(2)}× (${large.median.peakRssMb!.toFixed(0)} against ${small.median.peakRssMb!.toFixed(0)} MB)`,
    met: ratio <= RSS_GROWTH_BOUND,
  }
}

const VERDICT = { true: 'met', false: '**missed**', undefined: 'not measured' } as const

export function targetsMarkdown(checks: readonly TargetCheck[]): string {
  if (checks.length === 0) return ''
  return [
    '### Targets (issue 8)',
    '',
    '| target | measured | verdict |',
    '|---|---|---|',
    ...checks.map((check) => `| ${check.target} | ${check.measured} | ${VERDICT[`${check.met}`]} |`),
    '',
  ].join('\n')
}
