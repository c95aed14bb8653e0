/**
 * `workers: 2` and what can go wrong as a worker starts (cluster/worker-pool.ts): a worker stuck before
 * it serves is killed by the watchdog and tried again, where /readyz stayed 503 for good; and a worker
 * forked after the start folder was replaced (a deploy) starts in the new one, where a relative
 * --config resolves again.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { LoggingPortcullis } from '../helpers/cli.js'
import { httpRequest } from '../helpers/client.js'
import { eventually } from '../helpers/gateway.js'
import { isRunning, liveWorkers, startWorkers, workersConfig } from '../helpers/workers.js'

/** The pids of a process' children: the primary's workers. */
async function childrenOf(pid: number): Promise<number[]> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')
  return children.split(' ').filter(Boolean).map(Number)
}

describe('workers as they start', () => {
  let dir: string
  let upstream: http.Server
  /** Each gateway a test started, killed with its workers after the tests if one failed before its stop. */
  const gateways: LoggingPortcullis[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
    upstream = http.createServer((_req, res) => res.end('ok\n'))
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
  })
  after(async () => {
    for (const { child } of gateways.filter(({ child }) => child.exitCode === null && child.signalCode === null)) {
      for (const worker of await childrenOf(child.pid!).catch(() => [])) process.kill(worker, 'SIGKILL')
      child.kill('SIGKILL')
    }
    upstream.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('kills a worker stuck before it serves after 30 s, tries again, and gets ready', { timeout: 90_000 }, async () => {
    const configFile = join(dir, 'stuck.yaml')
    await writeFile(configFile, workersConfig(upstream))
    const { gateway, admin } = await startWorkers(configFile, { stderr: 'ignore' })
    gateways.push(gateway)
    let victim: number | undefined
    try {
      ;[victim] = await childrenOf(gateway.child.pid!)
      process.kill(victim!, 'SIGSTOP')
      await gateway.logged('worker answered nothing for 30 s (its event loop is stuck); killing it', (record) => record.pid === victim)
      await gateway.logged('a worker ended before it served; trying again', (record) => record.pid === victim && record.signal === 'SIGKILL')
      await eventually(async () => (await httpRequest({ port: admin!, path: '/readyz' })).status === 200, 20_000, 'both workers ready')
      assert.equal(isRunning(victim!), false, 'the stuck worker is gone')
    } finally {
      if (victim !== undefined && isRunning(victim)) process.kill(victim, 'SIGKILL')
      gateway.child.kill('SIGTERM')
      assert.deepEqual(await gateway.exited, [0, null])
    }
  })

  it('starts a replacement in the start folder recreated by path, with a relative --config', { timeout: 30_000 }, async () => {
    const folder = join(dir, 'start-folder')
    await mkdir(folder)
    const config = workersConfig(upstream)
    await writeFile(join(folder, 'routes.yaml'), config)
    const { gateway, admin } = await startWorkers('routes.yaml', { stderr: 'ignore', cwd: folder })
    gateways.push(gateway)
    try {
      await eventually(async () => (await httpRequest({ port: admin!, path: '/readyz' })).status === 200, 20_000, 'both workers ready')
      // A deploy that replaces the folder: the processes' working folder is now a deleted one.
      await rm(folder, { recursive: true })
      await mkdir(folder)
      await writeFile(join(folder, 'routes.yaml'), config)
      const [victim] = liveWorkers(gateway)
      const since = gateway.logs.length
      process.kill(victim!, 'SIGKILL')
      const replacement = await gateway.logged('portcullis is serving', () => true, since)
      assert.notEqual(replacement.worker, victim)
    } finally {
      gateway.child.kill('SIGTERM')
      await gateway.exited
    }
  })
})
