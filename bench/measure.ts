/**
 * The measurement loop of the keep-alive scenarios: for each repeat, each subject in turn (interleaved,
 * so slow drifts of a shared machine hit every peer alike): wait for a quiet machine, warm up, then one
 * measured wrk run with CPU, upstream connections and portcullis' counters read before and after.
 * The warm-up comes before every run, not once per peer: while the other peers run, a peer's idle
 * upstream connections time out (undici closes them after 4 s by default; portcullis and undici-min
 * set 60 s, a repeat takes longer), and the warm-up reopens them so the run sees the steady state.
 * Ratios (to nginx, or the base a scenario names) are taken within the same repeat; the report shows
 * their median. Scenario c measures its own way (handshakes, not wrk) through the same loop.
 */
import type { BenchConfig } from './config.js'
import type { RunningPeer } from './peers/types.js'
import type { PemPair } from './pki.js'
import { scrapePortcullis, type PortcullisCounters } from './portcullis-metrics.js'
import { coreUsage, readCoreTimes, sleep, treeCpuSeconds, type CoreTimes } from './proc.js'
import type { ConnectionLog, UpstreamConnections } from './upstream-log.js'
import type { Wrk, WrkOptions, WrkResult } from './wrk.js'

/** One measured run: metric name → value (NaN when it does not apply). */
export type Sample = Record<string, number>

/** Something that runs beside the load and reports numbers, e.g. the reload hammer of scenario f. */
export type Activity = (peer: RunningPeer, signal: AbortSignal) => Promise<Sample>

export interface Subject {
  readonly label: string
  readonly peer: RunningPeer
  readonly during?: Activity
}

export interface LoadSpec {
  readonly path: string
  readonly connections: number
  readonly clientCert?: PemPair
  readonly timeoutSeconds?: number
  /** What the ratio to the base is taken on: requests/s, or MB/s where few large responses make it coarse. */
  readonly ratioOf?: 'rps' | 'mbps'
}

export interface MeasureEnv {
  readonly config: BenchConfig
  readonly wrk: Wrk
  readonly connectionLog: ConnectionLog
  readonly loadCpus: string
  readonly log: (line: string) => void
}

/** Core 0 busy (beyond the proxy's own share) above this marks a run as disturbed; it is run again once. */
const NOISY_PERCENT = 20

/** The keep-alive scenarios' runs: wrk against each subject, interleaved (see measureRepeats). */
export function measureLoad(
  env: MeasureEnv,
  subjects: readonly Subject[],
  spec: LoadSpec,
  ratioBase: Subject | undefined = nginxBase(subjects),
): Promise<Map<Subject, Sample[]>> {
  return measureRepeats(env, subjects, {
    once: (subject) => measureOnce(env, subject, spec),
    describe: (sample) => `${Math.round(sample.rps!)} req/s, p99 ${sample.p99!.toFixed(2)} ms, errors ${sample.errors}`,
    ratios: { [spec.ratioOf ?? 'rps']: 'ratio', perCore: 'ratioPerCore' },
    ratioBase,
  })
}

export interface RepeatPlan {
  /** One measured run of a subject. */
  readonly once: (subject: Subject) => Promise<Sample>
  /** The run's figures for the progress log. */
  readonly describe: (sample: Sample) => string
  /** metric → key of its ratio to `ratioBase`'s, taken within each repeat. */
  readonly ratios: Record<string, string>
  readonly ratioBase: Subject | undefined
}

/**
 * `repeats` times, each subject in turn (interleaved, each repeat starting with the next one): one
 * measured run, taken again once if disturbed; then the ratios of that repeat.
 */
export async function measureRepeats(env: MeasureEnv, subjects: readonly Subject[], plan: RepeatPlan): Promise<Map<Subject, Sample[]>> {
  const samples = new Map<Subject, Sample[]>(subjects.map((s) => [s, []]))
  for (let rep = 1; rep <= env.config.repeats; rep++) {
    for (const subject of inRepeatOrder(subjects, rep)) {
      const once = () => plan.once(subject)
      // Nothing of the direct peer runs on core 0, so what happens there does not disturb it.
      const sample = subject.peer.kind === 'direct' ? await once() : await measureUndisturbed(env.log, once)
      env.log(`  rep ${rep} ${subject.label}: ${plan.describe(sample)}`)
      samples.get(subject)!.push(sample)
    }
    addRatios(plan.ratioBase, subjects, samples, rep - 1, plan.ratios)
  }
  return samples
}

/**
 * The subjects in the order of repeat `rep` (from 1): each repeat starts with the next one, and every
 * other repeat goes through them backwards. On this shared machine a run's place in the sequence moved
 * its result by several percent (the same build measured 8 % apart, first and second); rotating alone
 * kept every subject right behind the same one in every repeat (portcullis behind the minimal proxy).
 */
function inRepeatOrder<T>(subjects: readonly T[], rep: number): T[] {
  const count = subjects.length
  const start = (rep - 1) % count
  const step = rep % 2 === 1 ? 1 : count - 1
  return subjects.map((_, i) => subjects[(start + i * step) % count]!)
}

/** One measured run, taken again once if something other than the proxy kept core 0 busy. */
async function measureUndisturbed(log: (line: string) => void, once: () => Promise<Sample>): Promise<Sample> {
  const sample = await once()
  if (sample.core0Other! <= NOISY_PERCENT) return sample
  log(`    noisy (core 0 other ${sample.core0Other!.toFixed(0)} %), measuring again`)
  return once()
}

/** The ratio base of the tables that compare peers: the first nginx subject without an activity. */
export function nginxBase(subjects: readonly Subject[]): Subject | undefined {
  return subjects.find((s) => s.peer.kind === 'nginx' && !s.during)
}

/**
 * For each `metric → ratioKey`: the subject's metric ÷ that of `base` in the same repeat (NaN without
 * a base). The report's ratio is then the median of these per-repeat ratios.
 */
function addRatios(base: Subject | undefined, subjects: readonly Subject[], samples: Map<Subject, Sample[]>, index: number, ratios: Record<string, string>): void {
  const baseSample = base ? samples.get(base)![index]! : undefined
  for (const subject of subjects) {
    const sample = samples.get(subject)![index]!
    for (const [metric, ratioKey] of Object.entries(ratios)) sample[ratioKey] = sample[metric]! / (baseSample?.[metric] ?? Number.NaN)
  }
}

/** Wait for quiet, warm up (which reopens idle upstream connections, see above), then one measured run. */
async function measureOnce(env: MeasureEnv, subject: Subject, spec: LoadSpec): Promise<Sample> {
  const { peer } = subject
  const quietWait = await waitForQuiet(env.config.quietWait)
  const load = wrkOptions(env, peer, spec)
  await env.wrk.run({ ...load, durationSeconds: env.config.warmup })
  const before = await readBeforeRun(env, peer)
  const { result, activity } = await runLoad(env, subject, load)
  const cpu = cpuSince(before.cpu, peer.pid)
  const upstream = env.connectionLog.since(before.logMark)
  const counters = before.counters && peer.admin ? upstreamSince(before.counters, await scrapePortcullis(peer.admin)) : undefined
  return sampleOf({ peer, result, cpu, upstream, counters, quietWait, activity })
}

/** wrk's options for a subject, but for how long: the warm-up and the measured run differ only in that. */
type WrkLoad = Omit<WrkOptions, 'durationSeconds'>

function wrkOptions(env: MeasureEnv, peer: RunningPeer, spec: LoadSpec): WrkLoad {
  return {
    url: `${peer.origin}${spec.path}`,
    connections: spec.connections,
    cpus: env.loadCpus,
    ...(spec.clientCert && { clientCert: spec.clientCert }),
    ...(spec.timeoutSeconds && { timeoutSeconds: spec.timeoutSeconds }),
  }
}

interface BeforeRun {
  /** The end of the upstream's connection log. */
  readonly logMark: number
  /** portcullis' TLS counters; undefined for the other peers. */
  readonly counters: PortcullisCounters | undefined
  readonly cpu: CpuReading
}

async function readBeforeRun(env: MeasureEnv, peer: RunningPeer): Promise<BeforeRun> {
  const logMark = env.connectionLog.mark()
  const counters = peer.admin ? await scrapePortcullis(peer.admin) : undefined
  return { logMark, counters, cpu: readCpu(peer.pid) }
}

/** The measured wrk run, with the subject's activity (if any) running beside it until wrk is done. */
async function runLoad(env: MeasureEnv, subject: Subject, load: WrkLoad): Promise<{ result: WrkResult; activity: Sample }> {
  const abort = new AbortController()
  const activity = subject.during?.(subject.peer, abort.signal)
  const result = await env.wrk.run({ ...load, durationSeconds: env.config.duration })
  abort.abort()
  return { result, activity: (await activity) ?? {} }
}

interface RunReadings {
  readonly peer: RunningPeer
  readonly result: WrkResult
  readonly cpu: CpuUse
  readonly upstream: UpstreamConnections
  readonly counters: { handshakes: number; resumptions: number } | undefined
  readonly quietWait: number
  readonly activity: Sample
}

function sampleOf({ peer, result, cpu, upstream, counters, quietWait, activity }: RunReadings): Sample {
  const { proxyCpu, cores } = cpu
  const { connect, read, write, timeout } = result.socketErrors
  return {
    rps: result.requestsPerSecond,
    // What one fully busy proxy core would serve: stable even when the load core is the limit.
    perCore: peer.kind === 'direct' ? Number.NaN : perServerCore(result.requestsPerSecond, proxyCpu),
    mbps: result.bytesPerSecond / 1e6,
    p50: result.p50Ms,
    p99: result.p99Ms,
    max: result.maxMs,
    errors: result.errors,
    non2xx: result.non2xx,
    socketErrors: connect + read + write + timeout,
    errConnect: connect,
    errRead: read,
    errWrite: write,
    errTimeout: timeout,
    proxyCpu,
    // The direct peer's "proxy" is the upstream, on core 1: all of core 0's use is other.
    core0Other: otherOnCore0(cores, peer.kind === 'direct' ? Number.NaN : proxyCpu),
    core1Busy: cores.busy[1] ?? Number.NaN,
    steal: Math.max(...cores.steal),
    quietWait,
    upOpened: upstream.opened,
    upResumed: upstream.resumed,
    upNoCert: upstream.withoutClientCert,
    pcUpHandshakes: counters?.handshakes ?? Number.NaN,
    pcUpResumed: counters?.resumptions ?? Number.NaN,
    ...activity,
  }
}

/** portcullis' own count of the upstream connections it opened (TLS handshakes) and resumed. */
function upstreamSince(before: PortcullisCounters, after: PortcullisCounters): { handshakes: number; resumptions: number } {
  return {
    handshakes: after.upstreamHandshakes - before.upstreamHandshakes,
    resumptions: after.upstreamResumptions - before.upstreamResumptions,
  }
}

/** CPU times at the start of a measured window: the peer's process tree and every core. */
export interface CpuReading {
  readonly treeSeconds: number
  readonly cores: CoreTimes
  readonly at: number
}

/** What one fully busy core would do: a rate measured at `cpuPercent` of a core, scaled to 100 %. */
export function perServerCore(rate: number, cpuPercent: number): number {
  return rate / (cpuPercent / 100)
}

export function readCpu(pid: number | undefined): CpuReading {
  return { treeSeconds: pid ? treeCpuSeconds(pid) : 0, cores: readCoreTimes(), at: performance.now() }
}

export interface CpuUse {
  readonly seconds: number
  /** The peer's process tree: CPU seconds per wall second, in % (NaN: unknown, or no process). */
  readonly proxyCpu: number
  /** Per core, busy % and steal %. */
  readonly cores: { busy: number[]; steal: number[] }
}

export function cpuSince(before: CpuReading, pid: number | undefined): CpuUse {
  const seconds = (performance.now() - before.at) / 1000
  const cores = coreUsage(before.cores, readCoreTimes())
  // Not positive only if a process of the tree exited unreaped by the tree (its time is lost): unknown.
  const treeSeconds = pid ? treeCpuSeconds(pid) - before.treeSeconds : Number.NaN
  return { seconds, cores, proxyCpu: treeSeconds > 0 ? (100 * treeSeconds) / seconds : Number.NaN }
}

/**
 * Core 0's busy % beyond the proxy's own (`proxyCpu`; NaN: count none of it as the proxy's). The proxy
 * is alone on core 0, so whatever else is busy there is another workload (or steal).
 */
export function otherOnCore0(cores: CpuUse['cores'], proxyCpu: number): number {
  return Math.max(0, cores.busy[0]! - (Number.isNaN(proxyCpu) ? 0 : proxyCpu))
}

/**
 * Waits (up to `maxSeconds`, BENCH_QUIET_WAIT) until neither core is busy with something else: the
 * machine is shared, and another workload's build would otherwise land in one peer's numbers.
 */
export async function waitForQuiet(maxSeconds: number): Promise<number> {
  // A workload that never stops (a hung job elsewhere) would cost the full wait before every run:
  // after two waits in a row that timed out, wait only briefly until the machine is seen quiet again.
  const limit = loudInARow >= 2 ? Math.min(2, maxSeconds) : maxSeconds
  const started = performance.now()
  for (;;) {
    const before = readCoreTimes()
    await sleep(500)
    const { busy } = coreUsage(before, readCoreTimes())
    const quiet = busy[0]! < 10 && busy[1]! < 30
    const waited = (performance.now() - started) / 1000
    if (quiet || waited >= limit) {
      loudInARow = quiet ? 0 : loudInARow + 1
      return Math.max(0, waited - 0.5)
    }
  }
}

let loudInARow = 0

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Median of every metric, each on its own (the median run of one metric need not be another's). */
export function medianSample(samples: readonly Sample[]): Sample {
  const keys = new Set(samples.flatMap((s) => Object.keys(s)))
  const out: Sample = {}
  for (const key of keys) out[key] = median(samples.map((s) => s[key] ?? Number.NaN))
  return out
}
