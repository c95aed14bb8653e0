/**
 * `workers: 2`: a worker whose event loop is stuck is killed and replaced, after the 30 s of silence the
 * primary's watchdog allows (cluster/worker-pool.ts).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { LoggingPortcullis } from '../helpers/cli.js'
import { httpRequest } from '../helpers/client.js'
import { liveWorkers, startWorkersInFront, type WorkersInFront } from '../helpers/workers.js'

describe('workers and a stuck worker', () => {
  let workers: WorkersInFront | undefined
  let gateway: LoggingPortcullis
  let ports: WorkersInFront['ports']

  before(async () => {
    workers = await startWorkersInFront()
    ;({ gateway, ports } = workers)
  })
  after(async () => {
    if (workers) assert.equal(await workers.stop(), 0)
  })

  it('kills and replaces a worker that answers nothing for 30 s (stopped, as if its event loop were stuck)', { timeout: 60_000 }, async () => {
    const victim = liveWorkers(gateway).at(-1)!
    const since = gateway.logs.length
    process.kill(victim, 'SIGSTOP')
    // 30 s after its last answer, at the end of a round of pings: 40 s after the stop at most.
    await gateway.logged('worker answered nothing for 30 s (its event loop is stuck); killing it', (record) => record.pid === victim, since)
    await gateway.logged('portcullis is serving', (record) => record.worker !== undefined, since)
    assert.throws(() => process.kill(victim, 0), 'the stopped worker is gone')
    for (let i = 0; i < 4; i++) assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
  })
})
