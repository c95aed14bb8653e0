/**
 * The container image's HEALTHCHECK (Dockerfile): exits 0 when the gateway's admin listener answers
 * GET /healthz, 1 otherwise, as Docker reads them. The listener is the one routes.yaml names in
 * listen.admin (the file the gateway reads: its --config, or $PORTCULLIS_CONFIG), so a config that
 * moves it needs no --health-cmd, as `traefik healthcheck` reads its own static config.
 *
 * The file is read as YAML only, and what of it parses is enough: a bad edit leaves the last good config
 * serving, and a reload never moves a listener, so the edit must not make a serving gateway unhealthy
 * (Swarm would restart it into that edit). Where the file gives no address, the image's default
 * config's is probed.
 */
import { readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isAlias, isScalar, parseDocument } from 'yaml'
import { configOfProcess } from './cli/config-of-process.js'
import { isWildcardHost, parseListenAddress } from './config/listen-address.js'
import type { ListenAddress } from './config/types.js'
import { hostInUrl } from './routing/host.js'

/** listen.admin of the image's default config (deploy/container/routes.yaml), as reached from inside. */
const IMAGE_ADMIN: ListenAddress = { host: '127.0.0.1', port: 9901 }

/** The gateway beside this probe: dist/cli.js (src/cli.ts from source), as the container runs it. */
const GATEWAY_ENTRY = fileURLToPath(new URL(`./cli${extname(import.meta.url)}`, import.meta.url))

/** Under the HEALTHCHECK's --timeout=3s: a gateway that does not answer is reported in words, not killed. */
const PROBE_TIMEOUT_MS = 2500

interface AdminAddress {
  readonly address: ListenAddress
  /** Why the image's default is probed, when it is. */
  readonly fallback?: string
}

async function adminAddress(configFile: string): Promise<AdminAddress> {
  let text: string
  try {
    text = await readFile(configFile, 'utf8')
  } catch (error) {
    return { address: IMAGE_ADMIN, fallback: `${configFile} could not be read (${(error as NodeJS.ErrnoException).code})` }
  }
  const block = listenBlock(text)
  const admin = (block === undefined ? undefined : listenAdmin(block)) ?? listenAdmin(text)
  const address = typeof admin === 'string' ? parseListenAddress(admin) : undefined
  return address ? { address } : { address: IMAGE_ADMIN, fallback: `${configFile} gives no listen.admin address` }
}

/**
 * listen.admin's value, where it is an alias (`admin: *adminAddress`) its anchor's, as the gateway reads
 * it. Undefined where the anchor is not in `yaml` (outside the `listen:` block cut out of the file).
 */
function listenAdmin(yaml: string): unknown {
  const document = parseDocument(yaml)
  const node = document.getIn(['listen', 'admin'], true)
  const value = isAlias(node) ? node.resolve(document) : node
  return isScalar(value) ? value.value : undefined
}

/**
 * The top-level `listen:` block, cut out by its lines: parsing a table of a thousand routes whole takes
 * a quarter of a second, every 10 s. The whole file is parsed where the block gives no listen.admin (a
 * document written in flow style).
 */
function listenBlock(text: string): string | undefined {
  const lines = text.split('\n')
  const start = lines.findIndex((line) => /^listen\s*:/.test(line))
  if (start === -1) return undefined
  const end = lines.findIndex((line, index) => index > start && /^[^\s#]/.test(line))
  return lines.slice(start, end === -1 ? undefined : end).join('\n')
}

/** A wildcard address is reached on loopback, on 127.0.0.1 for both. */
function healthzUrl({ host, port }: ListenAddress): string {
  const reachable = isWildcardHost(host) ? '127.0.0.1' : host
  return `http://${hostInUrl(reachable)}:${port}/healthz`
}

async function main(): Promise<number> {
  // The file the gateway reads: the one its command line names (the container's first process), else
  // PORTCULLIS_CONFIG, else ./routes.yaml, as cli.ts chooses it.
  const configFile = (await configOfProcess(1, GATEWAY_ENTRY)) ?? (process.env.PORTCULLIS_CONFIG || 'routes.yaml')
  const { address, fallback } = await adminAddress(configFile)
  const url = healthzUrl(address)
  const unhealthy = (why: string) => {
    process.stderr.write(`unhealthy: ${url} ${why}${fallback ? ` (the image's default address: ${fallback})` : ''}\n`)
    return 1
  }
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
    await res.arrayBuffer()
    return res.ok ? 0 : unhealthy(`answered ${res.status}`)
  } catch (error) {
    const { message, cause } = error as Error & { cause?: Error }
    return unhealthy(`did not answer: ${cause?.message ?? message}`)
  }
}

process.exitCode = await main()
