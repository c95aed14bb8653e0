/**
 * The measurement loop of the keep-alive scenarios: for each repeat, each subject in turn (interleaved,
 * so slow drifts of a shared machine hit every peer alike): wait for a quiet machine, warm up, then one
 * measured wrk run with CPU, upstream connections and portcullis' counters read before and after.
 * The warm-up comes before every run, not once per peer: while the other peers run, a peer's idle
 * upstream connections time out (undici closes them after 4 s by default; portcullis and undici-min
 * set 60 s, a repeat takes longer), and the warm-up reopens them so the run sees the steady state.
 * Ratios to nginx are taken within the same repeat; the report shows their median.
 */
import type { BenchConfig } from './config.js'
import type { RunningPeer } from './peers/types.js'
import type { PemPair } from './pki.js'
import { scrapePortcullis, type PortcullisCounters } from './portcullis-metrics.js'
import { coreUsage, readCoreTimes, sleep, treeCpuSeconds } from './proc.js'
import type { ConnectionLog } from './upstream-log.js'
import type { Wrk } from './wrk.js'

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

export async function measureLoad(env: MeasureEnv, subjects: readonly Subject[], spec: LoadSpec): Promise<Map<Subject, Sample[]>> {
  const samples = new Map<Subject, Sample[]>(subjects.map((s) => [s, []]))
  for (let rep = 1; rep <= env.config.repeats; rep++) {
    for (const subject of inRepeatOrder(subjects, rep)) {
      const once = () => measureOnce(env, subject, spec)
      // Nothing of the direct peer runs on core 0, so what happens there does not disturb it.
      const sample = subject.peer.kind === 'direct' ? await once() : await measureUndisturbed(env.log, once)
      env.log(`  rep ${rep} ${subject.label}: ${Math.round(sample.rps!)} req/s, p99 ${sample.p99!.toFixed(2)} ms, errors ${sample.errors}`)
      samples.get(subject)!.push(sample)
    }
    addRatiosToNginx(subjects, samples, rep - 1, { rps: 'ratio', perCore: 'ratioPerCore' })
  }
  return samples
}

/**
 * The subjects in the order of repeat `rep` (from 1): each repeat starts with the next one. On this
 * shared machine a run's place in the sequence moved its result by several percent (the same build
 * measured 8 % apart, first and second).
 */
export function inRepeatOrder<T>(subjects: readonly T[], rep: number): T[] {
  const offset = (rep - 1) % subjects.length
  return [...subjects.slice(offset), ...subjects.slice(0, offset)]
}

/** One measured run, taken again once if something other than the proxy kept core 0 busy. */
export async function measureUndisturbed(log: (line: string) => void, once: () => Promise<Sample>): Promise<Sample> {
  const sample = await once()
  if (sample.core0Other! <= NOISY_PERCENT) return sample
  log(`    noisy (core 0 other ${sample.core0Other!.toFixed(0)} %), measuring again`)
  return once()
}

/**
 * For each `metric → ratioKey`: the subject's metric ÷ that of the first nginx subject without an
 * activity, in the same repeat. The report's ratio is then the median of these per-repeat ratios.
 */
export function addRatiosToNginx(subjects: readonly Subject[], samples: Map<Subject, Sample[]>, index: number, ratios: Record<string, string>): void {
  const base = subjects.find((s) => s.peer.kind === 'nginx' && !s.during)
  const baseSample = base ? samples.get(base)![index]! : undefined
  for (const subject of subjects) {
    const sample = samples.get(subject)![index]!
    for (const [metric, ratioKey] of Object.entries(ratios)) sample[ratioKey] = sample[metric]! / (baseSample?.[metric] ?? Number.NaN)
  }
}

async function measureOnce(env: MeasureEnv, subject: Subject, spec: LoadSpec): Promise<Sample> {
  const { peer } = subject
  const url = `${peer.origin}${spec.path}`
  const quietWaitSeconds = await waitForQuiet(env.config.quietWait)
  const wrkOptions = {
    url,
    connections: spec.connections,
    cpus: env.loadCpus,
    ...(spec.clientCert && { clientCert: spec.clientCert }),
    ...(spec.timeoutSeconds && { timeoutSeconds: spec.timeoutSeconds }),
  }
  await env.wrk.run({ ...wrkOptions, durationSeconds: env.config.warmup })

  const logMark = env.connectionLog.mark()
  const countersBefore = peer.admin ? await scrapePortcullis(peer.admin) : undefined
  const cpuBefore = peer.pid ? treeCpuSeconds(peer.pid) : 0
  const coresBefore = readCoreTimes()
  const t0 = performance.now()

  const abort = new AbortController()
  const activity = subject.during?.(peer, abort.signal)
  const result = await env.wrk.run({ ...wrkOptions, durationSeconds: env.config.duration })
  abort.abort()
  const activitySample = (await activity) ?? {}

  const seconds = (performance.now() - t0) / 1000
  const cores = coreUsage(coresBefore, readCoreTimes())
  // Not positive only if a process of the tree exited unreaped by the tree (its time is lost): unknown.
  const cpuDelta = peer.pid ? treeCpuSeconds(peer.pid) - cpuBefore : Number.NaN
  const proxyCpu = cpuDelta > 0 ? (100 * cpuDelta) / seconds : Number.NaN
  const upstream = env.connectionLog.since(logMark)
  const upstreamCounters = countersBefore && peer.admin ? upstreamSince(countersBefore, await scrapePortcullis(peer.admin)) : undefined
  // The proxy is alone on core 0; whatever else is busy there is another workload (or steal).
  const core0Other = Math.max(0, cores.busy[0]! - (peer.kind === 'direct' || Number.isNaN(proxyCpu) ? 0 : proxyCpu))

  return {
    rps: result.requestsPerSecond,
    // What one fully busy proxy core would serve: stable even when the load core is the limit.
    perCore: peer.kind === 'direct' ? Number.NaN : result.requestsPerSecond / (proxyCpu / 100),
    mbps: result.bytesPerSecond / 1e6,
    p50: result.p50Ms,
    p99: result.p99Ms,
    max: result.maxMs,
    errors: result.errors,
    non2xx: result.non2xx,
    socketErrors: result.socketErrors.connect + result.socketErrors.read + result.socketErrors.write + result.socketErrors.timeout,
    errConnect: result.socketErrors.connect,
    errRead: result.socketErrors.read,
    errWrite: result.socketErrors.write,
    errTimeout: result.socketErrors.timeout,
    proxyCpu,
    core0Other,
    core1Busy: cores.busy[1] ?? Number.NaN,
    steal: Math.max(...cores.steal),
    quietWait: quietWaitSeconds,
    upOpened: upstream.opened,
    upResumed: upstream.resumed,
    upNoCert: upstream.withoutClientCert,
    pcUpHandshakes: upstreamCounters?.handshakes ?? Number.NaN,
    pcUpResumed: upstreamCounters?.resumptions ?? Number.NaN,
    ...activitySample,
  }
}

/** portcullis' own count of the upstream connections it opened (TLS handshakes) and resumed. */
function upstreamSince(before: PortcullisCounters, after: PortcullisCounters): { handshakes: number; resumptions: number } {
  return {
    handshakes: after.upstreamHandshakes - before.upstreamHandshakes,
    resumptions: after.upstreamResumptions - before.upstreamResumptions,
  }
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
