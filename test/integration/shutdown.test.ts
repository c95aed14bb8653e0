/**
 * SIGTERM on a real `portcullis` process: readiness drops at once, new connections are refused, the
 * request in flight completes, and the process exits 0 within the grace period. Then which connections
 * a drain closes at once and which it lets finish.
 */
import assert from 'node:assert/strict'
import { createHook } from 'node:async_hooks'
import dns from 'node:dns'
import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, afterEach, before, beforeEach, describe, it } from 'node:test'
import net from 'node:net'
import tls from 'node:tls'
import pino from 'pino'
import WebSocket, { WebSocketServer } from 'ws'
import { ConfigLoader } from '../../src/config/load.js'
import { Gateway } from '../../src/gateway.js'
import { closeServer } from '../../src/listeners.js'
import { runPortcullis, spawnPortcullis } from '../helpers/cli.js'
import { httpRequest, httpsRequest } from '../helpers/client.js'
import { eventually, seriesIn, seriesSum, seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { rawExchange } from '../helpers/raw.js'
import { listenOnLoopback } from '../helpers/upstream.js'
import { echoWebSockets, gatewayInFrontOf } from '../helpers/websocket.js'

/** Counts the timers set in this process from now on, and those of them still set, until stop(). */
function timersCreated() {
  let created = 0
  const set = new Set<number>()
  const hook = createHook({
    init(id, type) {
      if (type !== 'Timeout') return
      created++
      set.add(id)
    },
    destroy: (id) => set.delete(id),
  }).enable()
  return { count: () => created, stillSet: () => set.size, stop: () => hook.disable() }
}

/** A port free on localhost a moment ago. */
async function unusedLocalhostPort(): Promise<number> {
  const server = net.createServer().listen(0, 'localhost')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await closeServer(server)
  return port
}

describe('graceful shutdown', () => {
  let dir: string
  let slow: http.Server
  /** Resolves when the next request reaches the slow upstream. */
  let arrival: () => Promise<void>

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-shutdown-'))
    let arrived = () => {}
    arrival = () => new Promise((resolve) => (arrived = resolve))
    // /slower leaves time for a second signal a second after the first.
    slow = http.createServer((req, res) => {
      arrived()
      setTimeout(() => res.end('finished\n'), req.url === '/slower' ? 4000 : 1500)
    })
    await listenOnLoopback(slow)
  })
  after(async () => {
    slow.close()
    await rm(dir, { recursive: true, force: true })
  })

  /**
   * A real `portcullis` process on a config with this listen line, once it serves; its log lines are
   * collected, from a pipe, or written to `logFile` when one is given. Its grace period is longer than
   * any test here may take: a drain that waits for it instead of for what it drains fails by timeout.
   */
  async function startCli(listen: string, { accessLog = false, logFile = '' } = {}) {
    const configFile = join(dir, 'routes.yaml')
    await writeFile(
      configFile,
      `listen: ${listen}
accessLog: ${accessLog}
shutdown: { grace: 60s }
routes:
  - { host: slow.test, upstream: { url: 'http://127.0.0.1:${(slow.address() as AddressInfo).port}' } }
`,
    )
    const stdout = logFile ? await open(logFile, 'w') : undefined
    const child = spawnPortcullis(configFile, { stdio: ['ignore', stdout?.fd ?? 'pipe', 'inherit'] })
    await stdout?.close()
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    const logs: { msg: string; listeners?: Record<string, { port: number }> }[] = []
    const serving = new Promise<Record<string, { port: number }>>((resolve, reject) => {
      const onLine = (line: string) => {
        const record = JSON.parse(line) as (typeof logs)[number]
        logs.push(record)
        if (record.msg === 'portcullis is serving') resolve(record.listeners!)
      }
      if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine)
      else void untilServing(logFile, exited).then((lines) => lines.forEach(onLine))
      void exited.then(() => reject(new Error('exited before serving')))
    })
    return { child, exited, logs, listeners: await serving }
  }

  /** The lines of a log file once it says the gateway serves; none if the process exits first. */
  async function untilServing(logFile: string, exited: Promise<unknown>): Promise<string[]> {
    let gone = false
    void exited.then(() => (gone = true))
    while (!gone) {
      const lines = (await readFile(logFile, 'utf8')).split('\n').filter(Boolean)
      if (lines.some((line) => line.includes('"portcullis is serving"'))) return lines
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return []
  }

  // catalogue RR-10
  it('completes the request in flight, refuses new connections and exits 0', { timeout: 20_000 }, async () => {
    const { child, exited, listeners } = await startCli('{ http: 127.0.0.1:0, admin: 127.0.0.1:0 }')
    const ports = { http: listeners.http!.port, admin: listeners.admin!.port }
    const arrived = arrival()
    const inFlight = httpRequest({ port: ports.http, host: 'slow.test' })
    await arrived
    child.kill('SIGTERM')
    await eventually(async () => (await httpRequest({ port: ports.admin, path: '/readyz' })).status === 503, 5000, 'not ready')
    await assert.rejects(httpRequest({ port: ports.http, host: 'slow.test' }), /ECONNREFUSED/)

    const reply = await inFlight
    assert.equal(reply.status, 200)
    assert.equal(reply.body, 'finished\n')
    assert.deepEqual(await exited, [0, null])
  })

  it('finishes its drain without an admin listener holding the process up', { timeout: 20_000 }, async () => {
    const { child, exited, logs, listeners } = await startCli('{ http: 127.0.0.1:0 }')
    // A connection that never sends a request: the drain closes it at once, and nothing else is left.
    const idle = net.connect(listeners.http!.port, '127.0.0.1')
    idle.on('error', () => {})
    await once(idle, 'connect')
    child.kill('SIGTERM')
    assert.deepEqual(await exited, [0, null])
    assert.ok(logs.some((line) => line.msg === 'stopped'), JSON.stringify(logs.map((line) => line.msg)))
    idle.destroy()
  })

  it('exits once drained while admin connections are open: one silent, one part way through a request', { timeout: 20_000 }, async () => {
    const { child, exited, listeners } = await startCli('{ http: 127.0.0.1:0, admin: 127.0.0.1:0 }')
    const clients = ['', 'GET /metrics HTTP/1.1\r\nHost: x\r\n'].map((bytes) => {
      const client = net.connect(listeners.admin!.port, '127.0.0.1', () => client.write(bytes))
      client.on('error', () => {})
      return client
    })
    await Promise.all(clients.map((client) => once(client, 'connect')))
    child.kill('SIGTERM')
    assert.deepEqual(await exited, [0, null])
    for (const client of clients) client.destroy()
  })

  it('writes its last log lines before it exits when its stdout is a file', { timeout: 20_000 }, async () => {
    const logFile = join(dir, 'stdout.log')
    const { child, exited } = await startCli('{ http: 127.0.0.1:0 }', { logFile })
    child.kill('SIGTERM')
    assert.deepEqual(await exited, [0, null])
    const messages = (await readFile(logFile, 'utf8')).trim().split('\n').map((line) => (JSON.parse(line) as { msg: string }).msg)
    assert.deepEqual(messages.slice(-2), ['draining', 'stopped'])
  })

  it('exits on SIGTERM when its stdout is a pipe no one reads any more', { timeout: 20_000 }, async () => {
    const { child, exited } = await startCli('{ http: 127.0.0.1:0 }')
    child.stdout!.destroy()
    child.kill('SIGTERM')
    const timedOut = new Promise((resolve) => setTimeout(() => resolve('still running 5 s later'), 5000).unref())
    const outcome = await Promise.race([exited, timedOut])
    if (!Array.isArray(outcome)) child.kill('SIGKILL')
    assert.deepEqual(outcome, [0, null])
  })

  it('serves on and exits on SIGTERM while no one reads its stdout pipe any more, which stays open', { timeout: 30_000 }, async () => {
    const { child, exited, listeners } = await startCli('{ http: 127.0.0.1:0 }', { accessLog: true })
    child.stdout!.pause() // a log collector that has stalled: the pipe fills and stays full
    // An access log line each: far more than a pipe holds (64 KiB).
    for (let i = 0; i < 50; i++) {
      const replies = await Promise.all(Array.from({ length: 40 }, () => httpRequest({ port: listeners.http!.port, host: 'nowhere.test' })))
      assert.ok(replies.every((reply) => reply.status === 404))
    }
    child.kill('SIGTERM')
    assert.deepEqual(await exited, [0, null], 'the logs it could not write do not hold the exit')
  })

  // npm and tsx pass on the signal that their process group got too: the gateway got it twice, and cut
  // the drain short.
  it('takes a signal that comes right after the first for the same one relayed, and drains', { timeout: 20_000 }, async () => {
    const { child, exited, listeners } = await startCli('{ http: 127.0.0.1:0 }')
    const arrived = arrival()
    const inFlight = httpRequest({ port: listeners.http!.port, host: 'slow.test' })
    await arrived
    child.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 40))
    child.kill('SIGTERM')
    assert.equal((await inFlight).status, 200)
    assert.deepEqual(await exited, [0, null])
  })

  it('exits at once on a second signal during the drain, and says so', { timeout: 20_000 }, async () => {
    const { child, exited, logs, listeners } = await startCli('{ http: 127.0.0.1:0 }')
    const arrived = arrival()
    const inFlight = httpRequest({ port: listeners.http!.port, host: 'slow.test', path: '/slower' }).catch((error: Error) => error)
    await arrived
    child.kill('SIGTERM')
    await eventually(async () => logs.some((line) => line.msg === 'draining'), 5000, 'draining')
    // Past the window in which it is taken for the first one relayed.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    child.kill('SIGTERM')
    assert.deepEqual(await exited, [1, null], 'without waiting for the request in flight')
    assert.ok(logs.some((line) => line.msg.startsWith('second SIGTERM')), JSON.stringify(logs.map((line) => line.msg)))
    assert.ok((await inFlight) instanceof Error, 'the request in flight is cut off')
  })
})

describe('draining connections', () => {
  let pki: TestPki
  let wsUpstream: http.Server
  /** The passthrough route's upstream: takes each connection and holds it, silent. */
  let holding: net.Server
  let gw: TestGateway

  before(async () => {
    pki = await makeTestPki()
    wsUpstream = http.createServer()
    echoWebSockets(wsUpstream)
    await listenOnLoopback(wsUpstream)
    holding = net.createServer((socket) => socket.on('error', () => undefined))
    await listenOnLoopback(holding)
  })
  // Each test stops its gateway.
  beforeEach(async () => {
    gw = await startGateway(`
listen: { https: 127.0.0.1:0, http: 127.0.0.1:0 }
routes:
  - { name: open, host: open.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }, upstream: { url: 'http://127.0.0.1:${(wsUpstream.address() as AddressInfo).port}' } }
  - { name: mtls, host: a.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile} }, upstream: { url: 'http://127.0.0.1:${(wsUpstream.address() as AddressInfo).port}' } }
  - { name: ws, host: ws.test, upstream: { url: 'http://127.0.0.1:${(wsUpstream.address() as AddressInfo).port}' } }
  - { name: pass, host: pass.test, tls: passthrough, upstream: { url: 'tcp://127.0.0.1:${(holding.address() as AddressInfo).port}' } }
`)
  })
  afterEach(() => gw.close())
  after(async () => {
    holding.close()
    wsUpstream.closeAllConnections()
    wsUpstream.close()
    await pki.cleanup()
  })

  it('closes connections that never sent a request without waiting for the grace period, and lets a WebSocket run on', { timeout: 10_000 }, async () => {
    const tlsIdle = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'open.test', ca: pki.caS.cert })
    await once(tlsIdle, 'secureConnect')
    const plainIdle = net.connect(gw.ports.http!, '127.0.0.1')
    await once(plainIdle, 'connect')
    // A connection to the HTTPS port that has sent only the start of its ClientHello.
    const helloPending = net.connect(gw.ports.https!, '127.0.0.1')
    await once(helloPending, 'connect')
    helloPending.write(Buffer.from([0x16, 0x03, 0x01]))
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/chat`, { headers: { host: 'ws.test' } })
    await once(ws, 'open')
    // Each has reached the gateway: the idle TLS one through its handshake, the others accepted.
    const reached = async (listener: string) => seriesValue(gw, `portcullis_client_connections{listener="${listener}"}`)
    const handshakes = () => seriesValue(gw, 'portcullis_tls_handshakes_total{side="ingress",route="open",result="ok",reason="none"}')
    await eventually(async () => (await reached('https')) === 2 && (await reached('http')) === 2 && (await handshakes()) === 1, 3000, 'every connection accepted')

    const stopped = gw.gateway.stop(5000)
    try {
      const idleClosed = Promise.all([once(tlsIdle, 'close'), once(plainIdle, 'close'), once(helloPending, 'close')]).then(() => true)
      const graceHalfOver = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2500))
      assert.ok(await Promise.race([idleClosed, graceHalfOver]), 'closed by the drain, not at the end of the grace period')
      ws.send('still here')
      assert.equal(String((await once(ws, 'message'))[0]), 'echo still here')
    } finally {
      ws.terminate()
      tlsIdle.destroy()
      plainIdle.destroy()
      helloPending.destroy()
      await stopped
    }
    const { values } = await gw.gateway.metrics.tlsHandshakes.get()
    assert.deepEqual(values.filter((v) => v.labels.reason === 'connection_reset'), [], 'the drain closed it, not the client')
  })

  // A refused client has 10 s to start its request (refused-certificate.ts): one that sent nothing held
  // the drain for them, where an idle verified connection is closed after a second.
  it('closes a connection whose certificate was refused and that sent nothing as an idle one, and answers a request sent as the drain begins', { timeout: 10_000 }, async () => {
    const refusedClient = () =>
      tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'a.test', ca: pki.caS.cert, cert: pki.cliB.cert, key: pki.cliB.key }).on('error', () => undefined)
    const [silent, late] = [refusedClient(), refusedClient()]
    const closed = Promise.all([once(silent, 'close'), once(late, 'close')])
    await Promise.all([once(silent, 'secureConnect'), once(late, 'secureConnect')])
    const refusals = () => seriesValue(gw, 'portcullis_tls_handshakes_total{side="ingress",route="mtls",result="error",reason="unknown_ca"}')
    await eventually(async () => (await refusals()) === 2, 3000, 'both refused')
    const chunks: Buffer[] = []
    late.on('data', (chunk: Buffer) => chunks.push(chunk))
    const started = performance.now()
    const stopped = gw.gateway.stop(5000)
    late.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n')
    await Promise.all([closed, stopped])
    assert.ok(performance.now() - started < 2500, `stopped in ${(performance.now() - started).toFixed(0)} ms, not after the refused client's wait`)
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 400 Bad Request\r\n[^]*the client certificate was refused \(unknown_ca\)\n$/)
  })

  // It was closed a second after the drain began, with those refused before it, however late it came.
  it('gives a client refused during the drain a second of its own for its request', { timeout: 10_000 }, async () => {
    const refused = { servername: 'a.test', ca: pki.caS.cert, cert: pki.cliB.cert, key: pki.cliB.key }
    // Refused before the drain, and silent: the drain closes it a second after it began.
    const silent = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', ...refused }).on('error', () => undefined)
    await once(silent, 'secureConnect')
    const tcp = net.connect(gw.ports.https!, '127.0.0.1')
    await once(tcp, 'connect')
    await eventually(async () => (await seriesValue(gw, 'portcullis_client_connections{listener="https"}')) === 2, 3000, 'both connections accepted')
    const started = performance.now()
    const stopped = gw.gateway.stop(5000)
    await new Promise((resolve) => setTimeout(resolve, 600))
    const late = tls.connect({ socket: tcp, ...refused }).on('error', () => undefined)
    const closed = once(late, 'close')
    await once(late, 'secureConnect')
    const chunks: Buffer[] = []
    late.on('data', (chunk: Buffer) => chunks.push(chunk))
    // Past the second the drain gave those refused before it, within the one its refusal began.
    await new Promise((resolve) => setTimeout(resolve, 1300 - (performance.now() - started)))
    late.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n')
    await Promise.all([closed, stopped])
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 400 Bad Request\r\n[^]*the client certificate was refused \(unknown_ca\)\n$/)
  })

  // It was closed as the drain began, where a plaintext connection gets a second for its request.
  it('serves a TLS connection whose ClientHello comes within a second of the drain, and closes it after the response', { timeout: 10_000 }, async () => {
    const tcp = net.connect(gw.ports.https!, '127.0.0.1')
    await once(tcp, 'connect')
    await eventually(async () => (await seriesValue(gw, 'portcullis_client_connections{listener="https"}')) === 1, 3000, 'the connection accepted')
    const stopped = gw.gateway.stop(5000)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const client = tls.connect({ socket: tcp, servername: 'open.test', ca: pki.caS.cert })
    await once(client, 'secureConnect')
    const chunks: Buffer[] = []
    client.on('data', (chunk: Buffer) => chunks.push(chunk))
    // Answered by the gateway itself: this upstream answers WebSockets only.
    client.write('GET / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n')
    await once(client, 'close')
    await stopped
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 404 [\s\S]*\r\nConnection: close\r\n/i)
  })

  // Handed over in that second, a passthrough tunnel held the shutdown for the whole grace period.
  it('closes a passthrough connection whose ClientHello comes during the drain, rather than open its tunnel', { timeout: 10_000 }, async () => {
    const tcp = net.connect(gw.ports.https!, '127.0.0.1')
    tcp.on('error', () => undefined)
    await once(tcp, 'connect')
    await eventually(async () => (await seriesValue(gw, 'portcullis_client_connections{listener="https"}')) === 1, 3000, 'the connection accepted')
    const started = performance.now()
    const stopped = gw.gateway.stop(5000)
    await new Promise((resolve) => setTimeout(resolve, 300))
    tls.connect({ socket: tcp, servername: 'pass.test' }).on('error', () => undefined)
    await stopped
    assert.ok(performance.now() - started < 2500, `stopped in ${(performance.now() - started).toFixed(0)} ms, not at the end of the grace period`)
  })

  it('refuses a WebSocket upgrade sent as the drain begins, rather than let it hold the shutdown for the grace period', { timeout: 10_000 }, async () => {
    const client = net.connect(gw.ports.http!, '127.0.0.1')
    await once(client, 'connect')
    await eventually(async () => (await seriesValue(gw, 'portcullis_client_connections{listener="http"}')) === 1, 3000, 'the connection accepted')
    const chunks: Buffer[] = []
    client.on('data', (chunk: Buffer) => chunks.push(chunk))
    const started = Date.now()
    const stopped = gw.gateway.stop(5000)
    // Within the drain's window for a request already on its way.
    client.write(`GET /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`)
    await once(client, 'close')
    await stopped
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 503 Service Unavailable\r\nConnection: close\r\n/)
    assert.ok(Date.now() - started < 2500, `stopped in ${Date.now() - started} ms, not at the end of the grace period`)
  })
})

describe('a drain under clients that keep sending', () => {
  let pki: TestPki
  let upstream: http.Server

  before(async () => {
    pki = await makeTestPki()
    upstream = http.createServer((_req, res) => res.end('ok\n'))
    await listenOnLoopback(upstream)
  })
  after(async () => {
    upstream.closeAllConnections()
    upstream.close()
    await pki.cleanup()
  })

  /**
   * A real `portcullis` process with one TLS route, open.test, once it serves, and its HTTPS port. Its
   * grace period is longer than any test here may take: a drain that waits for it fails by timeout.
   */
  async function startBusyGateway() {
    const configFile = join(pki.dir, 'busy.yaml')
    await writeFile(
      configFile,
      `listen: { https: 127.0.0.1:0 }
shutdown: { grace: 60s }
routes:
  - { host: open.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
`,
    )
    const gateway = runPortcullis(configFile)
    const { listeners } = (await gateway.logged('portcullis is serving')) as unknown as { listeners: { https: { port: number } } }
    return { ...gateway, port: listeners.https.port }
  }

  /**
   * GET after GET on one kept-alive TLS connection, each sent as soon as the answer before it is read,
   * as wrk sends them, until an answer says `Connection: close`: what ended it, and on how many
   * connections its requests went.
   */
  function backToBack(port: number) {
    // With a checkServerIdentity of its own (httpsRequest passes one per request), Node 24.21 reuses a
    // connection only if the agent has one too.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, checkServerIdentity: tls.checkServerIdentity })
    const connections = new Set<unknown>()
    agent.on('free', (socket) => connections.add(socket))
    let answers = 0
    const ended = (async () => {
      try {
        for (;;) {
          const reply = await httpsRequest({ port, servername: 'open.test', ca: pki.caS.cert, agent })
          answers++
          if (reply.headers.connection === 'close') return 'Connection: close'
        }
      } catch (error) {
        return `${(error as NodeJS.ErrnoException).code ?? (error as Error).message} after ${answers} answers`
      } finally {
        agent.destroy()
      }
    })()
    return { answers: () => answers, ended: ended.then((end) => ({ end, connections: connections.size })) }
  }

  // catalogue RR-10
  it('answers every request a keep-alive client sends, the last on each connection with Connection: close, and exits 0', { timeout: 30_000 }, async () => {
    const gateway = await startBusyGateway()
    try {
      const clients = Array.from({ length: 8 }, () => backToBack(gateway.port))
      // Each client is then past its handshake and sending its requests back to back.
      await eventually(async () => clients.every((client) => client.answers() >= 10), 10_000, 'every client answered 10 times')
      gateway.child.kill('SIGTERM')
      const endings = await Promise.all(clients.map((client) => client.ended))
      // Not a reset or an EOF for a request sent on a connection that the drain closed as it went idle,
      // nor a refused new connection after the drain closed one without saying so.
      assert.deepEqual(endings, Array(clients.length).fill({ end: 'Connection: close', connections: 1 }))
      assert.deepEqual(await gateway.exited, [0, null])
    } finally {
      gateway.child.kill('SIGKILL')
    }
  })

  it('answers the request on a connection whose TLS handshake ends during the drain, with Connection: close', { timeout: 30_000 }, async () => {
    const gateway = await startBusyGateway()
    const relay = await relayHoldingClientFinished(gateway.port)
    try {
      const reply = httpsRequest({ port: relay.port, servername: 'open.test', ca: pki.caS.cert })
      await relay.holding
      gateway.child.kill('SIGTERM')
      await gateway.logged('draining')
      // The gateway's side of the handshake ends now, and the request behind it comes at once.
      relay.release()
      const { status, headers } = await reply
      assert.deepEqual([status, headers.connection], [200, 'close'])
      assert.deepEqual(await gateway.exited, [0, null])
    } finally {
      gateway.child.kill('SIGKILL')
      relay.close()
    }
  })
})

/**
 * A TCP relay to `port` on loopback for one TLS client, which holds what the client sends once the
 * server has answered its ClientHello (its Finished, then its request) until release(): the client's
 * side of the handshake is done, the server's waits. `holding` resolves once it holds something.
 */
async function relayHoldingClientFinished(port: number) {
  const held: Buffer[] = []
  let released = false
  let toServer: net.Socket | undefined
  let startHolding = () => {}
  const holding = new Promise<void>((resolve) => (startHolding = resolve))
  const relay = net.createServer((client) => {
    const server = (toServer = net.connect(port, '127.0.0.1'))
    let serverAnswered = false
    server.on('data', (chunk: Buffer) => {
      serverAnswered = true
      client.write(chunk)
    })
    client.on('data', (chunk: Buffer) => {
      if (!serverAnswered || released) server.write(chunk)
      else {
        held.push(chunk)
        startHolding()
      }
    })
    for (const [from, to] of [[client, server], [server, client]] as const) {
      from.on('end', () => to.end())
      from.on('error', () => to.destroy())
      from.on('close', () => to.destroy())
    }
  })
  return {
    port: await listenOnLoopback(relay),
    holding,
    release() {
      released = true
      for (const chunk of held.splice(0)) toServer!.write(chunk)
    },
    close: () => relay.close(),
  }
}

describe('a WebSocket relay', () => {
  it('closes its upstream side when the end of the grace period cuts it off, and says what it cut off', async () => {
    const upstreamSockets: net.Socket[] = []
    const upstream = http.createServer()
    new WebSocketServer({ server: upstream }).on('connection', (_ws, req) => upstreamSockets.push(req.socket))
    const gw = await gatewayInFrontOf(upstream)
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/`, { headers: { host: 'ws.test' } })
      ws.on('error', () => undefined)
      await once(ws, 'open')
      await gw.close() // no grace left: the WebSocket is cut off
      const [upstreamSocket] = upstreamSockets
      const upstreamClosed = upstreamSocket!.closed ? Promise.resolve('closed') : once(upstreamSocket!, 'close').then(() => 'closed')
      const timedOut = new Promise((resolve) => setTimeout(() => resolve('still open 2 s after the gateway stopped'), 2000).unref())
      assert.equal(await Promise.race([upstreamClosed, timedOut]), 'closed')
      const cutOff = gw.logs.filter((line) => line.msg === 'shutdown.grace is over: closing the connections still open')
      assert.deepEqual(
        cutOff.map(({ level, connections, webSockets }) => [level, connections, webSockets]),
        [[40, 1, 1]],
        'what the end of the grace period cut off, logged once',
      )
    } finally {
      // Upgraded sockets are no longer the server's: closeAllConnections() does not reach them.
      for (const socket of upstreamSockets) socket.destroy()
      upstream.close()
    }
  })

  it("gets an upstream's last bytes, sent as it closes, to a client that reads slowly", { timeout: 30_000 }, async () => {
    const PAYLOAD = 4 * 1024 * 1024
    const upstream = http.createServer()
    upstream.on('upgrade', (_req, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
      socket.end(Buffer.alloc(PAYLOAD, 0x61))
    })
    const gw = await gatewayInFrontOf(upstream)
    try {
      const client = net.connect(gw.ports.http!, '127.0.0.1')
      client.write('GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
      let received = 0
      client.on('data', (chunk: Buffer) => (received += chunk.length))
      client.on('error', () => undefined)
      // A slow reader: nothing for a second, then a little every 20 ms, so that the gateway's writes
      // toward it are still queued when the upstream closes (how much queues depends on the machine).
      client.pause()
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const slowly = setInterval(() => {
        client.resume()
        setTimeout(() => client.pause(), 2)
      }, 20)
      await once(client, 'close')
      clearInterval(slowly)
      assert.ok(received > PAYLOAD, `${received} bytes, fewer than the head and the ${PAYLOAD} the upstream sent`)
    } finally {
      await gw.close()
      upstream.close()
    }
  })
})

describe('stopping with requests in flight', () => {
  let slow: http.Server
  const methodsSeen: string[] = []
  let gw: TestGateway

  before(async () => {
    slow = http.createServer((req, res) => {
      methodsSeen.push(req.method!)
      const query = new URL(req.url!, 'http://upstream').searchParams
      if (query.has('bytes')) res.end(Buffer.alloc(Number(query.get('bytes')), 'x'))
      else if (query.has('stream')) {
        res.write('begun\n')
        setTimeout(() => res.end('done\n'), Number(query.get('stream')))
      } else setTimeout(() => res.end('done\n'), Number(query.get('ms')))
    })
    await listenOnLoopback(slow)
  })
  after(() => {
    slow.closeAllConnections()
    slow.close()
  })
  beforeEach(async () => {
    gw = await startGateway(`
listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
  - { name: slow, host: slow.test, upstream: { url: 'http://127.0.0.1:${(slow.address() as AddressInfo).port}' } }
`)
  })
  afterEach(() => gw.close())

  /** Resolves once the upstream has had `count` requests more than it has now. */
  const upstreamHas = (count: number) => {
    const target = methodsSeen.length + count
    return eventually(async () => methodsSeen.length >= target, 3000, 'the request reached the upstream')
  }

  /** The response to a GET through `agent` once its headers have come, and whether it was sent on a connection used before. */
  const responseTo = (path: string, agent: http.Agent) =>
    new Promise<{ res: http.IncomingMessage; reused: boolean }>((resolve, reject) => {
      const req = http.get({ port: gw.ports.http!, host: '127.0.0.1', path, headers: { host: 'slow.test' }, agent }, (res) => resolve({ res, reused: req.reusedSocket }))
      req.on('error', reject)
    })

  /** A GET through a keep-alive agent: its status, its Connection header, and whether it was sent on a connection used before. */
  const keepAliveGet = async (path: string, agent: http.Agent) => {
    const { res, reused } = await responseTo(path, agent)
    res.resume()
    await once(res, 'end')
    return { status: res.statusCode, connection: res.headers.connection, reused }
  }

  /** A request on a keep-alive connection, which the client would reuse. */
  const slowRequest = async (ms: number, agent: http.Agent) => (await keepAliveGet(`/?ms=${ms}`, agent)).status

  /** An agent that keeps one connection alive, as a client sending one request after another does. */
  const oneConnection = () => new http.Agent({ keepAlive: true, maxSockets: 1 })

  // catalogue RR-10, MT-08
  it('shows portcullis_draining 1 on the admin listener throughout the drain, 0 before it, and answers POST /reload 503', async () => {
    const admin = async (path: string) => httpRequest({ port: gw.ports.admin!, path })
    const draining = async () => seriesIn((await admin('/metrics')).body, 'portcullis_draining')
    assert.deepEqual([await draining(), (await admin('/readyz')).status], [0, 200])
    const agent = new http.Agent({ keepAlive: true })
    const reached = upstreamHas(1)
    const reply = slowRequest(3000, agent).catch((error: NodeJS.ErrnoException) => error.code)
    await reached
    const stopped = gw.gateway.stop(20_000)
    try {
      // The request in flight holds the drain open until its client goes.
      assert.deepEqual([await draining(), (await admin('/readyz')).status], [1, 503])
      const reload = await httpRequest({ port: gw.ports.admin!, path: '/reload', method: 'POST' })
      assert.deepEqual([reload.status, JSON.parse(reload.body)], [503, { result: 'failure', errors: ['the gateway is draining'], warnings: [] }])
    } finally {
      agent.destroy()
    }
    await reply
    await stopped
  })

  it('ends both of two stops that overlap, once the request in flight is answered', { timeout: 10_000 }, async () => {
    const agent = oneConnection()
    const reached = upstreamHas(1)
    const reply = slowRequest(300, agent)
    await reached
    // An embedding program's stop, then a second (a second signal's handler): the first hung for ever.
    const stops = [gw.gateway.stop(5000), gw.gateway.stop(200)]
    assert.equal(await reply, 200)
    await Promise.all(stops)
    agent.destroy()
  })

  it('answers the request in flight and handles none queued behind it on a pipelined connection', async () => {
    methodsSeen.length = 0
    const pipelined = 'GET /?ms=300 HTTP/1.1\r\nHost: slow.test\r\n\r\nDELETE /?ms=0 HTTP/1.1\r\nHost: slow.test\r\n\r\n'
    const reached = upstreamHas(1)
    const reply = rawExchange(gw.ports.http!, pipelined, 1000)
    await reached
    const stopped = gw.gateway.stop(5000)
    assert.deepEqual((await reply).match(/^HTTP\/1\.1 \d{3}/gm), ['HTTP/1.1 200'])
    await stopped
    assert.deepEqual(methodsSeen, ['GET'])
  })

  it('closes a keep-alive connection as soon as its response is done, not at the end of the grace period', { timeout: 10_000 }, async () => {
    const agent = new http.Agent({ keepAlive: true })
    try {
      const reached = upstreamHas(1)
      const reply = slowRequest(300, agent)
      await reached
      // A grace period beyond the test's timeout: waiting for it fails the test.
      await gw.gateway.stop(60_000)
      assert.equal(await reply, 200)
    } finally {
      agent.destroy()
    }
  })

  it('answers a request sent on an idle keep-alive connection as the drain begins, with Connection: close', async () => {
    const agent = oneConnection()
    try {
      assert.equal(await slowRequest(0, agent), 200)
      const stopped = gw.gateway.stop(20_000)
      // Sent at once on the idle connection, as a client that had just read the answer before sends it.
      assert.deepEqual(await keepAliveGet('/?ms=0', agent), { status: 200, connection: 'close', reused: true })
      await stopped
    } finally {
      agent.destroy()
    }
  })

  it('answers the request sent as soon as a response that began before the drain ends, with Connection: close', async () => {
    const agent = oneConnection()
    try {
      const { res: begun } = await responseTo('/?stream=300', agent)
      assert.equal(begun.headers.connection, 'keep-alive', 'its headers promised the connection would stay open')
      const stopped = gw.gateway.stop(20_000)
      begun.resume()
      await once(begun, 'end')
      assert.deepEqual(await keepAliveGet('/?ms=0', agent), { status: 200, connection: 'close', reused: true })
      await stopped
    } finally {
      agent.destroy()
    }
  })

  // A drain used to look every 50 ms whether its connections had gone: it ended up to 50 ms after the
  // last one closed, and woke 20 times a second while a long request held it open.
  it('ends as the last connection closes, with nothing waking to look for it meanwhile', async () => {
    const agent = new http.Agent({ keepAlive: true })
    const timers = timersCreated()
    try {
      const reached = upstreamHas(1)
      const reply = slowRequest(600, agent)
      await reached
      const stopped = gw.gateway.stop(60_000).then(() => performance.now())
      const since = timers.count()
      assert.equal(await reply, 200)
      const answered = performance.now()
      const lag = (await stopped) - answered
      assert.ok(lag < 30, `the drain ended ${lag.toFixed(1)} ms after the last response`)
      const set = timers.count() - since
      assert.ok(set < 5, `${set} timers were set during a 600 ms drain`)
    } finally {
      timers.stop()
      agent.destroy()
    }
  })

  it('closes an idle keep-alive connection whose client sends nothing more, not at the end of the grace period', { timeout: 10_000 }, async () => {
    const agent = oneConnection()
    try {
      assert.equal(await slowRequest(0, agent), 200)
      // A grace period beyond the test's timeout: waiting for it fails the test.
      await gw.gateway.stop(60_000)
    } finally {
      agent.destroy()
    }
  })

  it('lets a response that is still being written to a slow reader finish', async () => {
    const size = 2 * 1024 * 1024
    const client = net.connect(gw.ports.http!, '127.0.0.1')
    await once(client, 'connect')
    const reached = upstreamHas(1)
    client.write(`GET /?bytes=${size} HTTP/1.1\r\nHost: slow.test\r\n\r\n`)
    // About 2 MB/s: the gateway has handed its last bytes to the socket long before the client has them.
    let received = 0
    const read = () => {
      for (let chunk: Buffer | null, n = 0; n < 100_000 && (chunk = client.read(Math.min(16_384, client.readableLength || 16_384)) as Buffer | null) !== null; n += chunk.length) {
        received += chunk.length
      }
    }
    client.pause()
    client.on('readable', () => undefined)
    const reader = setInterval(read, 50)
    const closed = once(client, 'close')
    try {
      await reached
      await gw.gateway.stop(20_000)
      await closed
    } finally {
      clearInterval(reader)
    }
    read()
    assert.ok(received > size, `${received} bytes of a ${size}-byte body and its headers`)
  })

  it('cuts a response off at the end of the grace period without calling it an upstream failure', async () => {
    const agent = new http.Agent({ keepAlive: true })
    try {
      const reached = upstreamHas(1)
      const reply = slowRequest(3000, agent).catch((error: NodeJS.ErrnoException) => error.code)
      await reached
      await gw.gateway.stop(200)
      assert.equal(await reply, 'ECONNRESET')
      assert.deepEqual(gw.logs.filter((line) => String(line.msg).startsWith('upstream')), [])
      assert.equal(await seriesSum(gw, 'portcullis_upstream_errors_total'), 0)
    } finally {
      agent.destroy()
    }
  })
})

describe('stopping while an upstream connect is in progress', () => {
  /** Accepts TCP, reads and never answers: a TLS handshake to it waits for the connect timeout. */
  let silent: net.Server
  const accepted: net.Socket[] = []
  let gw: TestGateway
  /** `connect`: far longer than any test here may take, so a stop that leaves the connect to it fails by the test's timeout. */
  const routes = (connect: string) => `
listen: { http: 127.0.0.1:0 }
routes:
  - { name: silent, host: silent.test, upstream: { url: 'https://127.0.0.1:${(silent.address() as AddressInfo).port}', timeouts: { connect: ${connect} } } }
`

  before(async () => {
    silent = net.createServer((socket) => accepted.push(socket.on('error', () => undefined).resume()))
    await listenOnLoopback(silent)
  })
  beforeEach(async () => {
    accepted.length = 0
    gw = await startGateway(routes('10m'), { reloadIntervalMs: 0 })
  })
  afterEach(async () => {
    await gw.close()
    for (const socket of accepted) socket.destroy()
  })
  after(() => silent.close())

  /** Resolves once the gateway's connect has reached the upstream, with its socket there. */
  const connectArrived = () => eventually(async () => accepted.length === 1, 3000, 'the connect reached the upstream').then(() => accepted[0]!)

  it('ends the connect at once, after the drain cut off the request waiting for it', { timeout: 10_000 }, async () => {
    const reply = httpRequest({ port: gw.ports.http!, host: 'silent.test' }).catch((error: NodeJS.ErrnoException) => error.code)
    const connecting = await connectArrived()
    const ended = once(connecting, 'close')
    // The grace ends the client's wait for the connect; then the pools close.
    await gw.gateway.stop(200)
    await ended
    assert.equal(await reply, 'ECONNRESET')
    assert.deepEqual(gw.logs.filter((line) => String(line.msg).startsWith('upstream')), [])
    assert.equal(await seriesSum(gw, 'portcullis_tls_handshakes_total{side="upstream"'), 0, 'a connect the stop ended is no failed handshake')
  })

  // An upgrade holds its pool until undici fails its request, which the stop's destroy of the retired
  // pool does: the release then closes a destroyed pool, whose refusal must not go unhandled.
  it('ends one on a pool a reload retired, under a WebSocket upgrade', { timeout: 10_000 }, async () => {
    const client = net.connect(gw.ports.http!, '127.0.0.1')
    client.on('error', () => undefined)
    const clientClosed = once(client, 'close')
    client.write('GET / HTTP/1.1\r\nHost: silent.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
    const connecting = await connectArrived()
    // A new connect timeout is a new upstream identity: the reload retires the pool the upgrade waits on.
    await writeFile(gw.configFile, routes('11m'))
    assert.deepEqual(await gw.gateway.reload(), { ok: true, errors: [], warnings: [] })
    const ended = once(connecting, 'close')
    await gw.gateway.stop(200)
    await Promise.all([ended, clientClosed])
  })
})

// A gateway whose config failed to load left its request server's sweeps running (unref'd, so a
// process still exits, but they held the gateway, and whatever embeds it, for the process' life).
describe('a gateway that does not start', () => {
  it('leaves no timer set', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-not-started-'))
    const configFile = join(dir, 'routes.yaml')
    await writeFile(configFile, 'listen: { http: 127.0.0.1:0 }\nroutes: []\nnot-a-key: 1\n')
    const timers = timersCreated()
    try {
      const gateway = new Gateway({ loader: new ConfigLoader(configFile), logger: pino({ level: 'silent' }) })
      await assert.rejects(gateway.start(), { code: 'PCL_ERR_CONFIG' })
      await new Promise(setImmediate)
      assert.equal(timers.stillSet(), 0)
    } finally {
      timers.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })

  // An embedding program's stop() during start(): the listeners bound after it stayed open.
  it('ends a start that a stop came during, with no listener left bound', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-stopped-starting-'))
    const configFile = join(dir, 'routes.yaml')
    await writeFile(configFile, 'listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\nroutes:\n  - { name: a, host: a.test, upstream: { url: http://127.0.0.1:9 } }\n')
    const listening = () => process.getActiveResourcesInfo().filter((resource) => resource === 'TCPServerWrap').length
    const before = listening()
    try {
      const gateway = new Gateway({ loader: new ConfigLoader(configFile), logger: pino({ level: 'silent' }) })
      // The stop comes while start() reads the config, before it binds anything.
      const started = gateway.start()
      await gateway.stop(0)
      await assert.rejects(started, { code: 'PCL_ERR_STOPPED' })
      assert.equal(listening(), before, 'no listener bound')
      assert.equal(gateway.routeNames().size, 0, 'no config installed after the stop')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  // stop() resolved while a bind was under way, which bound the port after it and closed it later.
  it('frees the port of a bind a stop came during before the stop resolves', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-stopped-binding-'))
    const configFile = join(dir, 'routes.yaml')
    const port = await unusedLocalhostPort()
    await writeFile(configFile, `listen: { http: 'localhost:${port}' }\nroutes:\n  - { name: a, host: a.test, upstream: { url: http://127.0.0.1:9 } }\n`)
    // A listener on a name looks the name up first (net.Server.listen calls dns.lookup): a slow
    // resolver's lookup, here one held back 300 ms, keeps the bind under way while the stop comes.
    let bindUnderWay = () => {}
    const lookingUp = new Promise<void>((resolve) => (bindUnderWay = resolve))
    const lookup = dns.lookup
    t.mock.method(dns, 'lookup', (...args: unknown[]) => {
      bindUnderWay()
      setTimeout(() => Reflect.apply(lookup, dns, args), 300)
    })
    try {
      const gateway = new Gateway({ loader: new ConfigLoader(configFile), logger: pino({ level: 'silent' }), watch: false })
      const started = assert.rejects(gateway.start(), { code: 'PCL_ERR_STOPPED' })
      await lookingUp
      await gateway.stop(0)
      t.mock.restoreAll()
      // The port is free, and stays the test's: nothing of the gateway's binds it any more.
      const server = net.createServer().listen(port, 'localhost')
      await once(server, 'listening')
      await started
      await closeServer(server)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
