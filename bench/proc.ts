/**
 * Child processes and /proc readings: spawn pinned to a core, wait for a port, stop by pid, CPU time of
 * a process tree, peak RSS (VmHWM) and per-core busy time. Linux only, as the benchmark is.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { once } from 'node:events'
import { openSync, readdirSync, readFileSync } from 'node:fs'
import net from 'node:net'

/** Clock ticks per second of /proc/<pid>/stat and /proc/stat (getconf CLK_TCK; 100 on Linux). */
const CLK_TCK = 100

/** Niceness of everything started from now on (config.nice); 0 leaves it unchanged. */
let niceness = 0

/** Sets the niceness of every process the bench starts after this call, so all peers get the same. */
export function setNiceness(value: number): void {
  niceness = value
}

/** `nice -n N taskset -c CPUS command args…`, each part only when it applies. */
function pinned(cpus: string | undefined, command: string, args: readonly string[]): [string, string[]] {
  let argv = [command, ...args]
  if (cpus !== undefined) argv = ['taskset', '-c', cpus, ...argv]
  if (niceness !== 0) argv = ['nice', '-n', String(niceness), ...argv]
  return [argv[0]!, argv.slice(1)]
}

export interface Spawned {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  /** Resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<number | string>
  readonly exitSignal: NodeJS.Signals
}

export interface SpawnPinnedOptions {
  /** CPU list for taskset, e.g. "0" or "1"; undefined: no pinning. */
  readonly cpus?: string
  /** stdout and stderr go to this file (appended); default: ignored. */
  readonly logFile?: string
  readonly env?: NodeJS.ProcessEnv
  readonly cwd?: string
  /** Keep stdout readable as `child.stdout` (stderr still goes to logFile or nowhere). */
  readonly pipeStdout?: boolean
  /**
   * What killAllStarted sends it. Default SIGKILL; a process with children of its own that outlive a
   * SIGKILL of it (nginx's workers) needs the signal that makes it stop them.
   */
  readonly exitSignal?: NodeJS.Signals
}

export function spawnPinned(name: string, command: string, args: readonly string[], options: SpawnPinnedOptions = {}): Spawned {
  const [cmd, argv] = pinned(options.cpus, command, args)
  const out = options.logFile ? openSync(options.logFile, 'a') : 'ignore'
  const spawnOptions: SpawnOptions = {
    stdio: ['ignore', options.pipeStdout ? 'pipe' : out, out],
    env: { ...process.env, ...options.env },
    ...(options.cwd && { cwd: options.cwd }),
  }
  const child = spawn(cmd, argv, spawnOptions)
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`)
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'))
    child.once('error', () => resolve('spawn-error'))
  })
  const spawned = { name, child, pid: child.pid, exited, exitSignal: options.exitSignal ?? 'SIGKILL' }
  live.add(spawned)
  void exited.then(() => live.delete(spawned))
  return spawned
}

/** Every process spawnPinned started that is still running, so an interrupted run leaves none behind. */
const live = new Set<Spawned>()

/** Kills what is left (by the pids we started, nothing else), each with its exitSignal. For exit paths. */
export function killAllStarted(): void {
  for (const proc of live) proc.child.kill(proc.exitSignal)
}

/** Runs a command to completion and returns its stdout; throws with stderr on a non-zero exit. */
export async function run(command: string, args: readonly string[], options: { cpus?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  const [cmd, argv] = pinned(options.cpus, command, args)
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined
  const [code] = (await once(child, 'close')) as [number | null]
  if (timer) clearTimeout(timer)
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim() || stdout.trim()}`)
  return stdout + stderr
}

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILL. Only ever the pid we started. */
export async function stopProcess(proc: Spawned, graceMs = 5000): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return
  proc.child.kill('SIGTERM')
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs)
  await proc.exited
  clearTimeout(timer)
}

/** Resolves once a TCP connect to 127.0.0.1:port succeeds; throws after `timeoutMs` or if `proc` exits first. */
export async function waitForPort(port: number, options: { timeoutMs?: number; proc?: Spawned } = {}): Promise<void> {
  const host = '127.0.0.1'
  const deadline = Date.now() + (options.timeoutMs ?? 15_000)
  let exited = false
  void options.proc?.exited.then(() => (exited = true))
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${options.proc!.name} exited before listening on ${host}:${port}`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host)
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`nothing listening on ${host}:${port} after ${options.timeoutMs ?? 15_000} ms`)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** The pid and all its descendants (nginx master and workers; nice and taskset exec in place, so no extra level). */
export function processTree(rootPid: number): number[] {
  const parentOf = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readStat(Number(entry))
    if (stat) parentOf.set(Number(entry), stat.ppid)
  }
  const tree = [rootPid]
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parentOf) if (ppid === tree[i] && !tree.includes(pid)) tree.push(pid)
  }
  return tree.filter((pid) => parentOf.has(pid))
}

interface ProcStat {
  readonly ppid: number
  /**
   * utime + stime + cutime + cstime, in seconds: its own CPU time and that of the children it has
   * reaped, so that a worker nginx retires after SIGHUP keeps counting in its master.
   */
  readonly cpuSeconds: number
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses; fields after the last ')' are fixed.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number) as [number, number, number, number]
    return { ppid: Number(fields[1]), cpuSeconds: (utime + stime + cutime + cstime) / CLK_TCK }
  } catch {
    return undefined
  }
}

/**
 * CPU seconds used so far by a process tree, including children that exited and were reaped by a
 * process of the tree (the reaper's cutime/cstime); a child still running is counted once, as itself.
 */
export function treeCpuSeconds(rootPid: number): number {
  return processTree(rootPid).reduce((sum, pid) => sum + (readStat(pid)?.cpuSeconds ?? 0), 0)
}

/** A field of /proc/<pid>/status in kB (VmHWM = peak RSS, VmRSS = now), summed over the tree. */
export function treeStatusKb(rootPid: number, field: 'VmHWM' | 'VmRSS'): number {
  let sum = 0
  for (const pid of processTree(rootPid)) {
    try {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (match) sum += Number(match[1])
    } catch {
      // The process ended between listing and reading.
    }
  }
  return sum
}

export interface CoreTimes {
  /** Per core: busy and total jiffies (steal counted separately, not as busy). */
  readonly cores: { busy: number; total: number; steal: number }[]
}

export function readCoreTimes(): CoreTimes {
  const cores: CoreTimes['cores'] = []
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const match = /^cpu(\d+) (.*)$/.exec(line)
    if (!match) continue
    const [user, nice, system, idle, iowait, irq, softirq, steal] = match[2]!.trim().split(/\s+/).map(Number) as number[]
    const busy = user! + nice! + system! + irq! + softirq!
    cores[Number(match[1])] = { busy, total: busy + idle! + iowait! + steal!, steal: steal! }
  }
  return { cores }
}

/** Per-core busy % and steal % between two readings. */
export function coreUsage(before: CoreTimes, after: CoreTimes): { busy: number[]; steal: number[] } {
  const busy: number[] = []
  const steal: number[] = []
  after.cores.forEach((core, i) => {
    const prev = before.cores[i]
    if (!prev) return
    const total = core.total - prev.total || 1
    busy.push((100 * (core.busy - prev.busy)) / total)
    steal.push((100 * (core.steal - prev.steal)) / total)
  })
  return { busy, steal }
}

/** Pins this process (all its threads) to a CPU list, so the runner itself stays off the proxy's core. */
export async function pinSelf(cpus: string): Promise<void> {
  await run('taskset', ['-a', '-p', '-c', cpus, String(process.pid)])
}
