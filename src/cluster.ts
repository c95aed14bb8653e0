/**
 * `workers: N`: a primary process forks N gateway workers with node:cluster. The workers share the
 * public listeners (the primary accepts and hands connections round-robin) and each watches and
 * reloads the config itself. The primary owns the admin listener: /metrics aggregates every worker's
 * registry into one scrape, /readyz is 200 once every worker has started and while any serves, POST
 * /reload and SIGHUP reach every worker. A worker that dies is replaced; SIGTERM drains them all.
 */
import cluster, { type Worker } from 'node:cluster'
import { once } from 'node:events'
import http from 'node:http'
import { AggregatorRegistry, type RegistryContentType } from 'prom-client'
import { createAdminApp } from './admin/app.js'
import type { Config } from './config/types.js'
import type { Gateway, ReloadResult } from './gateway.js'
import type { Logger } from './log.js'
import { clusterSource } from './metrics/render.js'

type WorkerMessage =
  | { readonly type: 'portcullis:ready' }
  | { readonly type: 'portcullis:reloaded'; readonly id: number; readonly result: ReloadResult }
type PrimaryMessage = { readonly type: 'portcullis:reload'; readonly id: number }

/** A worker that dies this soon after its start is restarted after a pause, not in a tight loop. */
const RESTART_PAUSE_MS = 1000
/** Replacements that keep failing to start (the config on disk no longer loads) back off to this. */
const MAX_RESTART_PAUSE_MS = 30_000

interface PendingReload {
  readonly waiting: Set<Worker>
  readonly results: ReloadResult[]
  readonly done: (result: ReloadResult) => void
}

export async function runPrimary(config: Config, count: number, logger: Logger, stopSignal: Promise<NodeJS.Signals>): Promise<number> {
  const aggregator = new AggregatorRegistry<RegistryContentType>()
  const ready = new Set<Worker>()
  const pendingReloads = new Map<number, PendingReload>()
  let nextReloadId = 0
  let stopping = false
  let started = false
  let restartPause = RESTART_PAUSE_MS
  let failedToStart: ((code: number) => void) | undefined
  const startFailure = new Promise<number>((resolve) => (failedToStart = resolve))

  const fork = (replacement: boolean) => {
    const worker = cluster.fork()
    const forkedAt = Date.now()
    // A send to a worker whose channel just closed (it is dying; 'exit' follows) emits an error here.
    worker.on('error', (error) => logger.warn({ pid: worker.process.pid, error: error.message }, 'worker IPC failed'))
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'portcullis:ready') workerReady(worker)
      if (message.type === 'portcullis:reloaded') collectReload(message.id, worker, message.result)
    })
    worker.once('exit', (code, signal) => {
      const wasReady = ready.delete(worker)
      for (const [id, pending] of pendingReloads) {
        if (pending.waiting.has(worker)) collectReload(id, worker, { ok: false, errors: [`worker ${worker.process.pid} exited before it reloaded`] })
      }
      if (stopping) return
      const details = { pid: worker.process.pid, code, signal }
      if (!wasReady && !replacement) {
        logger.fatal(details, 'a worker failed to start; stopping')
        failedToStart?.(1)
        return
      }
      let pause: number
      if (wasReady) {
        pause = Date.now() - forkedAt < 10 * RESTART_PAUSE_MS ? RESTART_PAUSE_MS : 0
        logger.error(details, 'worker died; starting another')
      } else {
        // A replacement reads the config from disk. After a bad edit that the running workers refused,
        // it cannot start: the others keep serving, and it is tried again, less and less often.
        pause = restartPause
        restartPause = Math.min(2 * restartPause, MAX_RESTART_PAUSE_MS)
        logger.error({ ...details, retryInSeconds: pause / 1000 }, 'a new worker failed to start (its errors are above); trying again')
      }
      setTimeout(() => stopping || fork(true), pause).unref()
    })
  }

  const workerReady = (worker: Worker) => {
    ready.add(worker)
    restartPause = RESTART_PAUSE_MS
    if (ready.size === count) started = true
  }

  const collectReload = (id: number, worker: Worker, result: ReloadResult) => {
    const pending = pendingReloads.get(id)
    if (!pending?.waiting.delete(worker)) return
    pending.results.push(result)
    if (pending.waiting.size > 0) return
    pendingReloads.delete(id)
    const errors = [...new Set(pending.results.flatMap((r) => r.errors))]
    pending.done({ ok: pending.results.every((r) => r.ok), errors })
  }

  const reloadAll = (): Promise<ReloadResult> =>
    new Promise((resolve) => {
      const id = nextReloadId++
      const workers = [...ready].filter((worker) => worker.isConnected())
      if (workers.length === 0) return resolve({ ok: false, errors: ['no worker is serving'] })
      pendingReloads.set(id, { waiting: new Set(workers), results: [], done: resolve })
      for (const worker of workers) worker.send({ type: 'portcullis:reload', id } satisfies PrimaryMessage)
    })

  // Bound before any worker starts: a primary that cannot serve /readyz must not leave workers serving.
  const adminAddress = config.listen.admin
  let admin: http.Server | undefined
  if (adminAddress) {
    admin = http.createServer(
      createAdminApp({
        metrics: clusterSource(aggregator),
        isReady: () => !stopping && started && ready.size > 0,
        reload: reloadAll,
      }),
    )
    admin.listen(adminAddress.port, adminAddress.host)
    try {
      await once(admin, 'listening')
    } catch (error) {
      logger.fatal({ error: { code: (error as { code?: string }).code, message: (error as Error).message } }, 'not started')
      return 1
    }
  }
  for (let i = 0; i < count; i++) fork(false)
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

/** The worker side: tell the primary when serving, and reload when it asks. */
export function serveAsWorker(gateway: Gateway): void {
  // The constructor installs prom-client's listener that answers the primary's metric requests.
  new AggregatorRegistry()
  AggregatorRegistry.setRegistries([gateway.metrics.registry])
  // The primary reloads every worker on SIGHUP. A SIGHUP that reaches a worker too (sent to the whole
  // process group) would otherwise end it with its requests in flight.
  process.on('SIGHUP', () => undefined)
  process.on('message', (message: PrimaryMessage) => {
    if (message.type !== 'portcullis:reload') return
    void gateway.reload().then((result) => process.send?.({ type: 'portcullis:reloaded', id: message.id, result } satisfies WorkerMessage))
  })
  process.send?.({ type: 'portcullis:ready' } satisfies WorkerMessage)
}
