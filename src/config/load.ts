/**
 * routes.yaml → a deep-frozen Config and every issue of its schema and rules, in file order, or one
 * ConfigError where nothing after the YAML can be trusted. Certificate contents are checked later, by
 * tls/pem.ts, when the snapshot is built or, for a config refused here, by snapshot/load-config.ts.
 */
import { resolve } from 'node:path'
import { checkableConfig } from './checkable.js'
import { ConfigError, sortByPosition, type ConfigIssue } from './issues.js'
import { readFailure, readRegularFile } from './regular-file.js'
import { resolveConfig } from './resolve.js'
import type { Config } from './types.js'
import { refusalIssues, schemaRefusals } from './validate.js'
import { parseYaml, type YamlSource } from './yaml-source.js'

/** A config as read, with every issue of its schema and rules (none: it can be served). */
export interface LoadedConfig {
  readonly config: Config
  readonly issues: ConfigIssue[]
}

/**
 * Loads one routes.yaml again and again (a running gateway's start and reloads). It keeps the last text
 * that parsed and passed the schema: a reload that finds routes.yaml unchanged (a certificate rotated,
 * SIGHUP, POST /reload) skips the YAML parse with positions and the schema check, for a large table
 * most of a reload's time. What depends on the disk (the files named, their contents) is checked
 * again every time.
 */
export class ConfigLoader {
  private lastValid: { readonly text: string; readonly source: YamlSource } | undefined
  /**
   * The file by its absolute path, as at the start. Read by a relative one (`./routes.yaml`, the
   * default) it would be looked for in the working folder the process holds, not in the folder of that
   * name: once that folder is removed and created again, every reload would fail to find a routes.yaml
   * there, while the watcher, which resolves it (reload/fingerprint.ts), saw each edit.
   */
  private readonly path: string

  constructor(readonly file: string) {
    this.path = resolve(file)
  }

  /**
   * The config and every issue of the schema and the rules, without throwing on those, so that the
   * files it names are read too and one run lists every problem (snapshot/load-config.ts). YAML errors,
   * and schema errors in the route list itself, still throw: nothing after them can be trusted. Async
   * for its callers' sake; the read itself is synchronous, of a regular file (see regular-file.ts).
   */
  async load(): Promise<LoadedConfig> {
    return this.fromText(this.readText())
  }

  /**
   * Config text as if read from this loader's file (relative paths resolve against its folder), or a
   * ConfigError of every issue of its schema and rules; the contents of the files it names are not
   * checked (the snapshot build reads them). The tests' way in.
   */
  parse(text: string): Config {
    const { config, issues } = this.fromText(text)
    if (issues.length > 0) throw new ConfigError(sortByPosition(issues))
    return config
  }

  private readText(): string {
    try {
      return readRegularFile(this.path).toString('utf8')
    } catch (error) {
      throw new ConfigError([{ file: this.file, path: '', message: `cannot read the config: ${readFailure(this.path, error)}` }], {
        cause: error,
      })
    }
  }

  /**
   * The schema's issues and the rules', in one list (see checkable.ts): a refused start or reload lists
   * the problems of a route the schema refused in part as check does.
   */
  private fromText(text: string): LoadedConfig {
    try {
      return this.resolveText(text)
    } catch (error) {
      if (error instanceof ConfigError) throw error
      // A bug that this text runs into, here or in the yaml library (a tag on an empty key did): the one
      // problem of the file, so that check and a start say it in a line, not a stack, and a reload names
      // the file and keeps the previous config serving.
      const message = `internal error reading the config: ${String(error)} (please report it)`
      throw new ConfigError([{ file: this.file, path: '', message }], { cause: error })
    }
  }

  private resolveText(text: string): LoadedConfig {
    const cached = this.lastValid?.text === text ? this.lastValid.source : undefined
    const source = cached ?? this.parsedSource(text)
    const refusals = cached ? [] : schemaRefusals(source.value, this.file, source)
    if (refusals.length === 0) this.lastValid = { text, source }
    const { config, issues } = resolveConfig(checkableConfig(source.value, refusals), this.file, source.positions)
    return { config: deepFreeze(config), issues: [...refusalIssues(refusals), ...issues] }
  }

  /** The YAML with positions; throws on a YAML error or a document that holds nothing. */
  private parsedSource(text: string): YamlSource {
    const source = parseYaml(text, this.file)
    if (source.issues.length > 0) throw new ConfigError(sortByPosition([...source.issues]))
    return source
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
