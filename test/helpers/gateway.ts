/**
 * Starts a real Gateway on ephemeral loopback ports, from routes.yaml text (written to a temp folder)
 * or from a config file the test laid out itself.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Gateway, type GatewayOptions } from '../../src/gateway.js'
import { ConfigLoader } from '../../src/config/load.js'

type LogRecord = Record<string, unknown>

export interface TestGateway {
  readonly gateway: Gateway
  readonly configFile: string
  readonly ports: { https?: number; http?: number; admin?: number }
  /** Every log record the gateway wrote, parsed; set PORTCULLIS_TEST_LOG=1 to see them too. */
  readonly logs: LogRecord[]
  close(): Promise<void>
}

/** Gateway options a test may set beside the config; `loader` reads configFile (default: a ConfigLoader of it). */
type TestOptions = Pick<GatewayOptions, 'ticketKeyLifetimeMs' | 'reloadIntervalMs' | 'refusalLogLines' | 'ticketSecret' | 'watch'> & { readonly loader?: ConfigLoader }

/** `yaml` is a whole routes.yaml; its listeners should use port 0. */
export async function startGateway(yaml: string, options: TestOptions = {}): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-gw-'))
  const configFile = join(dir, 'routes.yaml')
  await writeFile(configFile, yaml)
  const gw = await startGatewayFromFile(configFile, options)
  return {
    ...gw,
    async close() {
      await gw.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export async function startGatewayFromFile(configFile: string, options: TestOptions = {}): Promise<TestGateway> {
  const logs: LogRecord[] = []
  const sink = new Writable({
    write(line: Buffer, _encoding, done) {
      logs.push(JSON.parse(line.toString()) as LogRecord)
      if (process.env.PORTCULLIS_TEST_LOG) process.stderr.write(line)
      done()
    },
  })
  const gateway = new Gateway({ ...options, loader: options.loader ?? new ConfigLoader(configFile), logger: pino({ level: 'debug' }, sink) })
  await gateway.start()
  const addresses = gateway.addresses()
  return {
    gateway,
    configFile,
    logs,
    ports: {
      ...(addresses.https && { https: addresses.https.port }),
      ...(addresses.http && { http: addresses.http.port }),
      ...(addresses.admin && { admin: addresses.admin.port }),
    },
    close: () => gateway.stop(0),
  }
}

/** Polls `probe` until it returns true, or fails after `timeoutMs`. */
export async function eventually(probe: () => Promise<boolean>, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`${what} not met within ${timeoutMs} ms`)
}

/**
 * The latest record with message `msg` (and passing `match`) among those written after the first
 * `since`, waited for: take `since = gw.logs.length` before the action, so that a like record an
 * earlier test wrote never stands in for the one expected.
 */
export async function loggedAfter(gw: TestGateway, since: number, msg: string, match: (line: LogRecord) => boolean = () => true): Promise<LogRecord> {
  const find = () => gw.logs.slice(since).filter((line) => line.msg === msg && match(line)).at(-1)
  await eventually(async () => find() !== undefined, 3000, `a "${msg}" record`)
  return find()!
}

/** The value of one series in a scrape's text, named as it writes it (`portcullis_x_total{route="a"}`). */
export function seriesIn(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

/** Every sample line of a scrape's text that carries `route="<route>"`. */
export function routeSeries(text: string, route: string): string[] {
  return text.split('\n').filter((line) => !line.startsWith('#') && line.includes(`route="${route}"`))
}

/** routeSeries but the pool gauge, which follows the upstream sockets open: what a route counted. */
export function routeCounts(text: string, route: string): string[] {
  return routeSeries(text, route).filter((line) => !line.startsWith('portcullis_upstream_connections{'))
}

/** The metric names of sample lines (a histogram's by its _bucket, _sum and _count). */
export function metricNames(lines: readonly string[]): Set<string> {
  return new Set(lines.map((line) => line.slice(0, line.indexOf('{'))))
}

/** The value of one series of the gateway's metrics, as seriesIn names it; 0 if absent. */
export async function seriesValue(gw: TestGateway, series: string): Promise<number> {
  return seriesIn(await gw.gateway.metrics.registry.metrics(), series) ?? 0
}

/** The sum of every series whose text-format line starts with `prefix` (`portcullis_x_total{route="a"`). */
export async function seriesSum(gw: TestGateway, prefix: string): Promise<number> {
  const metrics = await gw.gateway.metrics.registry.metrics()
  return metrics
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
}

/** One portcullis_requests_total series, `labels` as the text format writes them (`route="a",method="GET"`). */
export function requestsCounted(gw: TestGateway, labels: string, code: number): Promise<number> {
  return seriesValue(gw, `portcullis_requests_total{${labels},code="${code}"}`)
}
