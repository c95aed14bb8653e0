/**
 * The portcullis command as a user runs it, from source: `node --import tsx src/cli.ts ARGS`, in a
 * process of its own.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'

/** src/cli.ts, for the tests that run the command with execFile and read what it printed. */
export const CLI = new URL('../../src/cli.ts', import.meta.url).pathname

/** `portcullis --config FILE`, running. Default stdio: none in, stdout piped (the JSON log), stderr shown. */
export function spawnPortcullis(configFile: string, options: { stdio?: StdioOptions; detached?: boolean } = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CLI, '--config', configFile], { stdio: ['ignore', 'pipe', 'inherit'], ...options })
}
