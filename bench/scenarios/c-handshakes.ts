/**
 * (c) A new TLS connection per request, with a client certificate: handshakes/s of portcullis against
 * a bare node:https server with requestCert (Node's ceiling), nginx, and the minimal undici proxy (what
 * a proxied request adds in Node, without portcullis' own work). The generator
 * (bench/handshake-client.ts) runs as two processes on the load core; it cannot saturate the server
 * (a client handshake costs about as much as a server one), so "per proxy core" = rate ÷ server CPU
 * share is the capacity figure, as in the research notes' perf-baseline.md. A second run per peer
 * loads it with wrk, which in C costs less per handshake and keeps the server busy: its handshakes
 * per server core-second show each server's own cost with less of the generator in it.
 */
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { HandshakeClientArgs, HandshakeClientResult } from '../handshake-client.js'
import { cpuSince, measureRepeats, median, nginxBase, otherOnCore0, perServerCore, readCpu, waitForQuiet, type Sample } from '../measure.js'
import { nginxPeer } from '../peers/nginx.js'
import { nodeHttpsPeer, undiciMinPeer } from '../peers/node-server.js'
import { portcullisPeer } from '../peers/portcullis.js'
import type { RunningPeer } from '../peers/types.js'
import { scrapePortcullis } from '../portcullis-metrics.js'
import { spawnPinned } from '../proc.js'
import { rowsOf, subjectsOf, withPeers } from './common.js'
import { ratioTarget, rowOf } from '../targets.js'
import type { Scenario, ScenarioEnv } from './types.js'

const PROCESSES = 2

export const handshakeScenario: Scenario = {
  id: 'c',
  title: 'c. new TLS connection per request, with client certificate (full mTLS handshakes)',
  async run(env) {
    const portcullis = portcullisPeer(env.config.profile ? { cpuProfileDir: env.profileDir } : {})
    const peers = [nodeHttpsPeer, nginxPeer, undiciMinPeer, portcullis]
    return withPeers(env, peers, { ingressMtls: true }, async (running) => {
      const subjects = subjectsOf(running)
      const samples = await measureRepeats(env, subjects, {
        once: (subject) => measureHandshakes(env, subject.peer),
        describe: (sample) =>
          `${Math.round(sample.hps!)} handshakes/s at ${Math.round(sample.proxyCpu!)} % CPU` +
          (Number.isNaN(sample.wrkHps) ? '' : `; wrk ${Math.round(sample.wrkHps!)} at ${Math.round(sample.wrkCpu!)} %`),
        // Per server core-second, with wrk where there is one, as the target below.
        ratios: { [env.wrk.clientCertShim ? 'wrkPerCore' : 'perCore']: 'ratio' },
        ratioBase: nginxBase(subjects),
      })
      const rows = rowsOf(subjects, samples)
      return {
        id: 'c',
        title: this.title,
        columns: [
          { key: 'hps', label: 'handshakes/s' },
          { key: 'proxyCpu', label: 'server CPU %' },
          { key: 'perCore', label: 'handshakes per server core-second' },
          { key: 'p50', label: 'p50 ms', digits: 1 },
          { key: 'p99', label: 'p99 ms', digits: 1 },
          { key: 'errors', label: 'errors (all runs)', total: true },
          { key: 'resumed', label: 'resumed (portcullis)', total: true },
          { key: 'ratio', label: `ratio vs nginx (per core${env.wrk.clientCertShim ? ', wrk' : ''})`, digits: 2 },
          { key: 'wrkHps', label: 'wrk: handshakes/s' },
          { key: 'wrkCpu', label: 'wrk: server CPU %' },
          { key: 'wrkPerCore', label: 'wrk: handshakes per server core-second' },
          { key: 'core0Other', label: 'core 0 other %' },
        ],
        rows,
        targets: [
          // Per server core-second, as issue 8 measured Node's and nginx's handshakes: the generator
          // bounds the rate itself (see above), so with wrk's run where there is one.
          ratioTarget({
            target: `c: handshakes per server core-second${env.wrk.clientCertShim ? ' (wrk)' : ''} ≥ 0.95× bare node:https with requestCert`,
            metric: env.wrk.clientCertShim ? 'wrkPerCore' : 'perCore',
            of: rowOf(rows, portcullis),
            to: rowOf(rows, nodeHttpsPeer),
            bound: 0.95,
          }),
        ],
        notes: [
          `${PROCESSES} generator processes × ${env.config.handshakeConcurrency} connections on core ${env.loadCpus}, ECDSA P-256, TLS 1.3, no session resumption; each connection sends one request (Connection: close).`,
          'node:https answers itself (3-byte body); nginx, the minimal undici proxy and portcullis proxy the request to the upstream over their warm keep-alive pool.',
          `p50 and p99 ms: each generator process times its own connections (connect to the answer's last byte); a run's p50 is the median of the ${PROCESSES} processes' p50s and its p99 the largest of their p99s, then the median over the runs as for every column.`,
          `wrk columns: right after each generator run, wrk -c${PROCESSES * env.config.handshakeConcurrency} for ${env.config.duration} s with Connection: close and its shim dropping the session before each reconnect (a full handshake every time; "resumed" counts both runs).`,
        ],
      }
    })
  },
}

async function measureHandshakes(env: ScenarioEnv, peer: RunningPeer): Promise<Sample> {
  await waitForQuiet(env.config.quietWait)
  const args: HandshakeClientArgs = {
    port: Number(new URL(peer.origin).port),
    servername: 'localhost',
    ca: env.pki.ca,
    cert: env.pki.client.cert,
    key: env.pki.client.key,
    concurrency: env.config.handshakeConcurrency,
    warmupSeconds: env.config.warmup,
    durationSeconds: env.config.duration,
  }
  const generators = startGenerators(env, args)
  // The first line of each is "measuring": the warm-up is over.
  await Promise.all(generators.map((g) => g.lines.next()))
  const countersBefore = peer.admin ? await scrapePortcullis(peer.admin) : undefined
  const cpuBefore = readCpu(peer.pid)
  const results = await Promise.all(generators.map(async (g) => JSON.parse((await g.lines.next()).value as string) as HandshakeClientResult))
  const { proxyCpu, cores } = cpuSince(cpuBefore, peer.pid)
  await Promise.all(generators.map((g) => g.exited))
  const withWrk = await measureWithWrk(env, peer)
  const resumed = countersBefore && peer.admin ? (await scrapePortcullis(peer.admin)).ingressResumptions - countersBefore.ingressResumptions : Number.NaN
  const hps = results.reduce((sum, r) => sum + r.ok, 0) / args.durationSeconds
  return {
    hps,
    proxyCpu,
    perCore: perServerCore(hps, proxyCpu),
    // Each generator has its own percentiles: the run's p50 is their median, its p99 the largest (said in the notes).
    p50: median(results.map((r) => r.p50Ms)),
    p99: Math.max(...results.map((r) => r.p99Ms)),
    errors: results.reduce((sum, r) => sum + r.errors, 0) + withWrk.errors,
    resumed,
    ...withWrk.sample,
    core0Other: otherOnCore0(cores, proxyCpu),
  }
}

/** The same handshakes made by wrk, which keeps the server busier: its CPU per handshake, less of the generator's. */
async function measureWithWrk(env: ScenarioEnv, peer: RunningPeer): Promise<{ sample: Sample; errors: number }> {
  if (!env.wrk.clientCertShim) return { sample: { wrkHps: Number.NaN, wrkCpu: Number.NaN, wrkPerCore: Number.NaN }, errors: 0 }
  const cpuBefore = readCpu(peer.pid)
  const result = await env.wrk.run({
    url: `${peer.origin}/`,
    connections: PROCESSES * env.config.handshakeConcurrency,
    durationSeconds: env.config.duration,
    cpus: env.loadCpus,
    clientCert: env.pki.client,
    newConnectionPerRequest: true,
  })
  const { proxyCpu } = cpuSince(cpuBefore, peer.pid)
  const wrkHps = result.requestsPerSecond
  return { sample: { wrkHps, wrkCpu: proxyCpu, wrkPerCore: perServerCore(wrkHps, proxyCpu) }, errors: result.errors }
}

/** PROCESSES generator processes on the load core, each with its stdout as lines. */
function startGenerators(env: ScenarioEnv, args: HandshakeClientArgs): { lines: AsyncIterator<string>; exited: Promise<unknown> }[] {
  const script = fileURLToPath(new URL('../handshake-client.ts', import.meta.url))
  return Array.from({ length: PROCESSES }, (_, i) => {
    const generator = spawnPinned(`handshake-client-${i}`, process.execPath, ['--import', 'tsx', script, JSON.stringify(args)], {
      cpus: env.loadCpus,
      cwd: env.config.repoDir,
      pipeStdout: true,
    })
    return { lines: createInterface({ input: generator.child.stdout! })[Symbol.asyncIterator](), exited: generator.exited }
  })
}
