/**
 * `npm run bench:reload-soak`: reloads a running gateway 1,000 times, each reload changing the upstream
 * client certificate (so every reload builds new TLS policies and a new upstream pool and retires the
 * old ones), with a request through the new pool after each. Nothing a reload creates may outlive it:
 * prints JS heap after a full GC, active handles and RSS, at the start and every 250 reloads.
 *
 * Runs the gateway in this process (node --expose-gc) so that the heap can be measured after a real GC.
 * RELOADS=200 npm run bench:reload-soak for a shorter run.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startEchoUpstream } from '../demo/echo-upstream.js'
import { httpRequest } from '../test/helpers/client.js'
import { startGatewayFromFile } from '../test/helpers/gateway.js'
import { makeTestPki } from '../test/helpers/pki.js'

const RELOADS = Number(process.env.RELOADS ?? 1000)
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc (npm run bench:reload-soak does)')

interface Sample {
  readonly reloads: number
  readonly heapMiB: number
  readonly rssMiB: number
  readonly handles: number
}

async function sample(reloads: number): Promise<Sample> {
  await new Promise((resolve) => setTimeout(resolve, 500))
  gc!()
  gc!()
  const memory = process.memoryUsage()
  const mib = (bytes: number) => Math.round(bytes / 104857.6) / 10
  return { reloads, heapMiB: mib(memory.heapUsed), rssMiB: mib(memory.rss), handles: process.getActiveResourcesInfo().length }
}

const pki = await makeTestPki()
const dir = await mkdtemp(join(tmpdir(), 'portcullis-soak-'))
const upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key, clientCA: pki.caA.cert })
const useClient = async (i: number) => {
  const client = i % 2 === 0 ? pki.cliA : pki.cliA2
  await copyFile(client.certFile, join(dir, 'client.crt'))
  await copyFile(client.keyFile, join(dir, 'client.key'))
}
await useClient(0)
const configFile = join(dir, 'routes.yaml')
const to = `upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, cert: client.crt, key: client.key, serverName: up.test }`
await writeFile(
  configFile,
  `listen: { http: 127.0.0.1:0, https: 127.0.0.1:0 }
routes:
  - { name: tls, host: localhost, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile} }, ${to} }
  - { name: plain, host: soak.test, ${to} }
`,
)
// Reloads back to back, not at most one a second as a gateway asked from outside runs them.
const gw = await startGatewayFromFile(configFile, { reloadIntervalMs: 0 })

const step = async (i: number) => {
  await useClient(i)
  const result = await gw.gateway.reload()
  if (!result.ok) throw new Error(result.errors.join('\n'))
  const reply = await httpRequest({ port: gw.ports.http!, host: 'soak.test' })
  if (reply.status !== 200) throw new Error(`request answered ${reply.status}`)
  gw.logs.length = 0
}

// Warm up: code compiled, heap and allocator at their working size.
for (let i = 0; i < 100; i++) await step(i)
const samples = [await sample(0)]
const started = performance.now()
for (let i = 0; i < RELOADS; i++) {
  await step(i)
  if ((i + 1) % 250 === 0 || i + 1 === RELOADS) samples.push(await sample(i + 1))
}
const seconds = (performance.now() - started) / 1000

const first = samples[0]!
const change = (a: number, b: number) => `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)} %`
console.log('| reloads | JS heap after GC (MiB) | active handles | RSS (MiB) |')
console.log('|---|---|---|---|')
for (const s of samples) {
  console.log(`| ${s.reloads} | ${s.heapMiB} (${change(first.heapMiB, s.heapMiB)}) | ${s.handles} | ${s.rssMiB} (${change(first.rssMiB, s.rssMiB)}) |`)
}
console.log(`\n${RELOADS} reloads, each with a request through the new pool, in ${seconds.toFixed(1)} s`)

await gw.close()
await upstream.close()
await pki.cleanup()
await rm(dir, { recursive: true, force: true })
