/**
 * `workers: N`: a primary process forks N gateway workers (cluster/worker.ts; worker-pool.ts keeps
 * them) with node:cluster. The workers share the public listeners (the primary accepts and hands
 * connections round-robin) and each watches and reloads the config itself; they derive their TLS
 * ticket keys from one secret of the primary's, and start only on the listeners it started with. The
 * primary owns the admin listener: /metrics aggregates every worker's registry into one scrape,
 * /readyz is 200 once every worker has started and while any serves, POST /reload and SIGHUP reach
 * every worker. A worker that dies is replaced, and one whose event loop is stuck is killed and
 * replaced; SIGTERM drains them all.
 */
import type { Worker } from 'node:cluster'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdminApp } from '../admin/app.js'
import { listenOn } from '../listeners.js'
import { coalesce } from '../coalesce.js'
import type { Config, ListenAddress } from '../config/types.js'
import { DRAINING_RELOAD, RELOAD_INTERVAL_MS, unavailableReload, type ReloadResult, type ReloadTrigger } from '../reload/reloader.js'
import { errorSummary, type Logger } from '../log.js'
import { clusterSource, type RegistryJson } from '../metrics/render.js'
import { newTicketSecret } from '../tls/ticket-keys.js'
import type { WorkerMetrics } from './messages.js'
import { createWorkerPoolMetrics } from './worker-pool-metrics.js'
import { WorkerPool } from './worker-pool.js'
import { WorkerRegistries } from './registries.js'
import { WorkerQuestions } from './questions.js'

/** A worker that has not reloaded by then counts as failed: the admin request must not hang. */
const RELOAD_DEADLINE_MS = 10_000
/** A worker that has not sent its metrics by then counts with those it sent last (registries.ts): Prometheus waits 10 s at most. */
const METRICS_DEADLINE_MS = 2_000

/** `sayNotStarted`: how a start that its admin listener stopped is said besides the log (on stderr). */
export async function runPrimary(
  config: Config,
  count: number,
  logger: Logger,
  stopSignal: Promise<NodeJS.Signals>,
  sayNotStarted: (error: unknown) => void,
): Promise<number> {
  const questions = new WorkerQuestions()
  const registries = new WorkerRegistries()
  const workerPoolMetrics = createWorkerPoolMetrics(count, () => pool.serving().length)
  const pool = new WorkerPool({ count, logger, questions, registries, ticketSecret: newTicketSecret(), listen: config.listen, cwd: process.cwd(), onReplacing: workerPoolMetrics.replacing })

  // Coalesced as one process' reloads are: a flood of POST /reload or SIGHUP asks the workers once a
  // second at most, not once per request, and each worker's log names what asked first.
  // During the drain none is made, as one process makes none: 503, also for a reload the drain began
  // under, whose workers answer they are draining, or exit first.
  const reloadAll = coalesce(
    async (trigger: ReloadTrigger) => {
      if (pool.isStopping()) return DRAINING_RELOAD
      const result = await reloadWorkers(pool.serving(), questions, trigger)
      return !result.ok && pool.isStopping() ? DRAINING_RELOAD : result
    },
    { minIntervalMs: RELOAD_INTERVAL_MS },
  )

  /**
   * Every serving worker's registry, one that does not answer in time with its last answer, and the
   * primary's own (worker-pool-metrics.ts).
   */
  const clusterMetrics = async (): Promise<RegistryJson[]> => {
    const workers = pool.serving()
    const answers = await questions.ask(workers, { type: 'portcullis:metrics' }, METRICS_DEADLINE_MS, () => undefined as WorkerMetrics | undefined)
    return [...registries.forScrape(workers, answers), await workerPoolMetrics.json()]
  }

  // Bound before any worker starts: a primary that cannot serve /readyz must not leave workers serving.
  const adminAddress = config.listen.admin
  let admin: http.Server | undefined
  let adminBound: ListenAddress | undefined
  if (adminAddress) {
    admin = http.createServer(createAdminApp({ logger, metrics: clusterSource(clusterMetrics), isReady: () => pool.isReady(), reload: () => reloadAll('POST /reload') }))
    try {
      await listenOn(admin, 'admin', adminAddress, config, logger)
    } catch (error) {
      logger.fatal({ error: errorSummary(error) }, 'not started')
      sayNotStarted(error)
      return 1
    }
    // The port bound, as a single process logs its listeners: the config may ask for port 0.
    const { address, port } = admin.address() as AddressInfo
    adminBound = { host: address, port }
  }
  pool.start()
  process.on('SIGHUP', () => void reloadAll('SIGHUP'))
  logger.info({ workers: count, admin: adminBound }, 'portcullis primary started')

  const outcome = await Promise.race([stopSignal.then(() => 0), pool.startFailure])
  logger.info('draining the workers')
  workerPoolMetrics.draining()
  await pool.stop()
  admin?.close()
  logger.info('stopped')
  return outcome
}

/**
 * Asks `workers` to reload: the reload succeeds if each of them does, and lists each distinct error and
 * warning once (the workers read one routes.yaml, and each says its warnings).
 */
async function reloadWorkers(workers: Worker[], questions: WorkerQuestions, trigger: ReloadTrigger): Promise<ReloadResult> {
  if (workers.length === 0) return unavailableReload('no worker is serving')
  const results = await questions.ask(workers, { type: 'portcullis:reload', trigger }, RELOAD_DEADLINE_MS, (worker): ReloadResult => {
    const pid = worker.process.pid
    return { ok: false, errors: [worker.isDead() ? `worker ${pid} exited before it reloaded` : `worker ${pid} did not reload within ${RELOAD_DEADLINE_MS / 1000} s`], warnings: [] }
  })
  const distinct = (lines: (result: ReloadResult) => string[]) => [...new Set(results.flatMap(lines))]
  return { ok: results.every((r) => r.ok), errors: distinct((r) => r.errors), warnings: distinct((r) => r.warnings) }
}
