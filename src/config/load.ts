/**
 * routes.yaml → a deep-frozen Config, or one ConfigError listing every issue in file order.
 * Certificate contents are checked later, by tls/pem.ts when the snapshot is built.
 */
import { readFile } from 'node:fs/promises'
import { ConfigError, sortByPosition, type ConfigIssue } from './issues.js'
import { resolveConfig } from './resolve.js'
import type { RawConfig } from './schema.js'
import type { Config } from './types.js'
import { validateAgainstSchema } from './validate.js'
import { parseYaml, type YamlSource } from './yaml-source.js'

export async function loadConfig(file: string): Promise<Config> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new ConfigError([{ file, path: '', message: `cannot read the config: ${(error as Error).message}` }], {
      cause: error,
    })
  }
  return parseConfig(text, file)
}

/**
 * The last text that parsed and passed the schema. A reload that finds routes.yaml unchanged (a
 * certificate rotated, SIGHUP, POST /reload) skips the YAML parse with positions and the schema check:
 * for a large table, most of a reload's time. What depends on the disk (the files named, their
 * contents) is checked again every time.
 */
let lastValid: { readonly text: string; readonly file: string; readonly source: YamlSource } | undefined

/** Parses config text as if read from `file` (relative paths resolve against its folder). */
export function parseConfig(text: string, file: string): Config {
  const source = lastValid?.text === text && lastValid.file === file ? lastValid.source : validSource(text, file)
  const { config, issues: ruleIssues } = resolveConfig(source.value as RawConfig, file, source.positions)
  if (!config) throw new ConfigError(sortByPosition(ruleIssues))
  return deepFreeze(config)
}

function validSource(text: string, file: string): YamlSource {
  const source = parseYaml(text, file)
  let issues: ConfigIssue[] = [...source.issues]
  if (issues.length === 0) issues = validateAgainstSchema(source.value ?? null, file, source.positions, source.keyPositions)
  if (issues.length > 0) throw new ConfigError(sortByPosition(issues))
  lastValid = { text, file, source }
  return source
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
