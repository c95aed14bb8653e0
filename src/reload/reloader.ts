/**
 * When and how a reload runs: one at a time, each reading routes.yaml and every file it names again,
 * asked for by a change in those files (watched by folder), SIGHUP, POST /reload or the cluster
 * primary. The gateway applies a loaded config (build, swap, retire); the reloader remembers which
 * files to watch and whether they changed, and counts and logs each outcome.
 */
import { ConfigError, formatIssue } from '../config/issues.js'
import type { ConfigLoader } from '../config/load.js'
import type { Config } from '../config/types.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics/metrics.js'
import { fingerprint, referencedFiles, sameFiles } from './files.js'
import { watchFolders, type FolderWatcher } from './watch.js'

export interface ReloadResult {
  readonly ok: boolean
  readonly errors: string[]
}

/** What asked for a reload, for the log; 'api' is a caller of reload() itself (tests). */
export type ReloadTrigger = 'file change' | 'SIGHUP' | 'POST /reload' | 'primary' | 'api'

export interface ReloaderOptions {
  readonly loader: ConfigLoader
  readonly logger: Logger
  readonly metrics: Pick<Metrics, 'configReloads' | 'configLastReloadSuccessful'>
  /** Builds a snapshot of `config` and swaps it in; throws (a ConfigError) to refuse it. */
  readonly apply: (config: Config) => void
  /** The config serving now; undefined before the start. */
  readonly serving: () => Config | undefined
  readonly stopping: () => boolean
}

export class Reloader {
  private watcher: FolderWatcher | undefined
  /**
   * The files behind the last load attempt, good or bad (after a bad one, with those of the config
   * still serving), and their fingerprint: a watcher event that changes none of them is ignored.
   */
  private watchedFiles: readonly string[] = []
  private lastFingerprint = ''
  private reloading: Promise<ReloadResult> | undefined

  constructor(private readonly options: ReloaderOptions) {}

  /**
   * The config loaded at the start, before its files are read for its snapshot: a file that changes
   * from here on reloads at its next event.
   */
  loaded(config: Config): void {
    this.watchedFiles = referencedFiles(config)
    this.lastFingerprint = fingerprint(this.watchedFiles)
  }

  /** Reload whenever one of the files changes. */
  watch(): void {
    this.watcher = watchFolders(this.watchedFiles, () => void this.reload({ onlyIfChanged: true, trigger: 'file change' }))
  }

  close(): void {
    this.watcher?.close()
  }

  /**
   * Loads and applies the config; on any error the one serving stays. `onlyIfChanged` (file watching)
   * skips the reload when no file the config depends on changed.
   */
  reload(options: { onlyIfChanged?: boolean; trigger?: ReloadTrigger } = {}): Promise<ReloadResult> {
    // A reload asked for while one runs waits, and then reads the files again.
    const next = (this.reloading ?? Promise.resolve()).then(() => this.run(options.onlyIfChanged ?? false, options.trigger ?? 'api'))
    this.reloading = next
    return next
  }

  private async run(onlyIfChanged: boolean, trigger: ReloadTrigger): Promise<ReloadResult> {
    const { loader, logger, metrics, apply, serving, stopping } = this.options
    const before = serving()
    if (stopping() || !before) return { ok: false, errors: ['the gateway is not running'] }
    const files = this.watchedFiles
    const current = fingerprint(files)
    if (onlyIfChanged && current === this.lastFingerprint) return { ok: true, errors: [] }
    this.lastFingerprint = current
    let attempted: readonly string[] | undefined
    try {
      const config = await loader.load()
      if (stopping()) return { ok: false, errors: ['the gateway is stopping'] }
      attempted = referencedFiles(config)
      apply(config)
      this.watchFiles(files, attempted)
      metrics.configReloads.inc({ result: 'success' })
      metrics.configLastReloadSuccessful.set(1)
      logger.info({ routes: config.routes.length, trigger }, 'config reloaded')
      return { ok: true, errors: [] }
    } catch (error) {
      metrics.configReloads.inc({ result: 'failure' })
      metrics.configLastReloadSuccessful.set(0)
      const issues = error instanceof ConfigError ? error.issues : []
      const errors = issues.length > 0 ? issues.map(formatIssue) : [(error as Error).message]
      for (const line of errors) logger.error({ file: loader.file, trigger }, `reload failed, previous config still serving: ${line}`)
      // A file that only the refused config names (a Secret that lands after its ConfigMap) is
      // watched too, so that its arrival or repair reloads.
      const missing = issues.flatMap((issue) => issue.missingFile ?? [])
      this.watchFiles(files, [...new Set([...referencedFiles(before), ...(attempted ?? []), ...missing])])
      return { ok: false, errors }
    }
  }

  /**
   * The fingerprint stays the one taken before loading: a file that changed while it was loaded still
   * differs at the next watcher event, which reloads again instead of missing the change. A new set of
   * files has no such fingerprint; the next event reloads. The watcher is told every time: a folder
   * that did not exist at the last attempt may exist now.
   */
  private watchFiles(previous: readonly string[], next: readonly string[]): void {
    this.watcher?.update(next)
    if (sameFiles(previous, next)) return
    this.watchedFiles = next
    this.lastFingerprint = ''
  }
}
