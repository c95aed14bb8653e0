/**
 * `workers: 2` in a process group of its own, as a terminal gives it: SIGINT or SIGTERM to the whole
 * group drains every worker, and a SIGHUP to the group as the workers start ends none for good.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { httpRequest } from '../helpers/client.js'
import { eventually } from '../helpers/gateway.js'
import { startWorkers, workersConfig } from '../helpers/workers.js'

describe('workers and a signal to the process group', () => {
  /**
   * `workers: 2` in a process group of its own, as a terminal gives it: Ctrl-C signals every process in
   * it. Resolves once the primary has forked the workers.
   */
  async function startInItsOwnGroup(dir: string, upstream: http.Server, { admin = true } = {}) {
    const configFile = join(dir, 'routes.yaml')
    await writeFile(configFile, workersConfig(upstream, { admin }))
    return startWorkers(configFile, { stderr: 'ignore', detached: true })
  }

  // A terminal's Ctrl-C (SIGINT), and systemd's or dumb-init's stop (SIGTERM), signal every process in
  // the group: each worker gets the signal, then the primary's own SIGTERM.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`drains every worker when ${signal} reaches the whole process group`, { timeout: 30_000 }, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
      let arrived = 0
      let allArrived = () => {}
      const inFlight = new Promise<void>((resolve) => (allArrived = resolve))
      const slow = http.createServer((_req, res) => {
        if (++arrived === 4) allArrived()
        setTimeout(() => res.end('finished\n'), 1500)
      })
      slow.listen(0, '127.0.0.1')
      await once(slow, 'listening')
      try {
        const { gateway, admin, served } = await startInItsOwnGroup(dir, slow)
        const port = (await served()).http!.port
        await eventually(async () => (await httpRequest({ port: admin!, path: '/readyz' })).status === 200, 20_000, 'both workers ready')
        const requests = [1, 2, 3, 4].map(() => httpRequest({ port, host: 'w.test' }).catch((error: Error) => error))
        await inFlight
        process.kill(-gateway.child.pid!, signal)
        await eventually(async () => (await httpRequest({ port: admin!, path: '/readyz' })).status === 503, 5000, 'the drain begun')
        // It answered 422, as for a bad config, where one process answers 503.
        assert.equal((await httpRequest({ port: admin!, method: 'POST', path: '/reload' })).status, 503, 'no reload during the drain')
        for (const reply of await Promise.all(requests)) assert.equal((reply as { status?: number }).status, 200, String(reply))
        assert.deepEqual(await gateway.exited, [0, null])
      } finally {
        slow.close()
        await rm(dir, { recursive: true, force: true })
      }
    })
  }

  /** An upstream that answers ok and the gateway in its own group in front of it, for `use`; both gone after. */
  async function withGroup(use: (gateway: Awaited<ReturnType<typeof startInItsOwnGroup>>) => Promise<void>) {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
    const upstream = http.createServer((_req, res) => res.end('ok\n'))
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    // No admin listener: nothing but the primary's own timers keeps it alive while no worker is up.
    const started = await startInItsOwnGroup(dir, upstream, { admin: false })
    try {
      await use(started)
    } finally {
      const { child } = started.gateway
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL')
      upstream.close()
      await rm(dir, { recursive: true, force: true })
    }
  }

  it('starts again a worker that a SIGHUP for the group ended before it could catch it, and serves', { timeout: 30_000 }, () =>
    withGroup(async ({ gateway: { child, exited }, served }) => {
      // The workers are only just forked: Node has not run a line of theirs yet.
      process.kill(-child.pid!, 'SIGHUP')
      const serving = async () => {
        const port = (await served()).http!.port
        assert.equal((await httpRequest({ port, host: 'w.test' })).status, 200)
        return 'serving'
      }
      const outcome = await Promise.race([exited.then(([code]) => `the gateway exited with ${code}`), serving()])
      assert.equal(outcome, 'serving')
      child.kill('SIGTERM')
      assert.deepEqual(await exited, [0, null])
    }))
})
