/**
 * The image's HEALTHCHECK (src/healthcheck.ts), run as Docker runs it: a process of its own, with
 * PORTCULLIS_CONFIG naming routes.yaml, against a real gateway whose admin listener is not on 9901;
 * and how it reads the config file that the gateway's command line names instead (config-of-process.ts),
 * from real processes' /proc entries.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { appendFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { configOfProcess } from '../../src/cli/config-of-process.js'
import { runFromSource, sourcePath } from '../helpers/cli.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const HEALTHCHECK = runFromSource('healthcheck.ts')

interface Outcome {
  readonly code: number
  readonly stderr: string
}

async function healthcheck(configFile: string): Promise<Outcome> {
  try {
    const { stderr } = await promisify(execFile)(process.execPath, HEALTHCHECK, { env: { ...process.env, PORTCULLIS_CONFIG: configFile } })
    return { code: 0, stderr }
  } catch (error) {
    const { code, stderr } = error as { code: number; stderr: string }
    return { code, stderr }
  }
}

/** A port free a moment ago: the admin port must be written in routes.yaml, where port 0 says nothing. */
async function freePort(): Promise<number> {
  const server = net.createServer()
  const port = await listenOnLoopback(server)
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('the image HEALTHCHECK', () => {
  let gw: TestGateway
  let adminPort: number

  before(async () => {
    adminPort = await freePort()
    gw = await startGateway(
      `
listen: { http: 127.0.0.1:0, admin: '127.0.0.1:${adminPort}' }
routes:
  - { host: a.test, upstream: { url: 'http://127.0.0.1:9' } }
`,
      { watch: false },
    )
  })
  after(() => gw.close())

  it('is healthy when the admin listener that routes.yaml names answers /healthz', async () => {
    assert.deepEqual(await healthcheck(gw.configFile), { code: 0, stderr: '' })
  })

  it('still finds the admin listener while a bad edit elsewhere keeps the last good config serving', async () => {
    await appendFile(gw.configFile, '  - { host: b.test, upstream: [unclosed\n')
    assert.deepEqual(await healthcheck(gw.configFile), { code: 0, stderr: '' })
  })

  it('finds listen.admin in a document written in flow style', async () => {
    await writeFile(gw.configFile, `{ listen: { http: '127.0.0.1:0', admin: '127.0.0.1:${adminPort}' }, routes: [] }\n`)
    assert.deepEqual(await healthcheck(gw.configFile), { code: 0, stderr: '' })
  })

  it('follows an alias to the anchor of listen.admin outside the listen block, as the gateway reads it', async () => {
    await writeFile(
      gw.configFile,
      `x-admin: &admin '127.0.0.1:${adminPort}'\nlisten:\n  http: 127.0.0.1:0\n  admin: *admin\nroutes: []\n`,
    )
    assert.deepEqual(await healthcheck(gw.configFile), { code: 0, stderr: '' })
  })

  it("probes the image's default address, and says why, when routes.yaml cannot be read", async () => {
    const { code, stderr } = await healthcheck(`${gw.configFile}.missing`)
    assert.equal(code, 1)
    assert.match(stderr, /^unhealthy: http:\/\/127\.0\.0\.1:9901\/healthz .*the image's default address: .*routes\.yaml\.missing could not be read \(ENOENT\)/)
  })

  it('is unhealthy once the gateway has stopped, and names what it probed', async () => {
    await gw.gateway.stop(0)
    const { code, stderr } = await healthcheck(gw.configFile)
    assert.equal(code, 1)
    assert.match(stderr, new RegExp(`^unhealthy: http://127\\.0\\.0\\.1:${adminPort}/healthz did not answer: connect ECONNREFUSED`))
  })
})

describe("the HEALTHCHECK's reading of the gateway's command line", () => {
  const gatewayEntry = sourcePath('cli.ts')
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-cmdline-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  /** What configOfProcess reads of a live process started in `dir` with this command line (after node's own arguments). */
  async function configOf(args: readonly string[]): Promise<string | undefined> {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ...args], { cwd: dir, stdio: 'ignore' })
    await once(child, 'spawn')
    try {
      return await configOfProcess(child.pid!, gatewayEntry)
    } finally {
      child.kill()
    }
  }

  it('takes --config, --config=, -c and -cFILE as the CLI does, relative to the working folder of the gateway', async () => {
    assert.equal(await configOf([gatewayEntry, '--config', 'conf/routes.yaml']), join(dir, 'conf/routes.yaml'))
    assert.equal(await configOf([gatewayEntry, '--workers', '2', '--config=/etc/gw/routes.yaml']), '/etc/gw/routes.yaml')
    assert.equal(await configOf([gatewayEntry, '-c', 'a.yaml']), join(dir, 'a.yaml'))
    assert.equal(await configOf([gatewayEntry, '-cb.yaml']), join(dir, 'b.yaml'))
  })

  it('finds the gateway started through a symlink to it, as the npm bin is', async () => {
    await mkdir(join(dir, 'bin'), { recursive: true })
    await symlink(gatewayEntry, join(dir, 'bin', 'portcullis'))
    assert.equal(await configOf(['bin/portcullis', '--config', 'routes.yaml']), join(dir, 'routes.yaml'))
  })

  it('takes nothing from another program, a command other than the gateway, or a gateway without --config', async () => {
    await writeFile(join(dir, 'cli.ts'), '')
    assert.equal(await configOf([join(dir, 'cli.ts'), '--config', 'routes.yaml']), undefined)
    assert.equal(await configOf([gatewayEntry, 'check', '--config', 'routes.yaml']), undefined)
    assert.equal(await configOf([gatewayEntry, '--workers', '2']), undefined)
    assert.equal(await configOf(['--config', 'routes.yaml']), undefined)
  })
})
