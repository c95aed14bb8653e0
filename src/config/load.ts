/**
 * routes.yaml → a deep-frozen Config, or one ConfigError listing every issue in file order.
 * Certificate contents are checked later, by tls/pem.ts when the snapshot is built.
 */
import { ConfigError, sortByPosition, type ConfigIssue } from './issues.js'
import { readRegularFile } from './regular-file.js'
import { resolveConfig } from './resolve.js'
import type { RawConfig } from './schema.js'
import type { Config } from './types.js'
import { validateAgainstSchema } from './validate.js'
import { parseYaml, type YamlSource } from './yaml-source.js'

/**
 * Loads one routes.yaml again and again (a running gateway's start and reloads). It keeps the last text
 * that parsed and passed the schema: a reload that finds routes.yaml unchanged (a certificate rotated,
 * SIGHUP, POST /reload) skips the YAML parse with positions and the schema check, for a large table
 * most of a reload's time. What depends on the disk (the files named, their contents) is checked
 * again every time.
 */
export class ConfigLoader {
  private lastValid: { readonly text: string; readonly source: YamlSource } | undefined

  constructor(readonly file: string) {}

  /** Async for its callers' sake; the read itself is synchronous, of a regular file (see regular-file.ts). */
  async load(): Promise<Config> {
    return this.parse(this.readText())
  }

  /**
   * For `portcullis check`: the config and the issues of the schema and the rules, without throwing on
   * those, so that check goes on to read the files and one run lists every problem. A route the schema
   * refuses is left out of the later checks, a top-level setting it refuses (`workers`, `limits`) has
   * its default there, and an unknown top-level key is left out. YAML errors, and schema errors in the
   * listeners or the route list itself, still throw: nothing after them can be trusted.
   */
  async loadForCheck(): Promise<{ config: Config; issues: ConfigIssue[] }> {
    const source = this.parsedSource(this.readText())
    const schemaIssues = this.schemaIssues(source)
    const refusedRoutes = new Set<number>()
    const refusedSettings = new Set<string>()
    for (const issue of schemaIssues) {
      const [, key, route] = /^([^.[]+)(?:\[(\d+)\])?/.exec(issue.path) ?? []
      if (key === 'routes' && route !== undefined) refusedRoutes.add(Number(route))
      else if (key === undefined || key === 'routes' || key === 'listen') throw new ConfigError(sortByPosition(schemaIssues))
      else refusedSettings.add(key)
    }
    const raw = Object.fromEntries(Object.entries(source.value as RawConfig).filter(([key]) => !refusedSettings.has(key))) as RawConfig
    const checkable = { ...raw, routes: raw.routes.map((route, index) => (refusedRoutes.has(index) ? undefined : route)) }
    const { config, issues } = resolveConfig(checkable, this.file, source.positions)
    return { config: deepFreeze(config), issues: [...schemaIssues, ...issues] }
  }

  /** Config text as if read from this loader's file (relative paths resolve against its folder). */
  parse(text: string): Config {
    const { config, issues } = this.resolve(text)
    if (issues.length > 0) throw new ConfigError(sortByPosition(issues))
    return config
  }

  private readText(): string {
    try {
      return readRegularFile(this.file).toString('utf8')
    } catch (error) {
      throw new ConfigError([{ file: this.file, path: '', message: `cannot read the config: ${(error as Error).message}` }], {
        cause: error,
      })
    }
  }

  private resolve(text: string): { config: Config; issues: ConfigIssue[] } {
    const source = this.lastValid?.text === text ? this.lastValid.source : this.validSource(text)
    const { config, issues } = resolveConfig(source.value as RawConfig, this.file, source.positions)
    return { config: deepFreeze(config), issues }
  }

  private validSource(text: string): YamlSource {
    const source = this.parsedSource(text)
    const issues = this.schemaIssues(source)
    if (issues.length > 0) throw new ConfigError(sortByPosition(issues))
    this.lastValid = { text, source }
    return source
  }

  private schemaIssues(source: YamlSource): ConfigIssue[] {
    return validateAgainstSchema(source.value, this.file, source.positions, source.keyPositions)
  }

  /** The YAML with positions; throws on a YAML error or an empty file. */
  private parsedSource(text: string): YamlSource {
    const source = parseYaml(text, this.file)
    if (source.issues.length > 0) throw new ConfigError(sortByPosition([...source.issues]))
    if (source.value == null) throw new ConfigError([{ file: this.file, path: '', message: 'the file is empty: it needs listen and routes' }])
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
