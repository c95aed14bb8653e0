/**
 * The primary's gateway workers: it forks them, replaces one that dies or could not be spawned (backing
 * off while replacements cannot start, until a worker reloads the config on disk), kills one whose event
 * loop is stuck (serving or starting), and says which serve. A first worker that exits by itself before
 * it serves (the config does not load) resolves startFailure, for the primary to stop.
 */
import cluster, { type Worker } from 'node:cluster'
import type { Config } from '../config/types.js'
import { errorSummary, type Logger } from '../log.js'
import type { WorkerMessage, WorkerSetupMessage } from './messages.js'
import type { WorkerRegistries } from './registries.js'
import type { WorkerQuestions } from './questions.js'

/**
 * The pause before a worker that died soon after its start is replaced, not in a tight loop; and the
 * first pause of the back-off for replacements that fail to start.
 */
const RESTART_PAUSE_MS = 1000
/** A worker that served and dies this soon after its start is replaced after RESTART_PAUSE_MS. */
const QUICK_DEATH_MS = 10_000
/** Replacements that keep failing to start (the config on disk no longer loads) back off to this. */
const MAX_RESTART_PAUSE_MS = 30_000
/** How often the primary pings each worker, and how long it waits for the answer. */
const PING_INTERVAL_MS = 5_000
/**
 * A worker that has answered no ping for this long (since its fork, for one that is starting) is
 * killed: its event loop is stuck (a bug, a pathological input). It would hold its share of the
 * connections, which the primary hands out round-robin, for good, while the primary's /healthz goes on
 * answering for the pod; a single process has the liveness probe for that. Envoy's watchdog kills a
 * stuck worker thread so (kill_timeout).
 * A serving worker is replaced; a draining one is not, and so cannot hold the shutdown either. A first
 * worker stuck as it starts would hold /readyz at 503 for good: it is killed and tried again.
 */
const UNRESPONSIVE_MS = 30_000

export interface WorkerPoolOptions {
  readonly count: number
  readonly logger: Logger
  /** Where the workers' answers go; the pool asks its pings through it too. */
  readonly questions: WorkerQuestions
  readonly registries: WorkerRegistries
  /** One for the primary's life, so that a TLS session resumes on every worker, replacements included. */
  readonly ticketSecret: Buffer
  /** The listener addresses the primary started with: every worker's, replacements included. */
  readonly listen: Config['listen']
  /**
   * The folder the primary started in, where every worker starts, by its path: a worker forked after the
   * folder was replaced (a deploy) starts in the new one, not in the deleted one the primary still holds,
   * where a relative config path no longer resolves.
   */
  readonly cwd: string
  /** A worker exited and another is to start in its place. */
  readonly onReplacing?: () => void
}

/** How a worker ended, and what the pool knew of it when it was forked. */
interface WorkerExit {
  /** It replaced another, rather than being one of the first fork. */
  readonly replacement: boolean
  readonly forkedAt: number
  /** The reloads workers had reported when it was forked (WorkerPool.reloads). */
  readonly reloadsAtFork: number
  readonly code: number
  readonly signal: string | null
}

export class WorkerPool {
  /** Every worker forked and not yet exited: starting, serving or draining. */
  private readonly live = new Set<Worker>()
  private readonly ready = new Set<Worker>()
  /** When each live worker last answered a ping (or said it serves, or was forked). */
  private readonly lastAnswer = new Map<Worker, number>()
  private stopping = false
  /** Every worker of the first fork has served. */
  private started = false
  private restartPause = RESTART_PAUSE_MS
  /**
   * The pauses before workers that ended are replaced, each with whether it is the back-off of one that
   * could not start: cleared at stop, which replaces none.
   */
  private readonly restartTimers = new Map<NodeJS.Timeout, { readonly backingOff: boolean }>()
  /** Reloads of the config on disk that workers said succeeded, to tell those since a fork. */
  private reloads = 0
  private failedToStart: (code: number) => void = () => {}
  /** Resolves with the exit code when a first worker exits by itself before it serves. */
  readonly startFailure = new Promise<number>((resolve) => (this.failedToStart = resolve))

  constructor(private readonly options: WorkerPoolOptions) {}

  start(): void {
    cluster.setupPrimary({ cwd: this.options.cwd })
    for (let i = 0; i < this.options.count; i++) this.fork(false)
    void this.watchdog()
  }

  /** The workers that serve and can be asked. */
  serving(): Worker[] {
    return [...this.ready].filter((worker) => worker.isConnected())
  }

  /** /readyz: every worker has started, and one serves at least. */
  isReady(): boolean {
    return !this.stopping && this.started && this.ready.size > 0
  }

  /** Whether stop() has begun: the workers drain, and none is replaced. */
  isStopping(): boolean {
    return this.stopping
  }

  /** SIGTERM to every worker, none replaced; resolves once all have exited, drained. */
  async stop(): Promise<void> {
    this.stopping = true
    for (const timer of this.restartTimers.keys()) clearTimeout(timer)
    await Promise.all(
      [...this.live].map((worker) => {
        // Not events.once(), which rejects at an 'error': a send that crosses a draining worker's exit
        // emits one (see fork()), and the primary would exit under the workers still draining.
        const exited = new Promise((resolve) => worker.once('exit', resolve))
        worker.process.kill('SIGTERM')
        return exited
      }),
    )
  }

  private fork(replacement: boolean): void {
    const { count, logger, questions, ticketSecret, listen } = this.options
    let worker: Worker
    try {
      worker = cluster.fork()
    } catch (error) {
      // No process: too many processes or too little memory for one (EAGAIN, ENOMEM).
      return this.spawnFailed(error)
    }
    this.live.add(worker)
    this.lastAnswer.set(worker, performance.now())
    const forkedAt = Date.now()
    const reloadsAtFork = this.reloads
    worker.on('error', (error) => {
      // No process either (the start folder is gone: ENOENT): no 'exit' follows.
      if (worker.process.pid === undefined) return this.spawnFailed(error, worker)
      // A send to a worker whose channel just closed (it is dying; 'exit' follows) emits an error here.
      logger.warn({ pid: worker.process.pid, error: errorSummary(error) }, 'worker IPC failed')
    })
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'portcullis:ready') this.workerReady(worker)
      if (message.type === 'portcullis:reloaded') this.configReloaded()
      if (message.type === 'portcullis:answer') questions.answer(message.id, worker, message.value)
      // Over the IPC channel, never the environment, which /proc shows and child processes inherit.
      if (message.type === 'portcullis:setup') {
        worker.send({ type: 'portcullis:setup', ticketSecret: ticketSecret.toString('base64'), listen, workers: count } satisfies WorkerSetupMessage)
      }
    })
    worker.once('exit', (code, signal) => this.workerExited(worker, { replacement, forkedAt, reloadsAtFork, code, signal }))
  }

  private workerReady(worker: Worker): void {
    this.ready.add(worker)
    this.lastAnswer.set(worker, performance.now())
    this.restartPause = RESTART_PAUSE_MS
    if (this.ready.size === this.options.count) this.started = true
  }

  /**
   * A worker reloaded the config on disk, so it loads now: the replacements backing off after a bad
   * edit start at once, where they would wait up to MAX_RESTART_PAUSE_MS for their next try. Each worker
   * says so for its own reload, so one edit counts once per worker: a replacement that fails for
   * another reason is retried at once at most that many times more.
   */
  private configReloaded(): void {
    this.reloads++
    for (const [timer, { backingOff }] of this.restartTimers) if (backingOff) this.replaceNow(timer)
  }

  private workerExited(worker: Worker, exit: WorkerExit): void {
    const { logger } = this.options
    const wasReady = this.forget(worker)
    if (this.stopping) return
    const details = { pid: worker.process.pid, code: exit.code, signal: exit.signal }
    // A first worker that exits by itself before it serves could not start (its errors are above):
    // the config is bad. One that a signal ended (a SIGHUP for the process group, come before the
    // worker could catch it; the OOM killer) says nothing against the config: it is tried again.
    if (!wasReady && !exit.replacement && exit.signal === null) {
      logger.fatal(details, 'a worker failed to start; stopping')
      this.failedToStart(1)
      return
    }
    const pause = wasReady ? this.pauseAfterDeath(exit, details) : this.pauseAfterFailedStart(exit, details)
    this.replaceAfter(pause, !wasReady)
  }

  /** Whether the worker, which exited or never ran, had served; the pool and its questions forget it. */
  private forget(worker: Worker): boolean {
    this.live.delete(worker)
    this.lastAnswer.delete(worker)
    this.options.questions.exited(worker)
    this.options.registries.workerExited(worker)
    return this.ready.delete(worker)
  }

  /**
   * No process could be spawned for a worker: that says nothing against the config, and it is tried
   * again with the back-off of a failed start, a first worker included.
   */
  private spawnFailed(error: unknown, worker?: Worker): void {
    if (worker) this.forget(worker)
    if (this.stopping) return
    const pause = this.nextBackOff()
    this.options.logger.error({ error: errorSummary(error), retryInSeconds: pause / 1000 }, 'a worker process could not be spawned; trying again')
    this.replaceAfter(pause, true)
  }

  /** Starts a worker in place of one that ended, after `pause`; `backingOff` if it could not start. */
  private replaceAfter(pause: number, backingOff: boolean): void {
    this.options.onReplacing?.()
    // Not unref'd: with every worker down and no admin listener, this timer is all that keeps the
    // primary alive to start them again.
    const timer = setTimeout(() => this.replaceNow(timer), pause)
    this.restartTimers.set(timer, { backingOff })
  }

  /** A worker that served died: replaced at once, or after a pause if it died soon after it started. */
  private pauseAfterDeath(exit: WorkerExit, details: object): number {
    this.options.logger.error(details, 'worker died; starting another')
    return Date.now() - exit.forkedAt < QUICK_DEATH_MS ? RESTART_PAUSE_MS : 0
  }

  /**
   * One that never served: a replacement that cannot load the config on disk (after a bad edit the
   * running workers refused; its errors are above), or a worker a signal ended as it started. The others
   * keep serving, and it is tried again, less and less often, or at once when a worker reloads.
   */
  private pauseAfterFailedStart(exit: WorkerExit, details: object): number {
    const { logger } = this.options
    if (exit.reloadsAtFork < this.reloads) {
      // A reload succeeded while it started: it may have read the files before the fix that reload read.
      logger.error({ ...details, retryInSeconds: 0 }, 'a worker ended before it served; a reload succeeded since it started, trying again')
      return 0
    }
    const pause = this.nextBackOff()
    logger.error({ ...details, retryInSeconds: pause / 1000 }, 'a worker ended before it served; trying again')
    return pause
  }

  /** The pause before the next try of a worker that could not start; each doubles the next, up to the max. */
  private nextBackOff(): number {
    const pause = this.restartPause
    this.restartPause = Math.min(2 * this.restartPause, MAX_RESTART_PAUSE_MS)
    return pause
  }

  /** Ends the pause `timer` and starts its replacement. */
  private replaceNow(timer: NodeJS.Timeout): void {
    clearTimeout(timer)
    this.restartTimers.delete(timer)
    if (!this.stopping) this.fork(true)
  }

  private async watchdog(): Promise<void> {
    const workers = [...this.live].filter((worker) => worker.isConnected())
    const answered = await this.options.questions.ask(workers, { type: 'portcullis:ping' }, PING_INTERVAL_MS, () => false)
    const now = performance.now()
    workers.forEach((worker, i) => {
      // One that exited while it was asked is gone from `live`, and has been replaced.
      if (!this.live.has(worker)) return
      if (answered[i]) this.lastAnswer.set(worker, now)
      else if (now - this.lastAnswer.get(worker)! >= UNRESPONSIVE_MS) {
        this.options.logger.error({ pid: worker.process.pid }, `worker answered nothing for ${UNRESPONSIVE_MS / 1000} s (its event loop is stuck); killing it`)
        worker.process.kill('SIGKILL')
      }
    })
    setTimeout(() => void this.watchdog(), PING_INTERVAL_MS).unref()
  }
}
