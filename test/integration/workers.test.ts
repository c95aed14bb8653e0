/**
 * `workers: 2` on a real process: both workers serve, one scrape counts the requests of both, a worker
 * that dies or is stuck is replaced, a replacement that cannot load the config on disk takes nothing down, and a
 * TLS session resumes on every worker but never under another TLS policy.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import tls from 'node:tls'
import { spawnPortcullis } from '../helpers/cli.js'
import { httpRequest, serverSeesClientChain } from '../helpers/client.js'
import { eventually, seriesIn } from '../helpers/gateway.js'
import { makeTestPki, type CertFiles, type TestPki } from '../helpers/pki.js'

async function freePort(): Promise<number> {
  const server = http.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  return port
}

describe('workers', () => {
  let dir: string
  let upstream: http.Server
  let child: ChildProcess
  const workerPids = new Set<number>()
  let ports: { http: number; admin: number }
  let configFile: string
  let goodConfig: string
  const logMessages: string[] = []
  const reloadLines: { worker: number; requests: { primary?: number } }[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
    upstream = http.createServer((_req, res) => res.end(`${process.pid}\n`))
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    // Workers share listeners through the primary, so the ports are fixed before the start.
    ports = { http: await freePort(), admin: await freePort() }
    configFile = join(dir, 'routes.yaml')
    goodConfig = `listen: { http: 127.0.0.1:${ports.http}, admin: 127.0.0.1:${ports.admin} }
workers: 2
routes:
  - { host: w.test, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
`
    await writeFile(configFile, goodConfig)
    child = spawnPortcullis(configFile)
    void (async () => {
      for await (const line of createInterface({ input: child.stdout! })) {
        const record = JSON.parse(line) as { msg: string; worker?: number; requests?: { primary?: number } }
        logMessages.push(record.msg)
        if (record.msg === 'config reloaded') reloadLines.push(record as (typeof reloadLines)[number])
        if (record.msg === 'portcullis is serving' && record.worker) workerPids.add(record.worker)
      }
    })()
    await eventually(async () => (await httpRequest({ port: ports.admin, path: '/readyz' })).status === 200, 20_000, 'both workers ready')
  })
  after(async () => {
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const [code] = await exited
    assert.equal(code, 0)
    upstream.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** The value of one series in the primary's scrape. */
  const scraped = async (series: string) => seriesIn((await httpRequest({ port: ports.admin, path: '/metrics' })).body, series)

  it('counts the requests of every worker in one scrape', { timeout: 20_000 }, async () => {
    for (let i = 0; i < 40; i++) assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
    const metrics = (await httpRequest({ port: ports.admin, path: '/metrics' })).body
    assert.match(metrics, /^portcullis_requests_total\{route="w\.test",method="GET",code="200"\} 40$/m)
    assert.match(metrics, /^portcullis_request_duration_seconds_count\{route="w\.test",method="GET"\} 40$/m)
  })

  it("shows a worker's own fd limit and the oldest worker's start time, not their sums", async () => {
    const metrics = (await httpRequest({ port: ports.admin, path: '/metrics' })).body
    const [worker] = workerPids
    const limit = /^Max open files\s+(\d+)/m.exec(await readFile(`/proc/${worker}/limits`, 'utf8'))?.[1]
    assert.match(metrics, new RegExp(`^portcullis_process_max_fds ${limit}$`, 'm'))
    // A sum of two start times would lie decades ahead.
    const started = Number(/^portcullis_process_start_time_seconds (\d+)$/m.exec(metrics)?.[1])
    assert.ok(started <= Date.now() / 1000 && started > Date.now() / 1000 - 600, `start time ${started}`)
  })

  // Before the tests that stop, signal or kill a worker: each would leave it a reload still to do.
  // A tester's wrk flood of POST /reload had the primary ask every worker for one reload per request.
  it('asks each worker at most twice for 30 concurrent POST /reload, and answers every one', { timeout: 20_000 }, async () => {
    const from = reloadLines.length
    const replies = await Promise.all(Array.from({ length: 30 }, () => httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })))
    for (const reply of replies) assert.deepEqual([reply.status, JSON.parse(reply.body)], [200, { result: 'success', errors: [] }])
    /** Per worker, how many of the primary's questions its reloads since the flood answered. */
    const asked = () => {
      const counts = new Map<number, number>()
      for (const { worker, requests } of reloadLines.slice(from)) if (requests.primary) counts.set(worker, (counts.get(worker) ?? 0) + requests.primary)
      return counts
    }
    await eventually(async () => asked().size === 2, 5000, 'both workers logged their reloads')
    for (const [worker, count] of asked()) assert.ok(count <= 2, `worker ${worker} was asked ${count} times`)
  })

  it('answers scrapes and reloads in time while a worker does not answer (stopped)', { timeout: 30_000 }, async () => {
    const [worker] = workerPids
    const reloads = (scrape: string) => /^portcullis_config_reloads_total\{result="success"\} (\d+)$/m.exec(scrape)?.[1]
    const before = reloads((await httpRequest({ port: ports.admin, path: '/metrics' })).body)
    process.kill(worker!, 'SIGSTOP')
    try {
      const started = performance.now()
      const scrape = await httpRequest({ port: ports.admin, path: '/metrics' })
      assert.equal(scrape.status, 200)
      assert.equal(reloads(scrape.body), before, 'the stopped worker with its last answer')
      assert.match(scrape.body, /^portcullis_requests_total\{route="w\.test",method="GET",code="200"\} 40$/m)
      assert.ok(performance.now() - started < 9000, 'within the 10 s a Prometheus scrape waits by default')
      const reload = await httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })
      assert.equal(reload.status, 422)
      assert.match(reload.body, new RegExp(`worker ${worker} did not reload within 10 s`))
    } finally {
      process.kill(worker!, 'SIGCONT')
    }
  })

  it('keeps a worker that a SIGHUP for the process group reaches', { timeout: 20_000 }, async () => {
    const [worker] = workerPids
    process.kill(worker!, 'SIGHUP')
    await new Promise((resolve) => setTimeout(resolve, 500))
    assert.doesNotThrow(() => process.kill(worker!, 0), 'the worker is still running')
    assert.equal(workerPids.size, 2, 'no worker was replaced')
  })

  it('replaces a worker that dies, and keeps its counts in the scrape', { timeout: 20_000 }, async () => {
    assert.equal(workerPids.size, 2)
    const served = async () => Number(/^portcullis_requests_total\{route="w\.test",method="GET",code="200"\} (\d+)$/m.exec((await httpRequest({ port: ports.admin, path: '/metrics' })).body)?.[1])
    const before = await served()
    const replacedBefore = await scraped('portcullis_worker_replacements_total')
    const [victim] = workerPids
    process.kill(victim!, 'SIGKILL')
    await eventually(async () => workerPids.size === 3, 15_000, 'a new worker')
    await eventually(async () => (await httpRequest({ port: ports.admin, path: '/readyz' })).status === 200, 5000, 'ready again')
    assert.equal(await served(), before, 'a counter never goes down (Prometheus would read a reset)')
    assert.equal(await scraped('portcullis_worker_replacements_total'), (replacedBefore ?? Number.NaN) + 1)
    assert.equal(await scraped('portcullis_workers{state="serving"}'), 2)
    assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
    assert.equal(await served(), before + 1)
  })

  it('kills and replaces a worker that answers nothing for 30 s (stopped, as if its event loop were stuck)', { timeout: 60_000 }, async () => {
    const victim = [...workerPids].at(-1)!
    const before = workerPids.size
    process.kill(victim, 'SIGSTOP')
    await eventually(async () => workerPids.size === before + 1, 50_000, 'replaced')
    assert.ok(logMessages.includes('worker answered nothing for 30 s (its event loop is stuck); killing it'))
    assert.throws(() => process.kill(victim, 0), 'the stopped worker is gone')
    for (let i = 0; i < 4; i++) assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
  })

  it('answers POST /reload when a worker dies before it reloaded', { timeout: 20_000 }, async () => {
    const victim = [...workerPids].at(-1)!
    const before = workerPids.size
    process.kill(victim, 'SIGSTOP')
    const reply = httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })
    await new Promise((resolve) => setTimeout(resolve, 300))
    process.kill(victim, 'SIGKILL')
    const { status, body } = await reply
    assert.equal(status, 422)
    assert.match(body, /exited before it reloaded/)
    await eventually(async () => workerPids.size === before + 1, 15_000, 'replaced')
  })

  it('keeps serving when a replacement cannot load the config on disk, and starts it once fixed', { timeout: 30_000 }, async () => {
    await writeFile(configFile, `${goodConfig}  - { host: [oops\n`)
    await eventually(async () => logMessages.filter((m) => m.startsWith('reload failed')).length >= 2, 10_000, 'both workers refused the edit')
    const before = workerPids.size
    process.kill([...workerPids].at(-1)!, 'SIGKILL')
    await eventually(async () => logMessages.some((m) => m.startsWith('a worker ended before it served')), 10_000, 'a failed replacement')
    assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200, 'the other worker serves')
    assert.equal((await httpRequest({ port: ports.admin, path: '/readyz' })).status, 200)
    assert.deepEqual([await scraped('portcullis_workers{state="configured"}'), await scraped('portcullis_workers{state="serving"}')], [2, 1], 'the scrape shows it')
    await writeFile(configFile, goodConfig)
    await eventually(async () => workerPids.size === before + 1, 15_000, 'the replacement started with the fixed config')
    assert.equal((await httpRequest({ port: ports.http, host: 'w.test' })).status, 200)
  })
})

describe('workers when the admin port is taken', () => {
  it('exits 1 without starting a worker', { timeout: 20_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
    const taken = http.createServer().listen(0, '127.0.0.1')
    await once(taken, 'listening')
    try {
      const httpPort = await freePort()
      const configFile = join(dir, 'routes.yaml')
      await writeFile(
        configFile,
        `listen: { http: 127.0.0.1:${httpPort}, admin: 127.0.0.1:${(taken.address() as AddressInfo).port} }
workers: 2
routes:
  - { host: w.test, upstream: { url: 'http://127.0.0.1:9' } }
`,
      )
      const child = spawnPortcullis(configFile, { stdio: ['ignore', 'pipe', 'pipe'] })
      const output: string[] = []
      child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()))
      const [code] = (await once(child, 'exit')) as [number | null]
      assert.equal(code, 1)
      assert.match(output.join(''), /"code":"EADDRINUSE".*"msg":"not started"/)
      assert.doesNotMatch(output.join(''), /portcullis is serving/)
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
    const ports = { http: await freePort(), admin: await freePort() }
    const configFile = join(dir, 'routes.yaml')
    await writeFile(
      configFile,
      `listen: { http: 127.0.0.1:${ports.http}${admin ? `, admin: 127.0.0.1:${ports.admin}` : ''} }
workers: 2
routes:
  - { host: w.test, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
`,
    )
    const child = spawnPortcullis(configFile, { stdio: ['ignore', 'pipe', 'ignore'], detached: true })
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    const lines = createInterface({ input: child.stdout! })
    await new Promise<void>((resolve) => lines.on('line', (line) => (JSON.parse(line) as { msg: string }).msg === 'portcullis primary started' && resolve()))
    return { child, exited, ports }
  }

  // A terminal's Ctrl-C (SIGINT), and systemd's or dumb-init's stop (SIGTERM), signal every process in
  // the group: each worker gets the signal, then the primary's own SIGTERM.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`drains every worker when ${signal} reaches the whole process group`, { timeout: 30_000 }, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
      const slow = http.createServer((_req, res) => setTimeout(() => res.end('finished\n'), 1500))
      slow.listen(0, '127.0.0.1')
      await once(slow, 'listening')
      try {
        const { child, exited, ports } = await startInItsOwnGroup(dir, slow)
        await eventually(async () => (await httpRequest({ port: ports.admin, path: '/readyz' })).status === 200, 20_000, 'both workers ready')
        const requests = [1, 2, 3, 4].map(() => httpRequest({ port: ports.http, host: 'w.test' }).catch((error: Error) => error))
        await new Promise((resolve) => setTimeout(resolve, 300))
        process.kill(-child.pid!, signal)
        for (const reply of await Promise.all(requests)) assert.equal((reply as { status?: number }).status, 200, String(reply))
        assert.deepEqual(await exited, [0, null])
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
    const gateway = await startInItsOwnGroup(dir, upstream, { admin: false })
    try {
      await use(gateway)
    } finally {
      const { child } = gateway
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL')
      upstream.close()
      await rm(dir, { recursive: true, force: true })
    }
  }

  it('starts again a worker that a SIGHUP for the group ended before it could catch it, and serves', { timeout: 30_000 }, () =>
    withGroup(async ({ child, exited, ports }) => {
      // The workers are only just forked: Node has not run a line of theirs yet.
      process.kill(-child.pid!, 'SIGHUP')
      const outcome = await Promise.race([
        exited.then(([code]) => `the gateway exited with ${code}`),
        eventually(async () => (await httpRequest({ port: ports.http, host: 'w.test' })).status === 200, 20_000, 'serving').then(() => 'serving'),
      ])
      assert.equal(outcome, 'serving')
      child.kill('SIGTERM')
      assert.deepEqual(await exited, [0, null])
    }))
})

describe('workers and TLS sessions', () => {
  let pki: TestPki
  let dir: string
  let upstream: http.Server
  let child: ChildProcess
  let ports: { https: number; admin: number }

  before(async () => {
    pki = await makeTestPki()
    dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
    // Answers with the Client-Cert-Chain it was sent.
    upstream = http.createServer((req, res) => res.end(`chain=${req.headers['client-cert-chain'] ?? ''}\n`))
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    ports = { https: await freePort(), admin: await freePort() }
    const configFile = join(dir, 'routes.yaml')
    const cert = `cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}`
    const to = `upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' }`
    // Four policies: no client certificate, CA A, CA A or B (cliA verifies under both), and the root
    // of an intermediate, whose route forwards the chain.
    await writeFile(
      configFile,
      `listen: { https: 127.0.0.1:${ports.https}, admin: 127.0.0.1:${ports.admin} }
workers: 2
routes:
  - { host: open.test, tls: { ${cert} }, ${to} }
  - { host: a.test, tls: { ${cert}, clientCAs: ${pki.caA.certFile} }, ${to} }
  - { host: b.test, tls: { ${cert}, clientCAs: ${pki.caAB.certFile} }, ${to} }
  - { host: chain.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile}, forwardClientCert: rfc9440 }, ${to} }
`,
    )
    child = spawnPortcullis(configFile, { stdio: ['ignore', 'ignore', 'inherit'] })
    await eventually(async () => (await httpRequest({ port: ports.admin, path: '/readyz' })).status === 200, 20_000, 'both workers ready')
  })
  after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
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
