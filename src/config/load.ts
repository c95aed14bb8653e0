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

/** Loads `file` once (portcullis check, a worker's start). */
export function loadConfig(file: string): Promise<Config> {
  return new ConfigLoader(file).load()
}

/** Parses config text as if read from `file` (relative paths resolve against its folder). */
export function parseConfig(text: string, file: string): Config {
  return new ConfigLoader(file).parse(text)
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

  constructor(readonly file: string) {}

  /** Async for its callers' sake; the read itself is synchronous, of a regular file (see regular-file.ts). */
  async load(): Promise<Config> {
    return this.parse(this.readText())
  }

  /**
   * The config and the issues its rules find, without throwing on those: `portcullis check` goes on to
   * read the files of such a config, so that one run lists them all. YAML and schema issues still throw.
   */
  async loadWithRuleIssues(): Promise<{ config: Config; issues: ConfigIssue[] }> {
    return this.resolve(this.readText())
  }

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
    const source = parseYaml(text, this.file)
    let issues: ConfigIssue[] = [...source.issues]
    if (issues.length === 0 && source.value == null) issues = [{ file: this.file, path: '', message: 'the file is empty: it needs listen and routes' }]
    if (issues.length === 0) issues = validateAgainstSchema(source.value, this.file, source.positions, source.keyPositions)
    if (issues.length > 0) throw new ConfigError(sortByPosition(issues))
    this.lastValid = { text, source }
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
