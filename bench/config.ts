/**
 * Benchmark settings, all from the environment so that a quick run is one line:
 * `BENCH_DURATION=3 BENCH_REPEATS=1 BENCH_SCENARIOS=a,c npm run bench`. bench/README.md lists them.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const SCENARIO_IDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g'] as const
export type ScenarioId = (typeof SCENARIO_IDS)[number]

export interface BenchConfig {
  /** Seconds of each measured load run (BENCH_DURATION, default 10). */
  readonly duration: number
  /** Seconds of load before each measured run, not counted (BENCH_WARMUP, default 2). */
  readonly warmup: number
  /** Measured runs per peer and scenario; the report takes the median (BENCH_REPEATS, default 3). */
  readonly repeats: number
  /** Which scenarios run, in this order (BENCH_SCENARIOS, default all). */
  readonly scenarios: readonly ScenarioId[]
  /** Only the peers whose kind starts with one of these (BENCH_PEERS=portcullis,undici); nginx always runs. Default: all. */
  readonly peers: readonly string[] | undefined
  /** wrk connections for the keep-alive scenarios (BENCH_CONNECTIONS, default 32). */
  readonly connections: number
  /** wrk connections for the large responses of scenario d (BENCH_LARGE_CONNECTIONS, default 8). */
  readonly largeConnections: number
  /** Connections per handshake generator process in scenario c (BENCH_HANDSHAKE_CONCURRENCY, default 4). */
  readonly handshakeConcurrency: number
  /** POST /reload per second in scenario f (BENCH_RELOAD_HZ, default 1: portcullis runs at most one a second). */
  readonly reloadHz: number
  /** Longest wait for an idle machine before each measured run, seconds (BENCH_QUIET_WAIT, default 15). */
  readonly quietWait: number
  /**
   * Niceness of every process the bench starts (BENCH_NICE; default -10 as root, else 0 = unchanged):
   * the machine may be shared, and a higher priority keeps another workload's jobs from taking turns
   * on the proxy's core. Every process of the run gets the same value, so no peer is favoured.
   */
  readonly nice: number
  /** Write V8 CPU profiles of portcullis in scenarios a, b, c, d and e (BENCH_PROFILE=1). */
  readonly profile: boolean
  /**
   * The Node.js that runs portcullis and the Node peers (BENCH_NODE): a binary's path, or a major
   * version such as 24 (the container's runtime), fetched from the npm registry. Default: this Node.
   * The load generators keep running on this Node, so both runtimes meet the same load.
   */
  readonly node: string | undefined
  /** portcullis' log level in the bench (PORTCULLIS_LOG_LEVEL, default info); its logs go to workDir. */
  readonly portcullisLogLevel: string
  /** Install missing nginx/wrk/gcc with apt-get when running as root (BENCH_INSTALL=0 to refuse). */
  readonly install: boolean
  /** Where results, generated configs, logs and the PKI go (git-ignored). */
  readonly resultsDir: string
  /** Generated files of this run: PKI, configs, logs. Recreated on every run. */
  readonly workDir: string
  readonly repoDir: string
}

function numberFrom(name: string, fallback: number, expected: string, accepts: (value: number) => boolean): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || !accepts(value)) throw new Error(`${name}=${raw}: expected ${expected}`)
  return value
}

const positiveNumber = (name: string, fallback: number) => numberFrom(name, fallback, 'a positive number', (v) => v > 0)

function list(name: string): string[] | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return undefined
  return raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
}

export function loadBenchConfig(): BenchConfig {
  const repoDir = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '')
  const scenarios = list('BENCH_SCENARIOS') ?? [...SCENARIO_IDS]
  for (const id of scenarios) {
    if (!(SCENARIO_IDS as readonly string[]).includes(id)) {
      throw new Error(`BENCH_SCENARIOS: unknown scenario '${id}' (known: ${SCENARIO_IDS.join(',')})`)
    }
  }
  const resultsDir = join(repoDir, 'bench', 'results')
  return {
    duration: positiveNumber('BENCH_DURATION', 10),
    warmup: positiveNumber('BENCH_WARMUP', 2),
    repeats: Math.round(positiveNumber('BENCH_REPEATS', 3)),
    scenarios: scenarios as ScenarioId[],
    peers: list('BENCH_PEERS'),
    connections: Math.round(positiveNumber('BENCH_CONNECTIONS', 32)),
    largeConnections: Math.round(positiveNumber('BENCH_LARGE_CONNECTIONS', 8)),
    handshakeConcurrency: Math.round(positiveNumber('BENCH_HANDSHAKE_CONCURRENCY', 4)),
    reloadHz: positiveNumber('BENCH_RELOAD_HZ', 1),
    quietWait: numberFrom('BENCH_QUIET_WAIT', 15, 'seconds, 0 or more', (v) => v >= 0),
    nice: numberFrom('BENCH_NICE', process.getuid?.() === 0 ? -10 : 0, 'a niceness from -20 to 19', (v) => Number.isInteger(v) && v >= -20 && v <= 19),
    profile: process.env.BENCH_PROFILE === '1',
    node: process.env.BENCH_NODE?.trim() || undefined,
    portcullisLogLevel: process.env.PORTCULLIS_LOG_LEVEL || 'info',
    install: process.env.BENCH_INSTALL !== '0',
    resultsDir,
    workDir: join(resultsDir, 'work'),
    repoDir,
  }
}
