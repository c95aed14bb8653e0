/** What a scenario gets, and the table it hands back to the report. */
import type { ScenarioId } from '../config.js'
import type { MeasureEnv, Sample } from '../measure.js'
import type { PeerContext } from '../peers/types.js'
import type { BenchPki } from '../pki.js'
import type { TargetCheck } from '../targets.js'

export interface ScenarioEnv extends MeasureEnv {
  readonly peerContext: PeerContext
  readonly pki: BenchPki
  /** Where this scenario's CPU profiles go (BENCH_PROFILE=1: portcullis in a, b, c, d (the last size) and e (1000 paths)). */
  readonly profileDir: string
  /** Whether BENCH_PEERS lets this peer family run (nginx always runs: it is the ratio base). */
  wants(kind: string): boolean
}

export interface Column {
  readonly key: string
  readonly label: string
  /** Decimal places; default 0. */
  readonly digits?: number
  /** Show the sum over all runs instead of the median (errors). */
  readonly total?: boolean
}

export interface Row {
  readonly label: string
  readonly samples: readonly Sample[]
  readonly median: Sample
  readonly totals: Sample
  /** Set when the row was not measured; the report prints it instead of numbers. */
  readonly skipped?: string
}

export interface ScenarioResult {
  readonly id: ScenarioId
  readonly title: string
  readonly columns: readonly Column[]
  readonly rows: readonly Row[]
  readonly notes: readonly string[]
  /** Issue 8's targets this scenario measures. */
  readonly targets?: readonly TargetCheck[]
}

export interface Scenario {
  readonly id: ScenarioId
  readonly title: string
  run(env: ScenarioEnv): Promise<ScenarioResult>
}
