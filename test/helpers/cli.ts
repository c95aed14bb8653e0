/**
 * The portcullis command as a user runs it, from source: `node --import tsx src/cli.ts ARGS`, in a
 * process of its own.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

/** The path of `file` in src/. */
export function sourcePath(file: string): string {
  return new URL(`../../src/${file}`, import.meta.url).pathname
}

/**
 * Node's arguments that run `file` of src/ from source, for the tests that run it with execFile. tsx by
 * its resolved path: `--import tsx` is looked for from the folder the process starts in, which a test
 * may set to one without node_modules above it.
 */
export function runFromSource(file: string): readonly string[] {
  return ['--import', import.meta.resolve('tsx'), sourcePath(file)]
}

/** Node's arguments that run src/cli.ts. */
export const RUN_CLI = runFromSource('cli.ts')

/** How a test runs portcullis: `launcher` is a command that runs the rest of its arguments (unshare, sh -c). */
export interface PortcullisProcessOptions {
  readonly args?: readonly string[]
  readonly launcher?: readonly string[]
  readonly detached?: boolean
  readonly env?: NodeJS.ProcessEnv
  /** The folder it runs in, where a relative --config is looked for. */
  readonly cwd?: string
}

/**
 * `[LAUNCHER] portcullis [ARGS] --config FILE`, running. Default stdio: none in, stdout piped (the JSON
 * log), stderr shown.
 */
export function spawnPortcullis(configFile: string, { args = [], launcher = [], ...options }: PortcullisProcessOptions & { stdio?: StdioOptions } = {}): ChildProcess {
  const [command, ...commandArgs] = [...launcher, process.execPath, ...RUN_CLI, ...args, '--config', configFile]
  return spawn(command!, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'], ...options })
}

/** One line of the JSON log, parsed. */
export type LogRecord = { msg: string } & Record<string, unknown>

/** A running `portcullis` whose log a test reads as it comes. */
export interface LoggingPortcullis {
  readonly child: ChildProcess
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>
  /** Every record written so far, in order. */
  readonly logs: LogRecord[]
  /**
   * The first record from `logs[since]` on with message `msg` (or one that `msg` matches), and passing
   * `match`, waited for; rejects if the log ends without one. Take `since = logs.length` before an
   * action, so that a like record written before it never stands in for the one expected.
   */
  logged(msg: string | RegExp, match?: (record: LogRecord) => boolean, since?: number): Promise<LogRecord>
}

/** spawnPortcullis with its stdout read line by line, for a test that waits on what it logs. */
export function runPortcullis(
  configFile: string,
  { stderr = 'inherit', ...options }: PortcullisProcessOptions & { stderr?: 'inherit' | 'ignore' | 'pipe' } = {},
): LoggingPortcullis {
  const child = spawnPortcullis(configFile, { ...options, stdio: ['ignore', 'pipe', stderr] })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  const logs: LogRecord[] = []
  const waiters = new Set<() => void>()
  // Closed once the child and every process that shares its stdout (cluster workers) have exited.
  let ended = false
  createInterface({ input: child.stdout! })
    .on('line', (line) => {
      logs.push(JSON.parse(line) as LogRecord)
      for (const waiter of waiters) waiter()
    })
    .on('close', () => {
      ended = true
      for (const waiter of waiters) waiter()
    })
  const logged = (msg: string | RegExp, match: (record: LogRecord) => boolean = () => true, since = 0) =>
    new Promise<LogRecord>((resolve, reject) => {
      const check = () => {
        const found = logs.slice(since).find((record) => (typeof msg === 'string' ? record.msg === msg : msg.test(record.msg)) && match(record))
        if (found || ended) waiters.delete(check)
        if (found) resolve(found)
        else if (ended) reject(new Error(`portcullis ended its log without a "${msg}" record`))
      }
      waiters.add(check)
      check()
    })
  return { child, exited, logs, logged }
}
