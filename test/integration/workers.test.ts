/**
 * `workers: 2` on a real process: both workers serve, one scrape counts the requests of both, a worker
 * that dies is replaced, a replacement that cannot load the config on disk takes nothing down. A stuck
 * worker and the scrapes and reloads meanwhile (workers-watchdog), signals to the process group
 * (workers-signals), TLS sessions (workers-tls) and a replacement's back-off after a bad edit
 * (workers-backoff) have files of their own: the 120 s that --test-timeout gives a file as a whole is then
 * far from run out on a busy machine.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { runPortcullis, type LoggingPortcullis } from '../helpers/cli.js'
import { httpRequest } from '../helpers/client.js'
import { eventually, seriesIn } from '../helpers/gateway.js'
import { isRunning, liveWorkers, startWorkersInFront, type WorkersInFront } from '../helpers/workers.js'

describe('workers', () => {
  let workers: WorkersInFront | undefined
  let gateway: LoggingPortcullis
  let ports: WorkersInFront['ports']
  let configFile: string
  let goodConfig: string
  const requestsSeries = 'portcullis_requests_total{route="w.test",method="GET",code="200"}'

  before(async () => {
    workers = await startWorkersInFront()
    ;({ gateway, ports, configFile, config: goodConfig } = workers)
  })
  after(async () => {
    if (workers) assert.equal(await workers.stop(), 0)
  })

  /** The value of one series in the primary's scrape. */
  const scraped = async (series: string) => seriesIn((await httpRequest({ port: ports.admin, path: '/metrics' })).body, series)
  /** The next worker to serve from `logs[since]` on: a replacement. */
  const replacement = (since: number) => gateway.logged('portcullis is serving', (record) => record.worker !== undefined, since)

  it('counts the requests of every worker in one scrape', { timeout: 20_000 }, async () => {
    const durations = 'portcullis_request_duration_seconds_count{route="w.test",method="GET"}'
    const before = [(await scraped(requestsSeries)) ?? 0, (await scraped(durations)) ?? 0]
    for (let i = 0; i < 40; i++) assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
    assert.deepEqual([await scraped(requestsSeries), await scraped(durations)], [before[0]! + 40, before[1]! + 40])
  })

  it("shows a worker's own fd limit and the oldest worker's start time, not their sums", async () => {
    const metrics = (await httpRequest({ port: ports.admin, path: '/metrics' })).body
    const [worker] = liveWorkers(gateway)
    const limit = /^Max open files\s+(\d+)/m.exec(await readFile(`/proc/${worker}/limits`, 'utf8'))?.[1]
    assert.match(metrics, new RegExp(`^portcullis_process_max_fds ${limit}$`, 'm'))
    // A sum of two start times would lie decades ahead.
    const started = Number(/^portcullis_process_start_time_seconds (\d+)$/m.exec(metrics)?.[1])
    assert.ok(started <= Date.now() / 1000 && started > Date.now() / 1000 - 600, `start time ${started}`)
  })

  // A tester's wrk flood of POST /reload had the primary ask every worker for one reload per request.
  it('asks each worker at most twice for 30 concurrent POST /reload, and answers every one', { timeout: 20_000 }, async () => {
    const from = gateway.logs.length
    const replies = await Promise.all(Array.from({ length: 30 }, () => httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })))
    for (const reply of replies) assert.deepEqual([reply.status, JSON.parse(reply.body)], [200, { result: 'success', errors: [], warnings: [] }])
    /** Per worker, how many of the primary's questions its reloads since the flood answered. */
    const asked = () => {
      const counts = new Map<number, number>()
      for (const { msg, worker, requests } of gateway.logs.slice(from) as { msg: string; worker: number; requests?: { 'POST /reload'?: number } }[]) {
        const asks = requests?.['POST /reload']
        if (msg === 'config reloaded' && asks) counts.set(worker, (counts.get(worker) ?? 0) + asks)
      }
      return counts
    }
    await eventually(async () => asked().size === 2, 5000, 'both workers logged their reloads')
    for (const [worker, count] of asked()) assert.ok(count <= 2, `worker ${worker} was asked ${count} times`)
  })

  // Each worker's log said 'primary', whatever had asked the primary.
  it('logs, on each worker, the SIGHUP to the primary that asked for the reload', { timeout: 20_000 }, async () => {
    const since = gateway.logs.length
    gateway.child.kill('SIGHUP')
    // The flood before can leave a worker's second reload to be logged after its replies: its lines
    // say POST /reload, and this test sends none.
    const reloads = () =>
      gateway.logs.slice(since).filter((record) => record.msg === 'config reloaded' && record.trigger !== 'POST /reload')
    await eventually(async () => new Set(reloads().map((record) => record.worker)).size === 2, 5000, 'both workers logged their reloads')
    assert.deepEqual(reloads().map((record) => record.trigger), ['SIGHUP', 'SIGHUP'])
  })

  it('keeps a worker that a SIGHUP for the process group reaches', { timeout: 20_000 }, async () => {
    const [worker] = liveWorkers(gateway)
    const since = gateway.logs.length
    process.kill(worker!, 'SIGHUP')
    // Both workers reload for it: the signalled one has run since, so the signal has been handled.
    assert.equal((await httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })).status, 200)
    assert.equal(isRunning(worker!), true, 'the worker is still running')
    assert.ok(!gateway.logs.slice(since).some((record) => record.msg === 'worker died; starting another'), 'no worker was replaced')
  })

  it('replaces a worker that dies, and keeps its counts in the scrape', { timeout: 20_000 }, async () => {
    const [victim, ...others] = liveWorkers(gateway)
    assert.equal(others.length, 1)
    // Counts of its own, which the primary's round-robin spreads over both workers.
    for (let i = 0; i < 4; i++) assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
    const served = async () => (await scraped(requestsSeries)) ?? 0
    const before = await served()
    const replacedBefore = await scraped('portcullis_worker_replacements_total')
    const since = gateway.logs.length
    process.kill(victim!, 'SIGKILL')
    await replacement(since)
    // Its log line comes before the primary hears from it, on another channel.
    await eventually(async () => (await scraped('portcullis_workers{state="serving"}')) === 2, 5000, 'serving again')
    assert.equal(await served(), before, 'a counter never goes down (Prometheus would read a reset)')
    assert.equal(await scraped('portcullis_worker_replacements_total'), (replacedBefore ?? Number.NaN) + 1)
    assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
    assert.equal(await served(), before + 1)
  })

  it('answers POST /reload when a worker dies before it reloaded', { timeout: 20_000 }, async () => {
    const [other, victim] = liveWorkers(gateway)
    process.kill(victim!, 'SIGSTOP')
    const since = gateway.logs.length
    const reply = httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })
    // The primary asks both at once: once the other has reloaded, the stopped one has been asked too.
    await gateway.logged('config reloaded', (record) => record.worker === other, since)
    process.kill(victim!, 'SIGKILL')
    const { status, body } = await reply
    assert.equal(status, 422)
    assert.match(body, new RegExp(`worker ${victim} exited before it reloaded`))
    await replacement(since)
  })

  it('keeps serving when a replacement cannot load the config on disk, and starts it once fixed', { timeout: 30_000 }, async () => {
    const [survivor, victim] = liveWorkers(gateway)
    const since = gateway.logs.length
    await writeFile(configFile, `${goodConfig}  - { host: [oops\n`)
    try {
      for (const worker of [survivor, victim]) await gateway.logged(/^reload failed/, (record) => record.worker === worker, since)
      process.kill(victim!, 'SIGKILL')
      await gateway.logged(/^a worker ended before it served/, undefined, since)
      assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200, 'the other worker serves')
      assert.equal((await httpRequest({ port: ports.admin, path: '/readyz' })).status, 200)
      assert.deepEqual([await scraped('portcullis_workers{state="configured"}'), await scraped('portcullis_workers{state="serving"}')], [2, 1], 'the scrape shows it')
    } finally {
      await writeFile(configFile, goodConfig)
    }
    await replacement(since)
    assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
  })

  // The workers refuse a reload that changes listen, which a restart applies; but a replacement started
  // on the config on disk as its own: it served the new listener, and the edit's routes, beside a
  // worker that served the old ones.
  it('starts no replacement on listeners the other workers refused to change', { timeout: 30_000 }, async () => {
    const [survivor, victim] = liveWorkers(gateway)
    const since = gateway.logs.length
    const moved = goodConfig.replace('http: 127.0.0.1:0', 'http: 127.0.0.2:0')
    assert.notEqual(moved, goodConfig)
    await writeFile(configFile, `${moved}  - { host: moved.test, upstream: { url: 'http://127.0.0.1:9' } }\n`)
    try {
      for (const worker of [survivor, victim]) {
        const changedListeners = /listen\.http: listener addresses changed/
        await gateway.logged(/^reload failed/, (record) => record.worker === worker && changedListeners.test(String(record.errors)), since)
      }
      process.kill(victim!, 'SIGKILL')
      const outcome = await Promise.race([
        gateway.logged(/^a worker ended before it served/, undefined, since).then(() => 'not started'),
        replacement(since).then((record) => `served on ${JSON.stringify(record.listeners)}`),
      ])
      assert.equal(outcome, 'not started')
      const refusal = await gateway.logged('not started', (record) => record.worker !== undefined, since)
      assert.match(String((refusal.error as { message: string }).message), /listen\.http: listener addresses changed; restart portcullis to apply them/)
      assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200, 'the other worker serves')
    } finally {
      await writeFile(configFile, goodConfig)
    }
    await replacement(since)
    assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
  })

  // The second edit's line named the first edit's count as running.
  it('says, at each edit of workers, that the workers the primary started serve on', { timeout: 20_000 }, async () => {
    /** The `workers changed` line of each worker that reloaded `count` since `since`. */
    const changedTo = (count: number, since: number) => gateway.logs.slice(since).filter((record) => record.msg.startsWith('workers changed') && record.workers === count)
    try {
      for (const count of [3, 4]) {
        const since = gateway.logs.length
        await writeFile(configFile, goodConfig.replace('workers: 2', `workers: ${count}`))
        assert.equal((await httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })).status, 200)
        await eventually(async () => changedTo(count, since).length === 2, 5000, `both workers logged workers: ${count}`)
        for (const record of changedTo(count, since)) {
          assert.deepEqual([record.msg, record.running], ['workers changed; the new count applies at the next start', 2])
        }
      }
    } finally {
      await writeFile(configFile, goodConfig)
    }
    assert.equal((await httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })).status, 200)
  })

  // The primary answers POST /reload from its workers' answers: each says the warnings of the config it
  // loaded, which the primary lists once, as a single process does.
  it('answers POST /reload with the warnings of the config the workers loaded, each once', { timeout: 20_000 }, async () => {
    const since = gateway.logs.length
    const postReload = async () => {
      const { status, body } = await httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })
      return [status, JSON.parse(body)] as const
    }
    await writeFile(configFile, `${goodConfig}  - { host: skip.test, upstream: { url: 'https://127.0.0.1:9', insecureSkipVerify: true } }\n`)
    try {
      const answer = await postReload()
      const logged = await gateway.logged(/^config warning: .*insecureSkipVerify/, undefined, since)
      const warning = String(logged.msg).slice('config warning: '.length)
      assert.match(warning, /routes\.yaml:5:\d+ routes\[1\]\.upstream\.insecureSkipVerify: upstream certificate verification is off$/)
      assert.deepEqual(answer, [200, { result: 'success', errors: [], warnings: [warning] }])
    } finally {
      await writeFile(configFile, goodConfig)
    }
    // Read after the edit back: the workers' watchers then find nothing changed, and reload no more.
    assert.deepEqual(await postReload(), [200, { result: 'success', errors: [], warnings: [] }])
  })
})


describe('workers when the admin port is taken', () => {
  it('exits 1 without starting a worker', { timeout: 20_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
    const taken = http.createServer().listen(0, '127.0.0.1')
    await once(taken, 'listening')
    try {
      const configFile = join(dir, 'routes.yaml')
      await writeFile(
        configFile,
        `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:${(taken.address() as AddressInfo).port} }
workers: 2
routes:
  - { host: w.test, upstream: { url: 'http://127.0.0.1:9' } }
`,
      )
      const { child, logs } = runPortcullis(configFile, { stderr: 'pipe' })
      let stderr = ''
      child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text))
      // 'close' comes once stderr is read to its end too.
      const [code] = (await once(child, 'close')) as [number | null]
      assert.equal(code, 1)
      // As a single process says it: the code, the address, and where routes.yaml sets it, in the log
      // and on stderr.
      const error = logs.find((record) => record.msg === 'not started')?.error as { code?: string; message?: string } | undefined
      assert.equal(error?.code, 'PCL_ERR_LISTEN', JSON.stringify(logs))
      assert.match(error?.message ?? '', /routes\.yaml:1:\d+ listen\.admin: cannot listen on 127\.0\.0\.1:\d+: listen EADDRINUSE/)
      assert.match(stderr, /^\S*routes\.yaml:1:\d+ listen\.admin: cannot listen on 127\.0\.0\.1:\d+: listen EADDRINUSE[^\n]*\n\S*routes\.yaml: not started\n$/)
      assert.ok(!logs.some((record) => record.msg === 'portcullis is serving'), JSON.stringify(logs))
    } finally {
      taken.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
