/**
 * An https upstream whose route names no `upstream.ca` is verified against the system's trusted CAs
 * (SPEC: "default: system roots") as well as Node's Mozilla roots, where Node can read the system
 * store (24.5 and later); on Node 20 against the Mozilla roots only. `SSL_CERT_FILE` stands in for the
 * system store here, as OpenSSL (and so Node) reads it, with an empty `SSL_CERT_DIR` beside it.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as tls from 'node:tls'
import { runPortcullis } from '../helpers/cli.js'
import { httpRequest } from '../helpers/client.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js'

const readsSystemStore = 'setDefaultCACertificates' in tls

describe('upstream verification without upstream.ca', () => {
  let pki: TestPki
  let dir: string
  let upstream: EchoUpstream
  let configFile: string

  before(async () => {
    pki = await makeTestPki()
    dir = await mkdtemp(join(tmpdir(), 'portcullis-system-roots-'))
    // Signed by the test PKI's server CA, which no built-in root store holds.
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    configFile = join(dir, 'routes.yaml')
    await writeFile(
      configFile,
      `listen: { http: 127.0.0.1:0 }
routes:
  - host: app.test
    upstream: { url: 'https://127.0.0.1:${upstream.port}', serverName: up.test }
`,
    )
  })
  after(async () => {
    await upstream.close()
    await rm(dir, { recursive: true, force: true })
    await pki.cleanup()
  })

  /** The status of one request through a gateway whose system store holds `systemCA` (a PEM file). */
  async function statusWithSystemStore(systemCA: string): Promise<number> {
    const env = { ...process.env, SSL_CERT_FILE: systemCA, SSL_CERT_DIR: dir, PORTCULLIS_LOG_LEVEL: 'info' }
    const gateway = runPortcullis(configFile, { env })
    try {
      const serving = await gateway.logged('portcullis is serving')
      const port = (serving.listeners as { http: { port: number } }).http.port
      return (await httpRequest({ port, host: 'app.test' })).status
    } finally {
      gateway.child.kill('SIGTERM')
      await gateway.exited
    }
  }

  it(
    readsSystemStore ? 'trusts an upstream that a CA of the system store signed' : 'trusts the Mozilla roots only on a Node that cannot read the system store',
    async () => {
      assert.equal(await statusWithSystemStore(pki.caS.certFile), readsSystemStore ? 200 : 502)
    },
  )

  it('refuses an upstream that neither the system store nor the built-in roots vouch for', async () => {
    assert.equal(await statusWithSystemStore(pki.caOther.certFile), 502)
  })
})
