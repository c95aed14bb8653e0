/**
 * `portcullis` with `workers: 2`, a real process, for the tests of cluster mode. Its listeners ask for
 * port 0: the primary logs the admin port it bound, and the workers, which share the public listeners
 * through it, log the public ports. (A port picked free beforehand can be taken by another process
 * before the gateway binds it.)
 */
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ListenerName } from '../../src/config/types.js'
import { runPortcullis, type LoggingPortcullis, type LogRecord } from './cli.js'
import { httpRequest } from './client.js'
import { eventually } from './gateway.js'

type Listeners = Partial<Record<ListenerName, { port: number }>>

/**
 * `portcullis` on `configFile`, once its primary has started: its admin port, if it has one, and
 * `served()`, which waits for the first worker to serve and gives the public ports.
 */
export async function startWorkers(configFile: string, options: Parameters<typeof runPortcullis>[1] = {}) {
  const gateway = runPortcullis(configFile, options)
  return { gateway, ...(await started(gateway)) }
}

async function started(gateway: LoggingPortcullis) {
  const primary = await gateway.logged('portcullis primary started')
  const served = async () => (await gateway.logged('portcullis is serving')).listeners as Listeners
  return { admin: (primary.admin as Listeners['admin'])?.port, served }
}

/** The pids of the workers that have served and have not died since, in the order they started. */
export function liveWorkers(gateway: LoggingPortcullis): number[] {
  const pid = (record: LogRecord) => record.msg === 'worker died; starting another' && (record.pid as number)
  const died = new Set(gateway.logs.map(pid))
  return gateway.logs.filter((record) => record.msg === 'portcullis is serving' && !died.has(record.worker as number)).map((record) => record.worker as number)
}

/** Whether process `pid` still runs (a stopped one does; one that has exited and been reaped does not). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** routes.yaml for `workers: 2` in front of `upstream` as host w.test (or `hosts`), every listener on port 0. */
export function workersConfig(upstream: http.Server, { admin = true, hosts = ['w.test'] } = {}): string {
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  return `listen: { http: 127.0.0.1:0${admin ? ', admin: 127.0.0.1:0' : ''} }
workers: 2
routes:
${hosts.map((host) => `  - { host: ${host}, upstream: { url: '${url}' } }\n`).join('')}`
}

export interface WorkersInFront {
  readonly gateway: LoggingPortcullis
  readonly ports: { readonly http: number; readonly admin: number }
  readonly configFile: string
  /** What configFile held at the start. */
  readonly config: string
  /** SIGTERM, then the upstream and the folder gone; resolves with the gateway's exit code. */
  stop(): Promise<number | null>
}

/** `workers: 2` (workersConfig) in front of an upstream that answers 200, once both workers are ready. */
export async function startWorkersInFront(hosts?: string[]): Promise<WorkersInFront> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
  const upstream = http.createServer((_req, res) => res.end(`${process.pid}\n`))
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  const configFile = join(dir, 'routes.yaml')
  const config = workersConfig(upstream, { ...(hosts && { hosts }) })
  await writeFile(configFile, config)
  const gateway = runPortcullis(configFile)
  const stop = async (signal: NodeJS.Signals) => {
    // Its workers exit with it: their IPC channel closes.
    if (gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill(signal)
    const [code] = await gateway.exited
    upstream.close()
    await rm(dir, { recursive: true, force: true })
    return code
  }
  try {
    const { admin, served } = await started(gateway)
    const ports = { http: (await served()).http!.port, admin: admin! }
    await eventually(async () => (await httpRequest({ port: ports.admin, path: '/readyz' })).status === 200, 20_000, 'both workers ready')
    return { gateway, ports, configFile, config, stop: () => stop('SIGTERM') }
  } catch (error) {
    await stop('SIGKILL')
    throw error
  }
}
