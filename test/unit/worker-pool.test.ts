/**
 * The primary's pool of workers, with real forked processes: a small stand-in for the gateway worker
 * (the pool only needs its messages and its exit).
 */
import assert from 'node:assert/strict'
import cluster, { type Worker } from 'node:cluster'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, test } from 'node:test'
import { pino } from 'pino'
import { WorkerPool } from '../../src/cluster/worker-pool.js'
import { WorkerQuestions } from '../../src/cluster/questions.js'
import { WorkerRegistries } from '../../src/cluster/registries.js'
import type { Logger } from '../../src/log.js'
import type { LogRecord } from '../helpers/cli.js'
import { eventually } from '../helpers/gateway.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-worker-pool-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** A pool of `count` workers of the script cluster.setupPrimary() set, started in `cwd`. */
function workerPool(count: number, logger: Logger, cwd = process.cwd()): WorkerPool {
  const listen = { http: { host: '127.0.0.1', port: 0 } }
  return new WorkerPool({ count, logger, questions: new WorkerQuestions(), registries: new WorkerRegistries(), ticketSecret: Buffer.alloc(32), listen, cwd })
}

/** A logger whose records land in `logs`. */
function loggingTo(logs: LogRecord[]): Logger {
  const sink = new Writable({
    write(line: Buffer, _encoding, done) {
      logs.push(JSON.parse(line.toString()) as LogRecord)
      done()
    },
  })
  return pino(sink)
}

/** Serves at once; at SIGTERM closes its IPC channel first and exits a moment later, as a drain ends. */
const WORKER = `import cluster from 'node:cluster'
process.on('SIGTERM', () => {
  cluster.worker.disconnect()
  setTimeout(() => process.exit(0), 300)
})
process.send({ type: 'portcullis:ready' })
setInterval(() => {}, 1000)
`

test('a drain waits for every worker to exit, even when one reports an IPC error meanwhile', async () => {
  const script = join(dir, 'worker.mjs')
  writeFileSync(script, WORKER)
  cluster.setupPrimary({ exec: script, silent: true })
  const pool = workerPool(1, pino({ level: 'silent' }))
  pool.start()
  await eventually(async () => pool.isReady(), 10_000, 'the worker serving')
  const [worker] = pool.serving()
  // A send to a worker whose channel has just closed (a scrape or a ping that crossed its exit) emits
  // 'error' on it, as Node does when the write fails.
  worker!.once('disconnect', () => worker!.send({ type: 'portcullis:ping', id: 0 }))
  await pool.stop()
  assert.ok(worker!.isDead(), 'stop() resolved before the worker exited')
})

/**
 * Serves if `good` exists. Otherwise it is a replacement that cannot load a bad config: it says it is
 * starting and exits 1 when the test tells it to, so that a reload can come while it starts.
 */
const configWorker = (good: string) => `import { existsSync } from 'node:fs'
process.on('message', (message) => {
  if (message.type === 'test:fail') process.exit(1)
  if (message.type === 'test:reload') process.send({ type: 'portcullis:reloaded' })
})
process.send({ type: existsSync(${JSON.stringify(good)}) ? 'portcullis:ready' : 'test:starting' })
setInterval(() => {}, 1000)
`

/** The next worker to send a message of `type` to the primary. */
function nextMessage(type: string): Promise<Worker> {
  return new Promise((resolve) => {
    const listener = (worker: Worker, message: { type: string }) => {
      if (message.type !== type) return
      cluster.off('message', listener)
      resolve(worker)
    }
    cluster.on('message', listener)
  })
}

test('a replacement that fails while a reload of the fixed config succeeds is tried again at once', async () => {
  const good = join(dir, 'good')
  const script = join(dir, 'config-worker.mjs')
  writeFileSync(good, '')
  writeFileSync(script, configWorker(good))
  cluster.setupPrimary({ exec: script, silent: true })
  const logs: LogRecord[] = []
  const pool = workerPool(2, loggingTo(logs))
  pool.start()
  try {
    await eventually(async () => pool.serving().length === 2, 10_000, 'both workers serving')
    const [survivor, victim] = pool.serving()
    rmSync(good)
    const starting = nextMessage('test:starting')
    victim!.process.kill('SIGKILL')
    const replacement = await starting
    // The fix, and a worker's reload of it, while the replacement still loads the config of before.
    writeFileSync(good, '')
    const reloaded = nextMessage('portcullis:reloaded')
    survivor!.send({ type: 'test:reload' })
    // The pool has heard it too: cluster's 'message' comes in the same turn as the worker's, which it listens to.
    await reloaded
    replacement.send({ type: 'test:fail' })
    await eventually(async () => pool.serving().length === 2, 10_000, 'the next replacement serving')
    const failed = logs.find((record) => record.msg.startsWith('a worker ended before it served'))
    assert.equal(failed?.retryInSeconds, 0, 'tried again without its back-off')
  } finally {
    await pool.stop()
  }
})

// The primary's start folder, replaced by a deploy, is gone for a moment: no process can be spawned in
// it (ENOENT), and the worker is tried again until one can, in the new folder.
test('a worker that could not be spawned is tried again, and starts in the start folder once it is back', async () => {
  const script = join(dir, 'worker.mjs')
  writeFileSync(script, WORKER)
  // Without the test's `--import tsx`, which resolves from the worker's folder: the script is JavaScript.
  cluster.setupPrimary({ exec: script, silent: true, execArgv: [] })
  const startFolder = join(dir, 'start-folder')
  const logs: LogRecord[] = []
  const pool = workerPool(1, loggingTo(logs), startFolder)
  pool.start()
  try {
    await eventually(async () => logs.some((record) => record.msg === 'a worker process could not be spawned; trying again'), 10_000, 'the spawn failure said')
    assert.equal(pool.isReady(), false)
    mkdirSync(startFolder)
    await eventually(async () => pool.isReady(), 10_000, 'the worker tried again and serving')
  } finally {
    await pool.stop()
  }
})
