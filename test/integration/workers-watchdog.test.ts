/**
 * `workers: 2` with a worker that answers nothing (stopped, as if its event loop were stuck): the primary
 * answers scrapes and reloads in time meanwhile, and its watchdog kills and replaces the worker after
 * the 30 s of silence it allows (cluster/worker-pool.ts). Both tests share the one stop: the first runs
 * while the watchdog's 30 s run out. A second stop signal during the drain leaves it behind no more.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { LoggingPortcullis } from '../helpers/cli.js'
import { httpRequest } from '../helpers/client.js'
import { eventually, seriesIn } from '../helpers/gateway.js'
import { isRunning, liveWorkers, startWorkersInFront, type WorkersInFront } from '../helpers/workers.js'

describe('workers and a stuck worker', () => {
  let workers: WorkersInFront | undefined
  let gateway: LoggingPortcullis
  let ports: WorkersInFront['ports']
  let victim: number
  /** The primary's scrape just before the stop, and where the log stood. */
  let scrapeBefore: string
  let since: number

  before(async () => {
    workers = await startWorkersInFront()
    ;({ gateway, ports } = workers)
    // Counts on both workers (the primary hands connections round-robin), for the scrape to keep.
    for (let i = 0; i < 4; i++) assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
    scrapeBefore = (await httpRequest({ port: ports.admin, path: '/metrics' })).body
    victim = liveWorkers(gateway).at(-1)!
    since = gateway.logs.length
    process.kill(victim, 'SIGSTOP')
  })
  after(async () => {
    // A stopped worker would hold the drain for good, had a test failed before the watchdog killed it.
    try {
      process.kill(victim, 'SIGCONT')
    } catch {
      // Gone, as the watchdog leaves it.
    }
    if (workers) assert.equal(await workers.stop(), 0)
  })

  it('answers scrapes and reloads in time while a worker does not answer (stopped)', { timeout: 30_000 }, async () => {
    const requestsSeries = 'portcullis_requests_total{route="w.test",method="GET",code="200"}'
    const reloads = (scrape: string) => seriesIn(scrape, 'portcullis_config_reloads_total{result="success"}')
    const started = performance.now()
    const scrape = await httpRequest({ port: ports.admin, path: '/metrics' })
    assert.equal(scrape.status, 200)
    assert.equal(reloads(scrape.body), reloads(scrapeBefore), 'the stopped worker with its last answer')
    assert.equal(seriesIn(scrape.body, requestsSeries), seriesIn(scrapeBefore, requestsSeries))
    assert.ok(performance.now() - started < 9000, 'within the 10 s a Prometheus scrape waits by default')
    const reload = await httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })
    assert.equal(reload.status, 422)
    assert.match(reload.body, new RegExp(`worker ${victim} did not reload within 10 s`))
  })

  it('kills and replaces a worker that answers nothing for 30 s (stopped, as if its event loop were stuck)', { timeout: 60_000 }, async () => {
    // 30 s after its last answer, at the end of a round of pings: 40 s after the stop at most.
    await gateway.logged('worker answered nothing for 30 s (its event loop is stuck); killing it', (record) => record.pid === victim, since)
    await gateway.logged('portcullis is serving', (record) => record.worker !== undefined, since)
    assert.equal(isRunning(victim), false, 'the stopped worker is gone')
    for (let i = 0; i < 4; i++) assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
  })
})

// A second stop signal ended the primary at once and left the workers to exit as their IPC channel
// closed: a stuck one, which is what holds a drain up and makes an operator send it, never saw that and
// ran on, an orphan.
describe('workers and a second stop signal', () => {
  it('leaves no worker behind, a stuck one included', { timeout: 30_000 }, async () => {
    const workers = await startWorkersInFront()
    const { gateway } = workers
    const victim = liveWorkers(gateway).at(-1)!
    try {
      process.kill(victim, 'SIGSTOP')
      gateway.child.kill('SIGTERM')
      await gateway.logged('draining the workers')
      // Past the second within which a signal is taken for the first one relayed.
      await new Promise((resolve) => setTimeout(resolve, 1200))
      gateway.child.kill('SIGTERM')
      assert.deepEqual(await gateway.exited, [1, null])
      await eventually(async () => !isRunning(victim), 3000, 'the stuck worker gone')
    } finally {
      if (isRunning(victim)) process.kill(victim, 'SIGKILL')
      await workers.stop()
    }
  })
})
