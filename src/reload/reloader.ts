/**
 * When and how a reload runs: one at a time, at most one a second, each reading routes.yaml and every
 * file it names again, asked for by a change in those files (watched by folder), SIGHUP, POST /reload
 * or the cluster primary. The gateway applies a loaded config (build, swap, retire); the reloader
 * remembers which files to watch and whether they changed, and counts and logs each outcome (a key
 * that does not match its certificate yet, a few seconds late: KEY_MISMATCH_SETTLE_MS).
 */
import { resolve } from 'node:path'
import { coalesce } from '../coalesce.js'
import { cappedIssuesForLog, ConfigError, formatIssue, type ConfigIssue } from '../config/issues.js'
import type { ConfigLoader } from '../config/load.js'
import type { Config } from '../config/types.js'
import { displayPath } from '../config/file-paths.js'
import { cappedForLog, errorSummary, type Logger } from '../log.js'
import type { Metrics } from '../metrics/metrics.js'
import { loadCheckedConfig } from '../snapshot/load-config.js'
import { changedFiles, digestsAfterRefusal, digestsOf, referencedFiles, sameDigests, type FileDigests } from './fingerprint.js'
import { watchFolders, type FolderWatcher } from './watch.js'

export interface ReloadResult {
  readonly ok: boolean
  readonly errors: string[]
  /**
   * The warnings of the config the reload applied, each as its log line says it (`file:line:col
   * key.path: message`), all of them where the log has only those it had not logged before; of a config
   * it refused, those known beside its errors (ConfigError.warnings); none when it read nothing.
   */
  readonly warnings: string[]
  /** Not attempted: the gateway is draining, or (cluster) no worker serves. POST /reload answers 503. */
  readonly unavailable?: boolean
}

/** A reload not attempted (see ReloadResult.unavailable), and why. */
export function unavailableReload(reason: string): ReloadResult {
  return { ok: false, unavailable: true, errors: [reason], warnings: [] }
}

/** The answer to a reload asked for during the drain, by the gateway or by the primary of its workers. */
export const DRAINING_RELOAD = unavailableReload('the gateway is draining')

/** A reload for file changes that found none, and so applied nothing. */
function nothingChanged(): ReloadResult {
  return { ok: true, errors: [], warnings: [] }
}

/** What asked for a reload, for the log; 'api' is a caller of reload() itself (tests). */
export type ReloadTrigger = 'file change' | 'SIGHUP' | 'POST /reload' | 'api'

/**
 * The least time between the starts of two reloads (coalesce.ts): however many POST /reload, SIGHUP
 * and file events come, reloads take at most a run a second of the event loop that serves traffic
 * (a run of a 1,000-route table takes 50 to 150 ms), and each asker still gets a reload that read the
 * files after it asked, at most a second later than it would alone.
 */
export const RELOAD_INTERVAL_MS = 1000

/**
 * How long a reload for a file change, refused only because a key is not its certificate's, waits
 * before that failure is counted and logged: a certificate and its key replaced one after the other
 * (`cp new.crt tls.crt; cp new.key tls.key`, seconds apart) are a pair again by then, their next
 * reload succeeds, and no failure is counted. Envoy and Traefik count each step's rejection, and an
 * alert on failed reloads fires for a rotation done right; a pair that stays wrong is counted here.
 */
export const KEY_MISMATCH_SETTLE_MS = 5000

/** What one run was asked for with, by every request that shares it. */
interface ReloadRequest {
  readonly onlyIfChanged: boolean
  readonly trigger: ReloadTrigger
  /** How many asked for this run, by trigger, for the log. */
  readonly requests: Partial<Record<ReloadTrigger, number>>
}

/**
 * Requests that share a run: it is unconditional if any of them is (a file event that finds nothing
 * changed must not skip a POST /reload), and logged under the first request that made it so.
 */
function joinReloadRequests(queued: ReloadRequest, joining: ReloadRequest): ReloadRequest {
  const leader = queued.onlyIfChanged && !joining.onlyIfChanged ? joining : queued
  const { trigger } = joining
  return { ...leader, requests: { ...queued.requests, [trigger]: (queued.requests[trigger] ?? 0) + 1 } }
}

export interface ReloaderOptions {
  readonly loader: ConfigLoader
  readonly logger: Logger
  readonly metrics: Pick<Metrics, 'configReloads' | 'configLastReloadSuccessful'>
  /** Builds a snapshot of `config` and swaps it in, and gives its warnings; throws (a ConfigError) to refuse it. */
  readonly apply: (config: Config) => readonly ConfigIssue[]
  /** The config serving now; undefined before the start. */
  readonly serving: () => Config | undefined
  readonly stopping: () => boolean
  /** A reload applied the config on disk, which therefore loads (a cluster worker tells its primary). */
  readonly onReloaded?: () => void
  /** Default: RELOAD_INTERVAL_MS. */
  readonly minIntervalMs?: number
}

export class Reloader {
  private watcher: FolderWatcher | undefined
  /**
   * The files behind the last load attempt, good or bad (after a bad one, with those of the config
   * still serving), each with its digest as that attempt read it: the files watched, of which a
   * watcher event that changes none is ignored.
   */
  private digests: FileDigests = new Map()
  /**
   * The files of the config serving, each with its digest as its load read it: what a reload's log line
   * says it read anew is against these, not against a refused attempt since (which read a new routes.yaml
   * that a reload applies only once the certificate it names has come).
   */
  private servedDigests: FileDigests = new Map()
  private readonly coalesced: (request: ReloadRequest) => Promise<ReloadResult>
  /** The failure of a file change's reload waiting for KEY_MISMATCH_SETTLE_MS, and its report. */
  private heldFailure: { readonly timer: NodeJS.Timeout; report: () => void } | undefined

  constructor(private readonly options: ReloaderOptions) {
    this.coalesced = coalesce((request) => this.run(request), { minIntervalMs: options.minIntervalMs ?? RELOAD_INTERVAL_MS, merge: joinReloadRequests })
  }

  /**
   * Loads the config to start with, and hands it to `start` (which throws if it cannot serve it),
   * counted as a reload's is. Each of its files is digested before it is read (routes.yaml before the
   * load, the files it names before `start` reads them), as a reload does: watch() then tells a file
   * that changed while the gateway started.
   */
  async loadFirst(start: (config: Config) => void): Promise<Config> {
    const { loader } = this.options
    const before = digestsOf([resolve(loader.file)])
    const config = await loadCheckedConfig(loader)
    this.digests = digestsOf(referencedFiles(config), before)
    this.servedDigests = this.digests
    start(config)
    this.countLoad('success')
    return config
  }

  /** Reload whenever one of the files changes. */
  watch(): void {
    const changed = () => void this.reload({ onlyIfChanged: true, trigger: 'file change' })
    this.watcher = watchFolders(this.watchedFiles(), changed, (folder, error) => this.logUnwatchable(folder, error))
    // An edit saved after loadFirst() digested the files but before the folders were watched raised no
    // event here: look for one now.
    changed()
  }

  /** Edits there go unseen: said, or the operator finds out at the first edit that does not apply. */
  private logUnwatchable(folder: string, error: Error): void {
    const limit = (error as NodeJS.ErrnoException).code === 'ENOSPC'
    const hint = limit ? "the host's inotify watch limit is reached: raise sysctl fs.inotify.max_user_watches" : undefined
    this.options.logger.warn(
      { folder: displayPath(folder), error: errorSummary(error), ...(hint && { hint }) },
      'cannot watch a folder of the config: its edits reload only on SIGHUP or POST /reload',
    )
  }

  close(): void {
    this.watcher?.close()
    clearTimeout(this.heldFailure?.timer)
  }

  /**
   * Loads and applies the config; on any error the one serving stays. `onlyIfChanged` (file watching)
   * skips the reload when no file the config depends on changed. A reload asked for while one runs
   * waits, and then reads the files again, in one run with every other request of that time.
   */
  reload(options: { onlyIfChanged?: boolean; trigger?: ReloadTrigger } = {}): Promise<ReloadResult> {
    // A watcher event that changed none of the files (another file of a watched folder: a log, a
    // temporary file) costs no run, and so holds no POST /reload back for the interval.
    if (options.onlyIfChanged && sameDigests(this.digests, digestsOf(this.watchedFiles()))) return Promise.resolve(nothingChanged())
    const trigger = options.trigger ?? 'api'
    return this.coalesced({ onlyIfChanged: options.onlyIfChanged ?? false, trigger, requests: { [trigger]: 1 } })
  }

  private countLoad(result: 'success' | 'failure'): void {
    this.options.metrics.configReloads.inc({ result })
    this.options.metrics.configLastReloadSuccessful.set(result === 'success' ? 1 : 0)
  }

  private async run({ onlyIfChanged, trigger, requests }: ReloadRequest): Promise<ReloadResult> {
    const { loader, logger, apply, serving, stopping } = this.options
    const before = serving()
    if (stopping()) return DRAINING_RELOAD
    if (!before) return unavailableReload('the gateway is not serving yet')
    // Read before the load reads them: a file written from here on differs at its watcher event.
    const digests = digestsOf(this.watchedFiles())
    if (onlyIfChanged && sameDigests(this.digests, digests)) return nothingChanged()
    this.digests = digests
    let attempted: FileDigests | undefined
    let warnings: readonly ConfigIssue[]
    try {
      const config = await loadCheckedConfig(loader)
      if (stopping()) return DRAINING_RELOAD
      // The files new to this config are read before apply() reads them, for the same reason.
      attempted = digestsOf(referencedFiles(config), digests)
      warnings = apply(config)
      this.watchFiles(attempted)
      this.dropHeldFailure()
      this.countLoad('success')
      logger.info({ routes: config.routes.length, trigger, requests, changed: this.changedSinceServed(attempted) }, 'config reloaded')
      this.servedDigests = attempted
    } catch (error) {
      const issues = error instanceof ConfigError ? error.issues : []
      const errors = issues.length > 0 ? issues.map(formatIssue) : [errorSummary(error).message]
      const refusedWarnings = error instanceof ConfigError ? error.warnings.map(formatIssue) : []
      // Only a file change's may wait: a reload someone asked for answers them with its outcome.
      const keyMayCome = onlyIfChanged && issues.length > 0 && issues.every((issue) => issue.kind === 'key-mismatch')
      this.refused({ trigger, requests, errors, warnings: refusedWarnings }, keyMayCome)
      this.watchFiles(digestsAfterRefusal(issues, { serving: before, beforeLoad: digests, attempted }))
      return { ok: false, errors, warnings: refusedWarnings }
    }
    // Past the try: the config serves now, whatever the listener does.
    this.options.onReloaded?.()
    return { ok: true, errors: [], warnings: warnings.map(formatIssue) }
  }

  /**
   * Counts and logs a refused reload, at once, or where `keyMayCome` (its only problems are keys that do
   * not match their certificates, after a file change) once KEY_MISMATCH_SETTLE_MS have passed without a
   * reload that loads (holdFailure).
   */
  private refused(failure: { trigger: ReloadTrigger; requests: ReloadRequest['requests']; errors: string[]; warnings: string[] }, keyMayCome: boolean): void {
    const { loader, logger } = this.options
    const errors = cappedIssuesForLog(failure.errors, 'more problems')
    const report = () => {
      this.countLoad('failure')
      // One line per reload, its problems in a list as POST /reload answers them: a log-based alert
      // counts reloads, as Envoy logs one line per rejected update.
      logger.error(
        {
          file: loader.file,
          trigger: failure.trigger,
          requests: failure.requests,
          errors,
          ...(failure.warnings.length > 0 && { warnings: cappedIssuesForLog(failure.warnings, 'more') }),
        },
        'reload failed, previous config still serving',
      )
    }
    if (keyMayCome) {
      logger.info({ file: loader.file, errors, settleSeconds: KEY_MISMATCH_SETTLE_MS / 1000 }, 'reload waits for a key that matches its certificate')
      this.holdFailure(report)
    } else {
      this.dropHeldFailure()
      report()
    }
  }

  /**
   * Reports `report`'s failure KEY_MISMATCH_SETTLE_MS after the first failure held, unless a reload
   * loads a config before then (dropHeldFailure). A later one held meanwhile takes its place but not its
   * deadline: a pair that keeps changing and stays wrong is still reported in time.
   */
  private holdFailure(report: () => void): void {
    if (this.heldFailure) {
      this.heldFailure.report = report
      return
    }
    const timer = setTimeout(() => {
      const held = this.heldFailure!
      this.heldFailure = undefined
      held.report()
    }, KEY_MISMATCH_SETTLE_MS).unref()
    this.heldFailure = { timer, report }
  }

  /** A reload that loaded a config, or whose own failure is reported now: one held before it is news no longer. */
  private dropHeldFailure(): void {
    clearTimeout(this.heldFailure?.timer)
    this.heldFailure = undefined
  }

  /** What the log line says a reload read anew, against the config served until it: the rotation an operator looks for. */
  private changedSinceServed(serving: FileDigests): string[] {
    return cappedForLog(changedFiles(this.servedDigests, serving).map(displayPath), 'more')
  }

  private watchedFiles(): string[] {
    return [...this.digests.keys()]
  }

  /**
   * The files of `digests` are watched from now on, each with the digest a load read. The watcher is
   * told every time: a folder that did not exist at the last attempt may exist now.
   */
  private watchFiles(digests: FileDigests): void {
    this.digests = digests
    this.watcher?.update(this.watchedFiles())
  }
}
