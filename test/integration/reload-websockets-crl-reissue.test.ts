/**
 * A WebSocket re-check (tls/recheck.ts) must read a re-issued CRL as OpenSSL reads it in the handshake,
 * or a CRL's routine re-issue closes WebSockets that a new handshake lets through:
 * - of an issuer's CRLs, OpenSSL (get_crl_sk) takes one whose times are valid before a newer one not
 *   yet valid (a next CRL published beside the current one, or a CA clock a little ahead);
 * - OpenSSL reads a CRL of a few thousand entries, which any CA that has run for a while publishes,
 *   where @peculiar/x509 refuses BER of more than 10,000 nodes by default (about 2,450 entries).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { eventually, seriesSum, startGatewayFromFile, type TestGateway } from '../helpers/gateway.js'
import { createTestCA, createCrl, issueTestCert, makeTestPki, type Issued, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback } from '../helpers/upstream.js'
import { echoWebSockets } from '../helpers/websocket.js'

const HOUR = 3_600_000

/** `count` serial numbers of certificates none of the test's. */
const otherSerials = (count: number) => Array.from({ length: count }, (_, i) => ({ serialNumber: (0x7000000 + i).toString(16) }))

describe('a WebSocket across a re-issue of its CRL that does not list its client', () => {
  let pki: TestPki
  let int: Issued
  let leaf: Issued
  let dir: string
  let upstream: http.Server
  let gw: TestGateway
  let intCrl: string

  before(async () => {
    pki = await makeTestPki()
    const root = await createTestCA({ commonName: 'Reissue Root CA' })
    int = await createTestCA({ commonName: 'Reissue Intermediate CA', issuer: root, pathLength: 0 })
    leaf = await issueTestCert(int, { commonName: 'reissue-leaf', usage: 'client' })
    dir = await mkdtemp(join(tmpdir(), 'portcullis-crl-reissue-'))
    upstream = http.createServer()
    echoWebSockets(upstream)
    await listenOnLoopback(upstream)
    const rootCa = join(dir, 'root.crt')
    const rootCrl = join(dir, 'root.crl')
    intCrl = join(dir, 'int.crl')
    await writeFile(rootCa, root.cert)
    await writeFile(rootCrl, await createCrl(root, []))
    await writeFile(intCrl, await createCrl(int, []))
    const config = join(dir, 'routes.yaml')
    await writeFile(
      config,
      `
listen: { https: 127.0.0.1:0 }
routes:
  - { name: reissue-ws, host: chain.w.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${rootCa}, crl: [${rootCrl}, ${intCrl}] }, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
`,
    )
    gw = await startGatewayFromFile(config)
  })
  after(async () => {
    await gw?.close()
    upstream?.closeAllConnections()
    upstream?.close()
    await pki.cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  const open = async (path: string) => {
    const options = { servername: 'chain.w.test', headers: { host: 'chain.w.test' }, ca: pki.caS.cert, cert: leaf.cert + int.cert, key: leaf.key }
    const ws = new WebSocket(`wss://127.0.0.1:${gw.ports.https}${path}`, options as WebSocket.ClientOptions)
    await once(ws, 'open')
    return ws
  }

  /** Re-issues the intermediate's CRL file as `pem`, reloads, and asserts the WebSocket open before it runs on. */
  async function keptAcrossReissue(pem: string): Promise<void> {
    const ws = await open('/before')
    let closed = false
    ws.once('close', () => (closed = true))
    try {
      const logged = gw.logs.length
      const checked = () => seriesSum(gw, 'portcullis_websocket_rechecks_total{route="reissue-ws"')
      const checkedBefore = await checked()
      await writeFile(intCrl, pem)
      assert.equal((await gw.gateway.reload()).ok, true)
      // OpenSSL reads the re-issued file as it should: a new handshake under it passes.
      ;(await open('/after')).terminate()
      await eventually(async () => (await checked()) === checkedBefore + 1, 5000, 'the WebSocket re-checked')
      const why = gw.logs.slice(logged).filter((line) => String(line.msg).startsWith('WebSocket closed')).map((line) => `${line.detail} ${JSON.stringify(line.error)}`)
      assert.equal(closed, false, `closed at the reload: ${why.join(', ')}`)
    } finally {
      ws.terminate()
    }
  }

  it('takes the current CRL over a newer one not yet valid, beside it in the file', { timeout: 15_000 }, async () => {
    const next = await createCrl(int, [], { crlNumber: 2, thisUpdate: new Date(Date.now() + HOUR) })
    await keptAcrossReissue((await createCrl(int, [], { crlNumber: 1 })) + next)
  })

  it('reads a CRL of 3,000 entries', { timeout: 20_000 }, async () => {
    await keptAcrossReissue(await createCrl(int, otherSerials(3000), { crlNumber: 3 }))
  })
})
