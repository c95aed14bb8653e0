/**
 * `workers: N`: a primary process forks N gateway workers (cluster/worker.ts) with node:cluster. The
 * workers share the public listeners (the primary accepts and hands connections round-robin) and each
 * watches and reloads the config itself; they derive their TLS ticket keys from one secret of the
 * primary's. The primary owns the admin listener: /metrics aggregates every worker's registry into
 * one scrape, /readyz is 200 once every worker has started and while any serves, POST /reload and
 * SIGHUP reach every worker. A worker that dies is replaced, and one whose event loop is stuck is
 * killed and replaced; SIGTERM drains them all.
 */
import cluster, { type Worker } from 'node:cluster'
import { once } from 'node:events'
import http from 'node:http'
import { createAdminApp } from '../admin/app.js'
import { coalesce } from '../coalesce.js'
import type { Config } from '../config/types.js'
import { RELOAD_INTERVAL_MS, type ReloadResult } from '../reload/reloader.js'
import { errorSummary, type Logger } from '../log.js'
import { clusterSource, type RegistryJson } from '../metrics/render.js'
import { newTicketSecret } from '../tls/ticket-keys.js'
import type { TicketSecretMessage, WorkerMessage } from './messages.js'
import { WorkerRegistries } from './registries.js'
import { WorkerRequests } from './requests.js'

/** The pause before a worker that died soon after its start is replaced: not in a tight loop. */
const RESTART_PAUSE_MS = 1000
/** A worker that served and dies this soon after its start is replaced after RESTART_PAUSE_MS. */
const QUICK_DEATH_MS = 10_000
/** Replacements that keep failing to start (the config on disk no longer loads) back off to this. */
const MAX_RESTART_PAUSE_MS = 30_000
/** A worker that has not reloaded by then counts as failed: the admin request must not hang. */
const RELOAD_DEADLINE_MS = 10_000
/** A scrape leaves out a worker that has not sent its metrics by then (Prometheus waits 10 s at most). */
const METRICS_DEADLINE_MS = 2_000
/** How often the primary pings each worker, and how long it waits for the answer. */
const PING_INTERVAL_MS = 5_000
/**
 * A worker that has answered no ping for this long is killed: its event loop is stuck (a bug, a
 * pathological input). It would hold its share of the connections, which the primary hands out
 * round-robin, for good, while the primary's /healthz kept answering for the pod; a single process
 * has the liveness probe for that. Envoy's watchdog kills a stuck worker thread so (kill_timeout).
 * A serving worker is replaced; a draining one is not, and so cannot hold the shutdown either.
 */
const UNRESPONSIVE_MS = 30_000

export async function runPrimary(config: Config, count: number, logger: Logger, stopSignal: Promise<NodeJS.Signals>): Promise<number> {
  const ready = new Set<Worker>()
  /** When each serving worker last answered a ping (or said it serves). */
  const lastAnswer = new Map<Worker, number>()
  const requests = new WorkerRequests()
  const registries = new WorkerRegistries()
  let stopping = false
  let started = false
  let restartPause = RESTART_PAUSE_MS
  let failedToStart: ((code: number) => void) | undefined
  const startFailure = new Promise<number>((resolve) => (failedToStart = resolve))
  // One for the primary's life, so that a TLS session resumes on every worker, replacements included.
  const ticketSecret = newTicketSecret()

  const fork = (replacement: boolean) => {
    const worker = cluster.fork()
    const forkedAt = Date.now()
    // A send to a worker whose channel just closed (it is dying; 'exit' follows) emits an error here.
    worker.on('error', (error) => logger.warn({ pid: worker.process.pid, error: error.message }, 'worker IPC failed'))
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'portcullis:ready') workerReady(worker)
      if (message.type === 'portcullis:answer') requests.answer(message.id, worker, message.value)
      // Over the IPC channel, never the environment, which /proc shows and child processes inherit.
      if (message.type === 'portcullis:ticket-secret') {
        worker.send({ type: 'portcullis:ticket-secret', secret: ticketSecret.toString('base64') } satisfies TicketSecretMessage)
      }
    })
    worker.once('exit', (code, signal) => {
      const wasReady = ready.delete(worker)
      lastAnswer.delete(worker)
      requests.exited(worker)
      registries.workerExited(worker)
      if (stopping) return
      const details = { pid: worker.process.pid, code, signal }
      // A first worker that exits by itself before it serves could not start (its errors are above):
      // the config is bad. One that a signal ended (a SIGHUP for the process group, come before the
      // worker could catch it; the OOM killer) says nothing against the config: it is tried again.
      const endedBySignal = signal !== null
      if (!wasReady && !replacement && !endedBySignal) {
        logger.fatal(details, 'a worker failed to start; stopping')
        failedToStart?.(1)
        return
      }
      let pause: number
      if (wasReady) {
        pause = Date.now() - forkedAt < QUICK_DEATH_MS ? RESTART_PAUSE_MS : 0
        logger.error(details, 'worker died; starting another')
      } else {
        // It never served: a replacement that cannot load the config on disk (after a bad edit the
        // running workers refused; its errors are above), or a worker a signal ended as it started. The
        // others keep serving, and it is tried again, less and less often.
        pause = restartPause
        restartPause = Math.min(2 * restartPause, MAX_RESTART_PAUSE_MS)
        logger.error({ ...details, retryInSeconds: pause / 1000 }, 'a worker ended before it served; trying again')
      }
      // Not unref'd: with every worker down and no admin listener, this timer is all that keeps the
      // primary alive to start them again.
      setTimeout(() => stopping || fork(true), pause)
    })
  }

  const workerReady = (worker: Worker) => {
    ready.add(worker)
    lastAnswer.set(worker, performance.now())
    restartPause = RESTART_PAUSE_MS
    if (ready.size === count) started = true
  }

  const serving = () => [...ready].filter((worker) => worker.isConnected())

  const watchdog = async () => {
    const workers = serving()
    const answered = await requests.ask(workers, 'portcullis:ping', PING_INTERVAL_MS, () => false)
    const now = performance.now()
    workers.forEach((worker, i) => {
      // One that exited while it was asked is gone from `ready`, and has been replaced.
      if (!ready.has(worker)) return
      if (answered[i]) lastAnswer.set(worker, now)
      else if (now - lastAnswer.get(worker)! >= UNRESPONSIVE_MS) {
        logger.error({ pid: worker.process.pid }, `worker answered nothing for ${UNRESPONSIVE_MS / 1000} s (its event loop is stuck); killing it`)
        worker.process.kill('SIGKILL')
      }
    })
    setTimeout(watchdog, PING_INTERVAL_MS).unref()
  }

  // Coalesced as one process' reloads are: a flood of POST /reload or SIGHUP asks the workers once a
  // second at most, not once per request.
  const reloadAll = coalesce(async (): Promise<ReloadResult> => {
    const workers = serving()
    if (workers.length === 0) return { ok: false, errors: ['no worker is serving'] }
    const results = await requests.ask(workers, 'portcullis:reload', RELOAD_DEADLINE_MS, (worker): ReloadResult => {
      const pid = worker.process.pid
      return { ok: false, errors: [worker.isDead() ? `worker ${pid} exited before it reloaded` : `worker ${pid} did not reload within ${RELOAD_DEADLINE_MS / 1000} s`] }
    })
    return { ok: results.every((r) => r.ok), errors: [...new Set(results.flatMap((r) => r.errors))] }
  }, { minIntervalMs: RELOAD_INTERVAL_MS })

  /** Every serving worker's registry; one that does not answer in time counts with its last answer. */
  const workerMetrics = async (): Promise<RegistryJson[]> => {
    const workers = serving()
    const answers = await requests.ask(workers, 'portcullis:metrics', METRICS_DEADLINE_MS, () => undefined as RegistryJson | undefined)
    return registries.forScrape(workers, answers)
  }

  // Bound before any worker starts: a primary that cannot serve /readyz must not leave workers serving.
  const adminAddress = config.listen.admin
  let admin: http.Server | undefined
  if (adminAddress) {
    admin = http.createServer(
      createAdminApp({
        metrics: clusterSource(workerMetrics),
        isReady: () => !stopping && started && ready.size > 0,
        reload: reloadAll,
      }),
    )
    admin.listen(adminAddress.port, adminAddress.host)
    try {
      await once(admin, 'listening')
    } catch (error) {
      logger.fatal({ error: errorSummary(error as Error) }, 'not started')
      return 1
    }
  }
  for (let i = 0; i < count; i++) fork(false)
  void watchdog()
  process.on('SIGHUP', () => void reloadAll())
  logger.info({ workers: count, admin: adminAddress }, 'portcullis primary started')

  const outcome = await Promise.race([stopSignal.then(() => 0), startFailure])
  stopping = true
  logger.info('draining the workers')
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
  await Promise.all(
    workers.map((worker) => {
      const exited = once(worker, 'exit')
      worker.process.kill('SIGTERM')
      return exited
    }),
  )
  admin?.close()
  logger.info('stopped')
  return outcome
}
