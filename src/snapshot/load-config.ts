/**
 * routes.yaml as a start, a reload and `portcullis check` load it, so that each lists the same problems:
 * those of the file's text, its schema and its rules, and where these refuse it, those of the files it
 * names too, in one run (a config they pass has its files read when its snapshot is built), and the
 * same warnings beside them.
 */
import { ConfigError, sortByPosition } from '../config/issues.js'
import type { ConfigLoader, LoadedConfig } from '../config/load.js'
import type { Config } from '../config/types.js'
import { readFiles } from './snapshot.js'
import { configWarnings } from './warnings.js'

/** The config `loader` reads, or a ConfigError listing every problem found in it and in its files. */
export async function loadCheckedConfig(loader: ConfigLoader): Promise<Config> {
  return checkedConfig(await loader.load())
}

/** The config of what a loader read, or a ConfigError listing every problem found in it and in its files. */
export function checkedConfig({ config, issues }: LoadedConfig): Config {
  if (issues.length === 0) return config
  // The rules name a file only when they cannot reach it, and reading it then fails too: that one
  // problem is listed once, any other of its key still is.
  const unreachable = new Set(issues.map((issue) => issue.aboutFile))
  // A list with a problem at an item is read without it: what its files say as a whole (no CRL of the
  // root CA among them) may be that item's to say, as the files' check of a list with an unread file
  // does not say it either.
  const listsWithProblems = new Set(issues.flatMap((issue) => /^(.+)\[\d+\]$/.exec(issue.path)?.[1] ?? []))
  const files = readFiles(config)
  const more = files.issues.filter(
    (issue) => (issue.aboutFile === undefined || !unreachable.has(issue.aboutFile)) && !listsWithProblems.has(issue.path),
  )
  // Problems of files alone leave the config as written, and its warnings known but those of the files
  // not read; a value the schema or the rules refused is read as its default or not at all, so that
  // warnings of it (two routes' names, the gateway's own listener) could be of a config never written.
  const asWritten = issues.every((issue) => issue.aboutFile !== undefined)
  throw new ConfigError(sortByPosition([...issues, ...more]), { warnings: asWritten ? configWarnings(config, files) : [] })
}
