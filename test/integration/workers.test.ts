/**
 * `workers: 2` on a real process: both workers serve, one scrape counts the requests of both, a worker
 * that dies or is stuck is replaced, a replacement that cannot load the config on disk takes nothing down, and a
 * TLS session resumes on every worker but never under another TLS policy.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import tls from 'node:tls'
import { runPortcullis, type LoggingPortcullis, type LogRecord } from '../helpers/cli.js'
import { httpRequest, serverSeesClientChain } from '../helpers/client.js'
import { eventually, seriesIn } from '../helpers/gateway.js'
import { makeTestPki, type CertFiles, type TestPki } from '../helpers/pki.js'

type Listeners = Partial<Record<'http' | 'https' | 'admin', { port: number }>>

/**
 * `portcullis` on a `workers: 2` config whose listeners ask for port 0, once its primary has started.
 * The primary logs the admin port it bound; the workers share the public listeners through it, so
 * every worker logs the same public ports, and `served()` waits for the first of them to.
 */
async function startWorkers(configFile: string, options: Parameters<typeof runPortcullis>[1] = {}) {
  const gateway = runPortcullis(configFile, options)
  const started = await gateway.logged('portcullis primary started')
  const served = async () => (await gateway.logged('portcullis is serving')).listeners as Listeners
  return { gateway, admin: (started.admin as Listeners['admin'])?.port, served }
}

/** The pids of the workers that have served and have not died since, in the order they started. */
function liveWorkers(gateway: LoggingPortcullis): number[] {
  const pid = (record: LogRecord) => record.msg === 'worker died; starting another' && (record.pid as number)
  const died = new Set(gateway.logs.map(pid))
  return gateway.logs.filter((record) => record.msg === 'portcullis is serving' && !died.has(record.worker as number)).map((record) => record.worker as number)
}

describe('workers', () => {
  let dir: string
  let upstream: http.Server
  let gateway: LoggingPortcullis | undefined
  let ports: { http: number; admin: number }
  let configFile: string
  let goodConfig: string
  const requestsSeries = 'portcullis_requests_total{route="w.test",method="GET",code="200"}'

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
    upstream = http.createServer((_req, res) => res.end(`${process.pid}\n`))
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    configFile = join(dir, 'routes.yaml')
    goodConfig = `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
workers: 2
routes:
  - { host: w.test, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
`
    await writeFile(configFile, goodConfig)
    const started = await startWorkers(configFile)
    gateway = started.gateway
    ports = { http: (await started.served()).http!.port, admin: started.admin! }
    await eventually(async () => (await httpRequest({ port: ports.admin, path: '/readyz' })).status === 200, 20_000, 'both workers ready')
  })
  after(async () => {
    if (gateway) {
      gateway.child.kill('SIGTERM')
      const [code] = await gateway.exited
      assert.equal(code, 0)
    }
    upstream.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** The value of one series in the primary's scrape. */
  const scraped = async (series: string) => seriesIn((await httpRequest({ port: ports.admin, path: '/metrics' })).body, series)
  /** The next worker to serve from `logs[since]` on: a replacement. */
  const replacement = (since: number) => gateway!.logged('portcullis is serving', (record) => record.worker !== undefined, since)

  it('counts the requests of every worker in one scrape', { timeout: 20_000 }, async () => {
    const durations = 'portcullis_request_duration_seconds_count{route="w.test",method="GET"}'
    const before = [(await scraped(requestsSeries)) ?? 0, (await scraped(durations)) ?? 0]
    for (let i = 0; i < 40; i++) assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
    assert.deepEqual([await scraped(requestsSeries), await scraped(durations)], [before[0]! + 40, before[1]! + 40])
  })

  it("shows a worker's own fd limit and the oldest worker's start time, not their sums", async () => {
    const metrics = (await httpRequest({ port: ports.admin, path: '/metrics' })).body
    const [worker] = liveWorkers(gateway!)
    const limit = /^Max open files\s+(\d+)/m.exec(await readFile(`/proc/${worker}/limits`, 'utf8'))?.[1]
    assert.match(metrics, new RegExp(`^portcullis_process_max_fds ${limit}$`, 'm'))
    // A sum of two start times would lie decades ahead.
    const started = Number(/^portcullis_process_start_time_seconds (\d+)$/m.exec(metrics)?.[1])
    assert.ok(started <= Date.now() / 1000 && started > Date.now() / 1000 - 600, `start time ${started}`)
  })

  // A tester's wrk flood of POST /reload had the primary ask every worker for one reload per request.
  it('asks each worker at most twice for 30 concurrent POST /reload, and answers every one', { timeout: 20_000 }, async () => {
    const from = gateway!.logs.length
    const replies = await Promise.all(Array.from({ length: 30 }, () => httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })))
    for (const reply of replies) assert.deepEqual([reply.status, JSON.parse(reply.body)], [200, { result: 'success', errors: [] }])
    /** Per worker, how many of the primary's questions its reloads since the flood answered. */
    const asked = () => {
      const counts = new Map<number, number>()
      for (const { msg, worker, requests } of gateway!.logs.slice(from) as { msg: string; worker: number; requests?: { primary?: number } }[]) {
        if (msg === 'config reloaded' && requests?.primary) counts.set(worker, (counts.get(worker) ?? 0) + requests.primary)
      }
      return counts
    }
    await eventually(async () => asked().size === 2, 5000, 'both workers logged their reloads')
    for (const [worker, count] of asked()) assert.ok(count <= 2, `worker ${worker} was asked ${count} times`)
  })

  it('answers scrapes and reloads in time while a worker does not answer (stopped)', { timeout: 30_000 }, async () => {
    const [worker] = liveWorkers(gateway!)
    const reloads = (scrape: string) => seriesIn(scrape, 'portcullis_config_reloads_total{result="success"}')
    const before = (await httpRequest({ port: ports.admin, path: '/metrics' })).body
    const since = gateway!.logs.length
    process.kill(worker!, 'SIGSTOP')
    try {
      const started = performance.now()
      const scrape = await httpRequest({ port: ports.admin, path: '/metrics' })
      assert.equal(scrape.status, 200)
      assert.equal(reloads(scrape.body), reloads(before), 'the stopped worker with its last answer')
      assert.equal(seriesIn(scrape.body, requestsSeries), seriesIn(before, requestsSeries))
      assert.ok(performance.now() - started < 9000, 'within the 10 s a Prometheus scrape waits by default')
      const reload = await httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })
      assert.equal(reload.status, 422)
      assert.match(reload.body, new RegExp(`worker ${worker} did not reload within 10 s`))
    } finally {
      process.kill(worker!, 'SIGCONT')
    }
    // The reload it was asked for while stopped, done late: no test after this one shall count it.
    await gateway!.logged('config reloaded', (record) => record.worker === worker, since)
  })

  it('keeps a worker that a SIGHUP for the process group reaches', { timeout: 20_000 }, async () => {
    const [worker] = liveWorkers(gateway!)
    const since = gateway!.logs.length
    process.kill(worker!, 'SIGHUP')
    // Both workers reload for it: the signalled one has run since, so the signal has been handled.
    assert.equal((await httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })).status, 200)
    assert.doesNotThrow(() => process.kill(worker!, 0), 'the worker is still running')
    assert.ok(!gateway!.logs.slice(since).some((record) => record.msg === 'worker died; starting another'), 'no worker was replaced')
  })

  it('replaces a worker that dies, and keeps its counts in the scrape', { timeout: 20_000 }, async () => {
    const [victim, ...others] = liveWorkers(gateway!)
    assert.equal(others.length, 1)
    const before = await scraped(requestsSeries)
    const replacedBefore = await scraped('portcullis_worker_replacements_total')
    const since = gateway!.logs.length
    process.kill(victim!, 'SIGKILL')
    await replacement(since)
    // Its log line comes before the primary hears from it, on another channel.
    await eventually(async () => (await scraped('portcullis_workers{state="serving"}')) === 2, 5000, 'serving again')
    assert.equal(await scraped(requestsSeries), before, 'a counter never goes down (Prometheus would read a reset)')
    assert.equal(await scraped('portcullis_worker_replacements_total'), (replacedBefore ?? Number.NaN) + 1)
    assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
    assert.equal(await scraped(requestsSeries), before! + 1)
  })

  it('kills and replaces a worker that answers nothing for 30 s (stopped, as if its event loop were stuck)', { timeout: 60_000 }, async () => {
    const victim = liveWorkers(gateway!).at(-1)!
    const since = gateway!.logs.length
    process.kill(victim, 'SIGSTOP')
    // 30 s after its last answer, at the end of a round of pings: 40 s after the stop at most.
    await gateway!.logged('worker answered nothing for 30 s (its event loop is stuck); killing it', (record) => record.pid === victim, since)
    await replacement(since)
    assert.throws(() => process.kill(victim, 0), 'the stopped worker is gone')
    for (let i = 0; i < 4; i++) assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
  })

  it('answers POST /reload when a worker dies before it reloaded', { timeout: 20_000 }, async () => {
    const [other, victim] = liveWorkers(gateway!)
    process.kill(victim!, 'SIGSTOP')
    const since = gateway!.logs.length
    const reply = httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })
    // The primary asks both at once: once the other has reloaded, the stopped one has been asked too.
    await gateway!.logged('config reloaded', (record) => record.worker === other, since)
    process.kill(victim!, 'SIGKILL')
    const { status, body } = await reply
    assert.equal(status, 422)
    assert.match(body, new RegExp(`worker ${victim} exited before it reloaded`))
    await replacement(since)
  })

  it('keeps serving when a replacement cannot load the config on disk, and starts it once fixed', { timeout: 30_000 }, async () => {
    const [survivor, victim] = liveWorkers(gateway!)
    const since = gateway!.logs.length
    await writeFile(configFile, `${goodConfig}  - { host: [oops\n`)
    try {
      for (const worker of [survivor, victim]) await gateway!.logged(/^reload failed/, (record) => record.worker === worker, since)
      process.kill(victim!, 'SIGKILL')
      await gateway!.logged(/^a worker ended before it served/, undefined, since)
      assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200, 'the other worker serves')
      assert.equal((await httpRequest({ port: ports.admin, path: '/readyz' })).status, 200)
      assert.deepEqual([await scraped('portcullis_workers{state="configured"}'), await scraped('portcullis_workers{state="serving"}')], [2, 1], 'the scrape shows it')
    } finally {
      await writeFile(configFile, goodConfig)
    }
    await replacement(since)
    assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
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
      const { exited, logs } = runPortcullis(configFile, { stderr: 'ignore' })
      const [code] = await exited
      assert.equal(code, 1)
      assert.equal((logs.find((record) => record.msg === 'not started')?.error as { code?: string } | undefined)?.code, 'EADDRINUSE', JSON.stringify(logs))
      assert.ok(!logs.some((record) => record.msg === 'portcullis is serving'), JSON.stringify(logs))
    } finally {
      taken.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('workers and a signal to the process group', () => {
  /**
   * `workers: 2` in a process group of its own, as a terminal gives it: Ctrl-C signals every process in
   * it. Resolves once the primary has forked the workers.
   */
  async function startInItsOwnGroup(dir: string, upstream: http.Server, { admin = true } = {}) {
    const configFile = join(dir, 'routes.yaml')
    await writeFile(
      configFile,
      `listen: { http: 127.0.0.1:0${admin ? ', admin: 127.0.0.1:0' : ''} }
workers: 2
routes:
  - { host: w.test, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
`,
    )
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

describe('workers and TLS sessions', () => {
  let pki: TestPki
  let dir: string
  let upstream: http.Server
  let gateway: LoggingPortcullis | undefined
  let ports: { https: number; admin: number }

  before(async () => {
    pki = await makeTestPki()
    dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
    // Answers with the Client-Cert-Chain it was sent.
    upstream = http.createServer((req, res) => res.end(`chain=${req.headers['client-cert-chain'] ?? ''}\n`))
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    const configFile = join(dir, 'routes.yaml')
    const cert = `cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}`
    const to = `upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' }`
    // Four policies: no client certificate, CA A, CA A or B (cliA verifies under both), and the root
    // of an intermediate, whose route forwards the chain.
    await writeFile(
      configFile,
      `listen: { https: 127.0.0.1:0, admin: 127.0.0.1:0 }
workers: 2
routes:
  - { host: open.test, tls: { ${cert} }, ${to} }
  - { host: a.test, tls: { ${cert}, clientCAs: ${pki.caA.certFile} }, ${to} }
  - { host: b.test, tls: { ${cert}, clientCAs: ${pki.caAB.certFile} }, ${to} }
  - { host: chain.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile}, forwardClientCert: rfc9440 }, ${to} }
`,
    )
    const started = await startWorkers(configFile)
    gateway = started.gateway
    ports = { https: (await started.served()).https!.port, admin: started.admin! }
    await eventually(async () => (await httpRequest({ port: ports.admin, path: '/readyz' })).status === 200, 20_000, 'both workers ready')
  })
  after(async () => {
    if (gateway && gateway.child.exitCode === null && gateway.child.signalCode === null) {
      gateway.child.kill('SIGTERM')
      await gateway.exited
    }
    upstream.close()
    await rm(dir, { recursive: true, force: true })
    await pki.cleanup()
  })

  /**
   * One connection offering `session`, with a request so that TLS 1.3 tickets (sent after the handshake)
   * arrive: whether it resumed, and the newest session the server gave (the offered one if none).
   */
  async function connect(servername: string, version: tls.SecureVersion, session?: Buffer, client?: CertFiles) {
    const socket = tls.connect({
      port: ports.https,
      host: '127.0.0.1',
      servername,
      ca: pki.caS.cert,
      minVersion: version,
      maxVersion: version,
      ...(client && { cert: client.cert, key: client.key }),
      ...(session && { session }),
    })
    let next = session
    socket.on('session', (ticket: Buffer) => (next = ticket))
    await once(socket, 'secureConnect')
    const resumed = socket.isSessionReused()
    let reply = ''
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString()))
    socket.write(`GET / HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`)
    await once(socket, 'close')
    assert.match(reply, /^HTTP\/1\.1 200/)
    return { resumed, session: next!, chain: /chain=(\S*)/.exec(reply)?.[1] }
  }

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`resumes a ${version} session on every worker, connection after connection`, { timeout: 20_000 }, async () => {
      for (const [host, client] of [['open.test', undefined], ['a.test', pki.cliA]] as const) {
        let { session } = await connect(host, version, undefined, client)
        // Round-robin: successive connections alternate between the two workers.
        for (let i = 0; i < 6; i++) {
          const next = await connect(host, version, session, client)
          assert.equal(next.resumed, true, `${host}: connection ${i + 1} after the full handshake resumed`)
          session = next.session
        }
      }
    })

    it(`never resumes a ${version} session under another policy, on either worker`, { timeout: 20_000 }, async () => {
      const open = await connect('open.test', version)
      const a = await connect('a.test', version, undefined, pki.cliA)
      for (let i = 0; i < 2; i++) {
        assert.equal((await connect('a.test', version, open.session, pki.cliA)).resumed, false, 'no client certificate asked for')
        assert.equal((await connect('b.test', version, a.session, pki.cliA)).resumed, false, 'verified under other client CAs')
        assert.equal((await connect('a.test', version, a.session, pki.cliA)).resumed, true, 'the same policy')
      }
    })
  }

  const chainSkip = !serverSeesClientChain && 'Node gives the server no client chain'
  it('sends Client-Cert-Chain on every connection of a session, whichever worker it lands on', { timeout: 20_000, skip: chainSkip }, async () => {
    // Only the worker of the full handshake knows the chain: such a policy's sessions resume there alone.
    const full = await connect('chain.w.test', 'TLSv1.3', undefined, pki.leafChain)
    assert.ok(full.chain, 'the chain forwarded on a full handshake')
    let { session } = full
    for (let i = 0; i < 6; i++) {
      const next = await connect('chain.w.test', 'TLSv1.3', session, pki.leafChain)
      assert.equal(next.chain, full.chain, `connection ${i + 1} (resumed: ${next.resumed})`)
      session = next.session
    }
  })

  it('resumes a session after a reload that keeps its policy', { timeout: 20_000 }, async () => {
    const { session } = await connect('a.test', 'TLSv1.3', undefined, pki.cliA)
    assert.equal((await httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })).status, 200)
    for (let i = 0; i < 2; i++) assert.equal((await connect('a.test', 'TLSv1.3', session, pki.cliA)).resumed, true)
  })
})
