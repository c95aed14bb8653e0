/**
 * The image's HEALTHCHECK (src/healthcheck.ts), run as Docker runs it: a process of its own, with
 * PORTCULLIS_CONFIG naming routes.yaml, against a real gateway whose admin listener is not on 9901.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { appendFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const HEALTHCHECK = ['--import', import.meta.resolve('tsx'), new URL('../../src/healthcheck.ts', import.meta.url).pathname]

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
