/**
 * `npm run bench`: sets up everything (tools, PKI, the upstream nginx, a fresh build of portcullis),
 * runs the scenarios (bench/README.md) against every peer in the same run, prints markdown tables
 * and writes bench/results/<timestamp>.json and .md. Settings: bench/config.ts and bench/README.md.
 *
 * Cores: proxies on core 0 (taskset -c 0); wrk, the upstream nginx, the load generators and this
 * runner on core 1.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { loadBenchConfig, type BenchConfig, type ScenarioId } from './config.js'
import { ensureTools, toolVersions, type Tools } from './deps.js'
import { startNginx, upstreamConfig, writeLargeFiles, type NginxInstance, type UpstreamPorts } from './nginx.js'
import type { PeerContext } from './peers/types.js'
import { writeBenchPki, type BenchPki } from './pki.js'
import { buildPortcullis, type PortcullisBuild } from './portcullis-build.js'
import { killAllStarted, pinSelf, run, setNiceness } from './proc.js'
import { profileMarkdown, summariseProfile, type ProfileSummary } from './profile.js'
import { markdownTable, runMarkdown, runTargets, writeRecord, type RunRecord } from './report.js'
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

  // Read before the build: a commit made while the run goes on is not what it measured.
  const source = await gitState(config.repoDir)
  const setup = await setUp(config)
  let ran: ScenarioRuns
  try {
    if (setup.wrk.clientCertShim) await setup.wrk.checkClientCertShim(`https://localhost:${UPSTREAM.mtls}/`, setup.pki.client, LOAD_CPUS)
    ran = await runScenarios(config, scenarioEnv(config, setup, join(config.resultsDir, `profile-${stamp}`)))
  } finally {
    await setup.upstream.stop()
  }
  process.stdout.write(`\n${runTargets(ran.scenarios)}`)

  const record: RunRecord = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    settings: { ...config, peers: config.peers ?? 'all' },
    versions: await toolVersions(setup.tools),
    source: { ...source, buildWarnings: setup.build.warnings },
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', proxyCpus: PROXY_CPUS, loadCpus: LOAD_CPUS },
    ...ran,
  }
  const jsonFile = join(config.resultsDir, `${stamp}.json`)
  await writeRecord(jsonFile, record)
  await writeFile(join(config.resultsDir, `${stamp}.md`), runMarkdown(record, config))
  log(`\nwrote ${jsonFile} and ${stamp}.md`)
  // The report is written whatever failed, and the exit code says it did.
  const failed = ran.scenarios.filter((scenario) => scenario.rows.some((row) => row.skipped?.startsWith(FAILED)))
  if (failed.length > 0) log(`bench: scenario ${failed.map((scenario) => scenario.id).join(', ')} failed (see above)`)
  return failed.length > 0 ? 1 : 0
}

interface RunSetup {
  readonly tools: Tools
  readonly build: PortcullisBuild
  readonly pki: BenchPki
  readonly wrk: Wrk
  /** The upstream nginx's folder: its config, logs and the large files. */
  readonly upstreamDir: string
  readonly upstream: NginxInstance
}

/** The tools, this runner on the load core, a clean work folder, a build of src/, the PKI, wrk and the upstream. */
async function setUp(config: BenchConfig): Promise<RunSetup> {
  const tools = await ensureTools({ install: config.install, node: config.node, resultsDir: config.resultsDir, log })
  await pinSelf(LOAD_CPUS)
  await rm(config.workDir, { recursive: true, force: true })
  await mkdir(config.workDir, { recursive: true })

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
  return { tools, build, pki, wrk, upstreamDir, upstream }
}

/** What every scenario gets: how to start peers, how to load and measure them, and which peers to run. */
function scenarioEnv(config: BenchConfig, setup: RunSetup, profileDir: string): ScenarioEnv {
  let port = FIRST_PEER_PORT
  const peerContext: PeerContext = {
    tools: setup.tools,
    pki: setup.pki,
    workDir: config.workDir,
    repoDir: config.repoDir,
    upstream: UPSTREAM,
    upstreamPid: setup.upstream.proc.pid,
    portcullisCli: setup.build.cli,
    portcullisLogLevel: config.portcullisLogLevel,
    proxyCpus: PROXY_CPUS,
    nextPort: () => port++,
  }
  return {
    config,
    wrk: setup.wrk,
    connectionLog: new ConnectionLog(join(setup.upstreamDir, 'connections.log'), UPSTREAM.mtls),
    loadCpus: LOAD_CPUS,
    log,
    peerContext,
    pki: setup.pki,
    profileDir,
    wants: (kind) => kind === 'nginx' || !config.peers || config.peers.some((p) => kind.startsWith(p)),
  }
}

interface ScenarioRuns {
  readonly scenarios: ScenarioResult[]
  /** BENCH_PROFILE=1: portcullis' CPU profile summary, by scenario id. */
  readonly profiles: Record<string, ProfileSummary>
}

/** Each scenario in turn, its table (and profile) printed as soon as it is done. */
async function runScenarios(config: BenchConfig, env: ScenarioEnv): Promise<ScenarioRuns> {
  const scenarios: ScenarioResult[] = []
  const profiles: Record<string, ProfileSummary> = {}
  for (const id of config.scenarios) {
    // Each scenario's profiles in a folder of their own, so that the summary reads only its own.
    const profileDir = join(env.profileDir, id)
    const result = await runScenario(id, { ...env, profileDir })
    scenarios.push(result)
    process.stdout.write(`\n${markdownTable(result)}`)
    const profile = config.profile ? await summariseProfile(profileDir, config.repoDir) : undefined
    if (profile) {
      profiles[id] = profile
      process.stdout.write(`\n${profileMarkdown(id, profile)}`)
    }
  }
  return { scenarios, profiles }
}

const FAILED = 'failed: '

/** One scenario; if it throws, a table whose one row says so, and the run goes on with the next. */
async function runScenario(id: ScenarioId, env: ScenarioEnv): Promise<ScenarioResult> {
  const scenario = SCENARIOS[id]
  log(`\n${scenario.title}`)
  try {
    return await scenario.run(env)
  } catch (error) {
    log(`scenario ${id} failed: ${(error as Error).stack ?? String(error)}`)
    return { id, title: scenario.title, columns: [], rows: [skippedRow('all peers', `${FAILED}${(error as Error).message}`)], notes: [] }
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
