/**
 * The primary's pool of workers, with real forked processes: a small stand-in for the gateway worker
 * (the pool only needs its messages and its exit).
 */
import assert from 'node:assert/strict'
import cluster from 'node:cluster'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { pino } from 'pino'
import { WorkerPool } from '../../src/cluster/worker-pool.js'
import { WorkerQuestions } from '../../src/cluster/questions.js'
import { WorkerRegistries } from '../../src/cluster/registries.js'
import { eventually } from '../helpers/gateway.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-worker-pool-'))
after(() => rmSync(dir, { recursive: true, force: true }))

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
  const pool = new WorkerPool({
    count: 1,
    logger: pino({ level: 'silent' }),
    questions: new WorkerQuestions(),
    registries: new WorkerRegistries(),
    ticketSecret: Buffer.alloc(32),
    listen: { http: { host: '127.0.0.1', port: 0 } },
  })
  pool.start()
  await eventually(async () => pool.isReady(), 10_000, 'the worker serving')
  const [worker] = pool.serving()
  // A send to a worker whose channel has just closed (a scrape or a ping that crossed its exit) emits
  // 'error' on it, as Node does when the write fails.
  worker!.once('disconnect', () => worker!.send({ type: 'portcullis:ping', id: 0 }))
  await pool.stop()
  assert.ok(worker!.isDead(), 'stop() resolved before the worker exited')
})
