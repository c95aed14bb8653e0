/**
 * `workers: 2` after a bad edit of routes.yaml: a replacement that cannot load it is tried again after
 * 1, 2, 4 … up to 30 s (cluster/worker-pool.ts), but starts as soon as a worker reloads the config once
 * it is fixed, not at its next try. A file of its own: the test lets the back-off grow to 16 s, for the
 * difference to be unmistakable, which takes five tries and some 40 s of the 120 s that --test-timeout
 * gives a file.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import type { LogRecord } from '../helpers/cli.js'
import { httpRequest } from '../helpers/client.js'
import { eventually, seriesIn } from '../helpers/gateway.js'
import { liveWorkers, startWorkersInFront, type WorkersInFront } from '../helpers/workers.js'

/** The pause after the 5th failed try (1, 2, 4, 8, 16 s), ahead of which the test fixes the config. */
const BACK_OFF_SECONDS = 16

describe('workers after a bad edit is fixed', () => {
  let workers: WorkersInFront | undefined

  before(async () => {
    workers = await startWorkersInFront()
  })
  after(async () => {
    if (workers) assert.equal(await workers.stop(), 0)
  })

  it('starts the missing worker once a reload of the fixed config succeeds, not at its next try', { timeout: 90_000 }, async () => {
    const { gateway, ports, configFile, config } = workers!
    const [survivor, victim] = liveWorkers(gateway)
    const since = gateway.logs.length
    await writeFile(configFile, `${config}  - { host: [oops\n`)
    await gateway.logged(/^reload failed/, (record) => record.worker === survivor, since)
    process.kill(victim!, 'SIGKILL')
    const failed = await gateway.logged(/^a worker ended before it served/, (record) => record.retryInSeconds === BACK_OFF_SECONDS, since)
    await writeFile(configFile, config)

    // The survivor's own file watching reloads it: nothing asks the primary.
    const reloaded = await gateway.logged('config reloaded', (record) => record.worker === survivor, since)
    assert.equal(reloaded.trigger, 'file change')
    // No replacement served since the kill but this one.
    const replaced = await gateway.logged('portcullis is serving', (record) => record.worker !== undefined, since)
    const at = (record: LogRecord) => Date.parse(record.time as string)
    assert.ok(at(replaced) < at(failed) + BACK_OFF_SECONDS * 1000, `served ${at(replaced) - at(failed)} ms after the failed try, whose next try was due after ${BACK_OFF_SECONDS} s`)
    const scraped = async (series: string) => seriesIn((await httpRequest({ port: ports.admin, path: '/metrics' })).body, series)
    await eventually(async () => (await scraped('portcullis_workers{state="serving"}')) === 2, 5000, 'both workers serving')
    assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
  })
})
