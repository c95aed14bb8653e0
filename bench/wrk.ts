/**
 * Runs wrk pinned to the load core and parses its report (`--latency` gives p50/p99). For the ingress
 * mTLS scenarios wrk gets a client certificate through a tiny LD_PRELOAD shim (wrk-client-cert.c),
 * so every peer of every scenario is loaded by the same generator.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run } from './proc.js'
import type { PemPair } from './pki.js'

export interface WrkOptions {
  readonly url: string
  readonly connections: number
  readonly durationSeconds: number
  readonly cpus: string
  /** Present this client certificate (needs the shim). */
  readonly clientCert?: PemPair
  /** `Connection: close` on every request and a full handshake on every reconnect (needs the shim). */
  readonly newConnectionPerRequest?: boolean
  /** Seconds before wrk counts a request as timed out (default 2; large bodies need more). */
  readonly timeoutSeconds?: number
}

export interface WrkResult {
  readonly requests: number
  readonly requestsPerSecond: number
  readonly bytesPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /** Socket errors (connect, read, write, timeout) plus non2xx. */
  readonly errors: number
  readonly socketErrors: { connect: number; read: number; write: number; timeout: number }
  /** Responses with status >= 400: what wrk prints as "Non-2xx or 3xx responses" (a 3xx is not counted). */
  readonly non2xx: number
}

export class Wrk {
  private constructor(
    private readonly wrk: string,
    /** The compiled shim, or undefined when there is no C compiler. */
    readonly clientCertShim: string | undefined,
  ) {}

  static async create(wrk: string, cc: string | undefined, workDir: string): Promise<Wrk> {
    if (!cc) return new Wrk(wrk, undefined)
    const source = fileURLToPath(new URL('./wrk-client-cert.c', import.meta.url))
    const shim = join(workDir, 'wrk-client-cert.so')
    await run(cc, ['-shared', '-fPIC', '-O2', '-o', shim, source, '-ldl'])
    return new Wrk(wrk, shim)
  }

  async run(options: WrkOptions): Promise<WrkResult> {
    const args = [
      '-t1',
      `-c${options.connections}`,
      `-d${Math.round(options.durationSeconds)}s`,
      `--timeout`,
      `${options.timeoutSeconds ?? 2}s`,
      '--latency',
      ...(options.newConnectionPerRequest ? ['-H', 'Connection: close'] : []),
      options.url,
    ]
    const env: NodeJS.ProcessEnv = {}
    if (options.clientCert || options.newConnectionPerRequest) {
      if (!this.clientCertShim) throw new Error('wrk needs its shim for client certificates and full handshakes: no C compiler')
      env.LD_PRELOAD = this.clientCertShim
    }
    if (options.clientCert) {
      env.BENCH_CLIENT_CERT = options.clientCert.cert
      env.BENCH_CLIENT_KEY = options.clientCert.key
    }
    if (options.newConnectionPerRequest) env.BENCH_FULL_HANDSHAKES = '1'
    const output = await run(this.wrk, args, { cpus: options.cpus, env, timeoutMs: (options.durationSeconds + 60) * 1000 })
    return parseWrk(output)
  }

  /** The shim must really present the certificate: at `mtlsUrl`, without it a 400, with it a 200. */
  async checkClientCertShim(mtlsUrl: string, client: PemPair, cpus: string): Promise<void> {
    const base = { url: mtlsUrl, connections: 1, durationSeconds: 1, cpus }
    const without = await this.run(base)
    const withCert = await this.run({ ...base, clientCert: client })
    if (without.non2xx === 0 || withCert.non2xx !== 0 || withCert.requests === 0) {
      throw new Error(`wrk client-certificate shim check failed (without: ${without.non2xx} non-2xx, with: ${withCert.non2xx} non-2xx)`)
    }
  }
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }

function parseWrk(output: string): WrkResult {
  const number = (pattern: RegExp, fallback?: number): number => {
    const match = pattern.exec(output)
    if (!match) {
      if (fallback !== undefined) return fallback
      throw new Error(`unexpected wrk output (no ${pattern}):\n${output}`)
    }
    return Number(match[1])
  }
  const latency = (percent: number): number => {
    const match = new RegExp(`^\\s*${percent}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(output)
    return match ? Number(match[1]) * TIME_UNITS[match[2]!]! : Number.NaN
  }
  const stats = /^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m|h)/m.exec(output)
  const transfer = /^Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB|TB)/m.exec(output)
  const sockets = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output)
  const socketErrors = {
    connect: Number(sockets?.[1] ?? 0),
    read: Number(sockets?.[2] ?? 0),
    write: Number(sockets?.[3] ?? 0),
    timeout: Number(sockets?.[4] ?? 0),
  }
  const non2xx = number(/Non-2xx or 3xx responses: (\d+)/, 0)
  return {
    requests: number(/(\d+) requests in/),
    requestsPerSecond: number(/^Requests\/sec:\s+([\d.]+)/m),
    bytesPerSecond: transfer ? Number(transfer[1]) * SIZE_UNITS[transfer[2]!]! : 0,
    p50Ms: latency(50),
    p99Ms: latency(99),
    maxMs: stats ? Number(stats[1]) * TIME_UNITS[stats[2]!]! : Number.NaN,
    errors: socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout + non2xx,
    socketErrors,
    non2xx,
  }
}
