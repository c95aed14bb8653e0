/**
 * `portcullis [--config FILE] [--workers N|auto]`: serve until SIGTERM or SIGINT, then drain. SIGHUP
 * reloads the config. With more than one worker this process becomes the cluster primary.
 */
import cluster from 'node:cluster'
import { runPrimary } from '../cluster/primary.js'
import { serveAsWorker, setupFromPrimary, tellPrimaryReloaded } from '../cluster/worker.js'
import { cappedIssuesForLog, ConfigError, formatIssue } from '../config/issues.js'
import { ConfigLoader } from '../config/load.js'
import { workerCount } from '../config/resolve.js'
import { MAX_WORKERS } from '../config/schema.js'
import type { Config } from '../config/types.js'
import { Gateway } from '../gateway.js'
import { createLog, errorSummary, logLevelRefusal, type Logger, type ProcessLog } from '../log.js'
import { holdNextTickShapes } from '../next-tick-shapes.js'
import { loadCheckedConfig } from '../snapshot/load-config.js'
import { trustSystemRoots } from '../tls/system-roots.js'
import { printProblems } from './problems.js'
import type { GatewaySignals } from './signals.js'

/** `signals`: listened for since before this module loaded (cli/signals.ts). */
export async function runGateway(configFile: string, workersFlag: string | undefined, signals: GatewaySignals, err: (line: string) => void): Promise<number> {
  const badLogLevel = logLevelRefusal()
  if (badLogLevel) {
    err(badLogLevel)
    return 2
  }
  // A usage error, told before the config is read, as a bad log level is.
  const workers = workersFlag === undefined ? undefined : parseWorkers(workersFlag)
  if (workersFlag !== undefined && workers === undefined) {
    err(`--workers must be a number from 1 to ${MAX_WORKERS} or auto, not '${workersFlag}'`)
    return 2
  }
  const log = createLog()
  try {
    return await runWithLog(configFile, workers, signals, log, err)
  } finally {
    await log.close()
  }
}

/** `workersOverride`: the count --workers gave, which overrides the config's `workers`. */
async function runWithLog(
  configFile: string,
  workersOverride: number | undefined,
  signals: GatewaySignals,
  log: ProcessLog,
  err: (line: string) => void,
): Promise<number> {
  const { stop: stopSignal, hangup } = signals
  const { logger } = log
  exitOnSecondStopSignal(stopSignal, log)
  // The gateway below loads it again and reuses this parse, the most of a large table's load.
  const loader = new ConfigLoader(configFile)
  let config: Config
  try {
    config = await loadCheckedConfig(loader)
  } catch (error) {
    return notStarted(configFile, error, err)
  }
  const workers = workersOverride ?? config.workers
  if (cluster.isPrimary && workers > 1) return runPrimary(config, workers, logger, stopSignal, (error) => startFailed(configFile, error, err))
  // A worker runs with its primary's arguments, --workers among them.
  const workersFromFlag = workersOverride !== undefined
  return serve(loader, cluster.isWorker ? logger.child({ worker: process.pid }) : logger, workersFromFlag, stopSignal, hangup, err)
}

/**
 * A stop signal this soon after the first is the same one again: a signal sent to the whole process
 * group (Ctrl-C, systemd's default KillMode, `kill -- -PGID`) reaches the gateway, and again from npm,
 * which passes on what it got, within some tens of milliseconds.
 */
const RELAYED_SIGNAL_WINDOW_MS = 1000

/**
 * The first stop signal drains; a second one means the operator will not wait (as Caddy does), unless
 * it is the first one relayed. Not in a worker, which gets the process group's signal besides its
 * primary's; a second Ctrl-C ends the primary, and the workers with it.
 */
function exitOnSecondStopSignal(stop: Promise<NodeJS.Signals>, log: ProcessLog): void {
  if (cluster.isWorker) return
  void stop.then(() => {
    const first = performance.now()
    const onSignal = (signal: NodeJS.Signals) => {
      if (performance.now() - first < RELAYED_SIGNAL_WINDOW_MS) return
      log.logger.warn({ signal }, `second ${signal}: exiting now, without waiting for requests in flight`)
      // A primary's workers with it: a worker that is well exits as its IPC channel closes, but one whose
      // event loop is stuck, what holds a drain up and makes an operator send this signal, never sees
      // that and would run on, an orphan.
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL')
      void log.close(200).then(() => process.exit(1))
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}

/**
 * A start stopped by something other than its config, its listeners mostly (a port that is taken, a
 * host that does not resolve): said where a config problem is said, as nginx says a failed bind on
 * stderr, and not only in the log.
 */
function startFailed(configFile: string, error: unknown, err: (line: string) => void): void {
  err(errorSummary(error).message)
  err(`${configFile}: not started`)
}

/** A config error, at parsing or when its files are read, is printed as `portcullis check` prints it. */
function notStarted(configFile: string, error: unknown, err: (line: string) => void): number {
  if (!(error instanceof ConfigError)) throw error
  printProblems(error, configFile, err, 'not started')
  return 1
}

async function serve(
  loader: ConfigLoader,
  logger: Logger,
  workersFromFlag: boolean,
  stopSignal: Promise<NodeJS.Signals>,
  hangup: { reload: () => void },
  err: (line: string) => void,
): Promise<number> {
  // A worker's TLS sessions must resume on the other workers, and it serves on their listeners: its
  // ticket keys derive from the primary's secret, and its config must have the primary's listen.
  const shared = cluster.isWorker ? await setupFromPrimary() : undefined
  trustSystemRoots(logger)
  const gateway = new Gateway({
    loader,
    logger,
    admin: cluster.isPrimary,
    ticketSecret: shared?.ticketSecret,
    listen: shared?.listen,
    onReloaded: cluster.isWorker ? tellPrimaryReloaded : undefined,
    workers: { running: shared?.workers ?? 1, fromFlag: workersFromFlag },
  })
  await holdNextTickShapes()
  try {
    await gateway.start()
  } catch (error) {
    // The warnings known beside a config's problems too, as stderr says them and a refused reload logs them.
    const warnings = error instanceof ConfigError ? error.warnings.map(formatIssue) : []
    logger.fatal({ error: errorSummary(error), ...(warnings.length > 0 && { warnings: cappedIssuesForLog(warnings, 'more') }) }, 'not started')
    if (error instanceof ConfigError) return notStarted(loader.file, error, err)
    startFailed(loader.file, error, err)
    return 1
  }
  if (cluster.isWorker) serveAsWorker(gateway)
  else hangup.reload = () => void gateway.reload({ trigger: 'SIGHUP' })
  const signal = await stopSignal
  logger.info({ signal }, 'draining')
  await gateway.stop()
  logger.info('stopped')
  return 0
}

/** --workers, held to the schema's bounds for `workers`: decimal digits (not `0x2`, `1e1` or ` 2`), or auto. */
function parseWorkers(flag: string): number | undefined {
  if (flag === 'auto') return workerCount('auto')
  const n = /^[0-9]+$/.test(flag) ? Number(flag) : NaN
  return n >= 1 && n <= MAX_WORKERS ? n : undefined
}
