/**
 * `npm run bench:overload-memory`: what one client connection and one request in flight cost the gateway
 * in resident memory, the figures behind the defaults of routes.yaml `limits` (src/config/limits.ts).
 * For each case a fresh gateway process (BENCH_NODE: another node binary) gets N of them, and its RSS
 * is read from /proc before and after:
 *
 * - idle: a TLS client connection that made one request (answered 404 by the gateway, so no upstream
 *   connection) and stays open, keep-alive;
 * - in flight: a request on its own TLS client connection, held by an upstream that requires a client
 *   certificate, so each holds a client TLS connection and an upstream mTLS connection.
 *
 * N=500 by default (OVERLOAD_N). Not a load test: N handshakes, in batches, then quiet.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import tls from 'node:tls'
import { UPSTREAM_NAME, writeBenchPki, type BenchPki } from './pki.js'

const N = Number(process.env.OVERLOAD_N ?? 500)
const NODE = process.env.BENCH_NODE ?? process.execPath
const BATCH = 50
const SETTLE_MS = 2000

const dir = await mkdtemp(join(tmpdir(), 'portcullis-overload-memory-'))
const pki = await writeBenchPki(dir)
const read = (file: string) => readFile(file, 'utf8')
const [ca, upstreamCert, upstreamKey] = await Promise.all([read(pki.ca), read(pki.upstream.cert), read(pki.upstream.key)])

/** Holds every request until the end of the case; counts them. */
let held: (() => void)[] = []
const upstream = https.createServer({ cert: upstreamCert, key: upstreamKey, ca, requestCert: true, rejectUnauthorized: true }, (_req, res) => {
  held.push(() => res.end('done\n'))
})
upstream.listen(0, '127.0.0.1')
await once(upstream, 'listening')

interface Gateway {
  readonly child: ChildProcess
  readonly port: number
}

async function startGateway(pki: BenchPki): Promise<Gateway> {
  const configFile = join(dir, 'routes.yaml')
  await writeFile(
    configFile,
    `listen: { https: 127.0.0.1:0 }
limits: { connections: 100000, requests: 100000 }
routes:
  - host: localhost
    tls: { cert: ${pki.server.cert}, key: ${pki.server.key} }
    upstream:
      url: https://127.0.0.1:${(upstream.address() as AddressInfo).port}
      ca: ${pki.ca}
      cert: ${pki.gateway.cert}
      key: ${pki.gateway.key}
      serverName: ${UPSTREAM_NAME}
      timeouts: { response: 10m }
`,
  )
  const cli = new URL('../src/cli.ts', import.meta.url).pathname
  const child = spawn(NODE, ['--import', 'tsx', cli, '--config', configFile], { stdio: ['ignore', 'pipe', 'inherit'] })
  for await (const line of createInterface({ input: child.stdout! })) {
    const record = JSON.parse(line) as { msg: string; listeners?: { https: { port: number } } }
    if (record.msg === 'portcullis is serving') return { child, port: record.listeners!.https.port }
  }
  throw new Error('the gateway exited before serving')
}

async function rssMiB(pid: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1])
  return kib / 1024
}

/** A TLS client connection that has sent `request` and had the first bytes of an answer, if `answered`. */
async function connection(port: number, request: string, answered: boolean): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca })
  await once(socket, 'secureConnect')
  socket.write(request)
  if (answered) await once(socket, 'data')
  return socket
}

/** Runs one case on a fresh gateway: RSS before and after N `open()`s, in KiB per one. */
async function measure(name: string, open: (port: number) => Promise<tls.TLSSocket>, ready: (opened: number) => Promise<void>): Promise<void> {
  const gateway = await startGateway(pki)
  // Warm: the first handshakes and requests allocate what every later one reuses (JIT, pools).
  const warm = await Promise.all(Array.from({ length: 10 }, () => open(gateway.port)))
  await ready(warm.length)
  warm.forEach((socket) => socket.destroy())
  held.splice(0).forEach((release) => release())
  const before = await rssMiB(gateway.child.pid!)
  const sockets: tls.TLSSocket[] = []
  for (let i = 0; i < N; i += BATCH) sockets.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, N - i) }, () => open(gateway.port)))))
  await ready(sockets.length)
  const after = await rssMiB(gateway.child.pid!)
  console.log(`${name}: RSS ${before.toFixed(1)} → ${after.toFixed(1)} MiB with ${N}: ${(((after - before) * 1024) / N).toFixed(1)} KiB each`)
  sockets.forEach((socket) => socket.destroy())
  held.splice(0).forEach((release) => release())
  gateway.child.kill('SIGTERM')
  await once(gateway.child, 'exit')
}

/** Until the upstream holds every request opened. */
async function untilHeld(opened: number): Promise<void> {
  while (held.length < opened) await new Promise((resolve) => setTimeout(resolve, 50))
}

console.log(`node ${(await run(NODE, ['--version'])).trim()}, N=${N}`)
await measure('idle keep-alive TLS connection', (port) => connection(port, 'GET / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n', true), async () => {})
await measure('request in flight (client TLS + upstream mTLS)', (port) => connection(port, 'GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n', false), untilHeld)
upstream.close()
await rm(dir, { recursive: true, force: true })

async function run(command: string, args: string[]): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk))
  await once(child, 'exit')
  return out
}
