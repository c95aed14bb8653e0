/**
 * `npm run bench`: sets up everything (tools, PKI, the upstream nginx, a fresh build of portcullis),
 * runs the scenarios of issue 8 against every peer in the same run, prints markdown tables and writes
 * bench/results/<timestamp>.json and .md. Settings: bench/config.ts and bench/README.md.
 *
 * Cores: proxies on core 0 (taskset -c 0); wrk, the upstream nginx, the load generators and this
 * runner on core 1.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { loadBenchConfig, type ScenarioId } from './config.js'
import { ensureTools, toolVersions } from './deps.js'
import { startNginx, upstreamConfig, writeLargeFiles, type UpstreamPorts } from './nginx.js'
import type { PeerContext } from './peers/types.js'
import { writeBenchPki } from './pki.js'
import { buildPortcullis } from './portcullis-build.js'
import { killAllStarted, pinSelf, run, setNiceness } from './proc.js'
import { profileMarkdown, summariseProfile, type ProfileSummary } from './profile.js'
import { markdownTable, writeRecord } from './report.js'
import { keepAliveScenario } from './scenarios/a-keepalive.js'
import { ingressMtlsScenario } from './scenarios/b-ingress-mtls.js'
import { handshakeScenario } from './scenarios/c-handshakes.js'
import { largeScenario } from './scenarios/d-large.js'
import { routeTableScenario } from './scenarios/e-routes.js'
import { reloadScenario } from './scenarios/f-reload.js'
import { workersScenario } from './scenarios/g-workers.js'
import { skippedRow } from './scenarios/common.js'
import type { Scenario, ScenarioEnv, ScenarioResult } from './scenarios/types.js'
import { ConnectionLog } from './upstream-log.js'
import { Wrk } from './wrk.js'

const SCENARIOS: Record<ScenarioId, Scenario> = {
  a: keepAliveScenario,
  b: ingressMtlsScenario,
  c: handshakeScenario,
  d: largeScenario,
  e: routeTableScenario,
  f: reloadScenario,
  g: workersScenario,
}

const PROXY_CPUS = '0'
const LOAD_CPUS = '1'
const UPSTREAM: UpstreamPorts = { mtls: 19443, tls: 19444 }
const FIRST_PEER_PORT = 18443

const log = (line: string) => process.stderr.write(`${line}\n`)

async function main(): Promise<number> {
  const config = loadBenchConfig()
  if (cpus().length < 2) throw new Error('the benchmark needs 2 cores: proxies on core 0, load on core 1')
  const startedAt = new Date()
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
  log(`portcullis bench: scenarios ${config.scenarios.join(',')}, ${config.repeats} × ${config.duration}s (+${config.warmup}s warm-up)`)
  setNiceness(config.nice)

  const tools = await ensureTools({ install: config.install, node: config.node, resultsDir: config.resultsDir, log })
  await pinSelf(LOAD_CPUS)
  await rm(config.workDir, { recursive: true, force: true })
  await mkdir(config.workDir, { recursive: true })
  const profileRoot = join(config.resultsDir, `profile-${stamp}`)

  log('building portcullis from src/ …')
  const build = await buildPortcullis(config.repoDir, join(config.resultsDir, 'build'))
  if (build.warnings) log(`warning: tsc reported problems in src/ (built anyway):\n${build.warnings}`)
  const pki = await writeBenchPki(join(config.workDir, 'pki'))
  const wrk = await Wrk.create(tools.wrk, tools.cc, config.workDir)

  const upstreamDir = join(config.workDir, 'upstream')
  await writeLargeFiles(upstreamDir)
  const upstream = await startNginx({
    name: 'upstream nginx',
    nginx: tools.nginx,
    dir: upstreamDir,
    config: upstreamConfig(upstreamDir, pki, UPSTREAM),
    cpus: LOAD_CPUS,
    port: UPSTREAM.mtls,
  })
  const results: ScenarioResult[] = []
  const profiles: Record<string, ProfileSummary> = {}
  try {
    if (wrk.clientCertShim) await checkClientCertShim(wrk, pki.client)
    let port = FIRST_PEER_PORT
    const peerContext: PeerContext = {
      tools,
      pki,
      workDir: config.workDir,
      repoDir: config.repoDir,
      upstream: UPSTREAM,
      upstreamPid: upstream.proc.pid,
      portcullisCli: build.cli,
      portcullisLogLevel: config.portcullisLogLevel,
      proxyCpus: PROXY_CPUS,
      nextPort: () => port++,
    }
    const env: ScenarioEnv = {
      config,
      wrk,
      connectionLog: new ConnectionLog(join(upstreamDir, 'connections.log'), UPSTREAM.mtls),
      loadCpus: LOAD_CPUS,
      log,
      peerContext,
      pki,
      profileDir: profileRoot,
      wants: (kind) => kind === 'nginx' || !config.peers || config.peers.some((p) => kind.startsWith(p)),
    }
    for (const id of config.scenarios) {
      const scenario = SCENARIOS[id]
      log(`\n${scenario.title}`)
      let result: ScenarioResult
      const profileDir = join(profileRoot, id)
      try {
        result = await scenario.run({ ...env, profileDir })
      } catch (error) {
        log(`scenario ${id} failed: ${(error as Error).stack ?? String(error)}`)
        result = { id, title: scenario.title, columns: [], rows: [skippedRow('all peers', `failed: ${(error as Error).message}`)], notes: [] }
      }
      results.push(result)
      process.stdout.write(`\n${markdownTable(result)}`)
      const profile = config.profile ? await summariseProfile(profileDir, config.repoDir) : undefined
      if (profile) {
        profiles[id] = profile
        process.stdout.write(`\n${profileMarkdown(id, profile)}`)
      }
    }
  } finally {
    await upstream.stop()
  }

  const record = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    settings: { ...config, peers: config.peers ?? 'all' },
    versions: await toolVersions(tools),
    source: { ...(await gitState(config.repoDir)), buildWarnings: build.warnings },
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', proxyCpus: PROXY_CPUS, loadCpus: LOAD_CPUS },
    scenarios: results,
    profiles,
  }
  const jsonFile = join(config.resultsDir, `${stamp}.json`)
  await writeRecord(jsonFile, record)
  const markdown = [
    `## portcullis bench ${record.startedAt} (${record.source.commit}${record.source.dirtyFiles ? `, ${record.source.dirtyFiles} uncommitted files` : ''})`,
    '',
    `node ${record.versions.node}, OpenSSL ${record.versions.openssl}, ${record.versions.nginx}, ${record.versions.wrk}; ${config.repeats} × ${config.duration}s per peer. Each column is its own median over the runs; "(all runs)" columns are sums; a ratio vs nginx is the median of the ratios taken within each repeat.`,
    '',
    ...results.map(markdownTable),
    ...Object.entries(profiles).map(([id, profile]) => profileMarkdown(id, profile)),
  ].join('\n')
  await writeFile(join(config.resultsDir, `${stamp}.md`), markdown)
  log(`\nwrote ${jsonFile} and ${stamp}.md`)
  return 0
}

/** The shim must really present the certificate: without it the upstream answers 400, with it 200. */
async function checkClientCertShim(wrk: Wrk, client: { cert: string; key: string }): Promise<void> {
  const url = `https://localhost:${UPSTREAM.mtls}/`
  const base = { url, connections: 1, durationSeconds: 1, cpus: LOAD_CPUS }
  const without = await wrk.run(base)
  const withCert = await wrk.run({ ...base, clientCert: client })
  if (without.non2xx === 0 || withCert.non2xx !== 0 || withCert.requests === 0) {
    throw new Error(`wrk client-certificate shim check failed (without: ${without.non2xx} non-2xx, with: ${withCert.non2xx} non-2xx)`)
  }
}

async function gitState(repoDir: string): Promise<{ commit: string; dirtyFiles: number }> {
  try {
    const commit = (await run('git', ['-C', repoDir, 'rev-parse', '--short', 'HEAD'])).trim()
    const status = await run('git', ['-C', repoDir, 'status', '--porcelain', '--', 'src'])
    return { commit, dirtyFiles: status.split('\n').filter(Boolean).length }
  } catch {
    return { commit: 'unknown', dirtyFiles: 0 }
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllStarted()
    process.exit(130)
  })
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    killAllStarted()
    log(`bench: ${(error as Error).message}`)
    process.exitCode = 1
  },
)
