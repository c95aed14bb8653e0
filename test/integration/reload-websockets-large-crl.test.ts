/**
 * A WebSocket re-check (tls/recheck.ts) against a CRL of a few thousand entries, which any CA that has
 * run for a while publishes. OpenSSL reads it for the handshake; @peculiar/x509, which the re-check
 * parses CRLs with, refuses BER of more than 10,000 nodes by default (asn1js maxNodes), about 2,450
 * entries: the re-check throws, fails closed, and a CRL's routine re-issue closes every WebSocket.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
// @peculiar/x509 needs the Reflect polyfill loaded before it (see src/tls/pki.ts).
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { createCA, createCrl, issueCert, type Issued } from '../../src/tls/pki.js'
import { startGatewayFromFile, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'

const HOUR = 3_600_000

/** A CRL of `issuer` that revokes `count` certificates (none of the test's), numbered `crlNumber`. */
async function largeCrl(issuer: Issued, count: number, crlNumber: number): Promise<string> {
  const now = Date.now()
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.x509.subjectName,
    thisUpdate: new Date(now - HOUR),
    nextUpdate: new Date(now + 24 * HOUR),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    signingKey: issuer.keys.privateKey,
    entries: Array.from({ length: count }, (_, i) => ({ serialNumber: (0x7000000 + crlNumber * count + i).toString(16), revocationDate: new Date(now - 2 * HOUR) })),
    extensions: [new x509.Extension('2.5.29.20', false, new Uint8Array([0x02, 0x01, crlNumber]))],
  })
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL') + '\n'
}

describe('a WebSocket re-check against a CRL of a few thousand entries', () => {
  let pki: TestPki
  let int: Issued
  let leaf: Issued
  let dir: string
  let upstream: http.Server
  let gw: TestGateway
  const files = { rootCa: '', rootCrl: '', intCrl: '' }

  before(async () => {
    pki = await makeTestPki()
    const root = await createCA({ commonName: 'Large Root CA' })
    int = await createCA({ commonName: 'Large Intermediate CA', issuer: root, pathLength: 0 })
    leaf = await issueCert(int, { commonName: 'large-crl-leaf', usage: 'client' })
    dir = await mkdtemp(join(tmpdir(), 'portcullis-large-crl-'))
    upstream = http.createServer()
    new WebSocketServer({ server: upstream }).on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data.toString()}`)))
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    files.rootCa = join(dir, 'root.crt')
    files.rootCrl = join(dir, 'root.crl')
    files.intCrl = join(dir, 'int.crl')
    await writeFile(files.rootCa, root.cert)
    await writeFile(files.rootCrl, await createCrl(root, []))
    await writeFile(files.intCrl, await largeCrl(int, 3000, 1))
    const config = join(dir, 'routes.yaml')
    await writeFile(
      config,
      `
listen: { https: 127.0.0.1:0 }
routes:
  - { name: large-crl-ws, host: chain.w.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${files.rootCa}, crl: [${files.rootCrl}, ${files.intCrl}] }, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
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
    const ws = new WebSocket(`wss://127.0.0.1:${gw.ports.https}${path}`, {
      servername: 'chain.w.test',
      headers: { host: 'chain.w.test' },
      ca: pki.caS.cert,
      cert: leaf.cert + int.cert,
      key: leaf.key,
    } as WebSocket.ClientOptions)
    await once(ws, 'open')
    return ws
  }

  it('keeps a WebSocket across a re-issue of the CRL that does not list its client', { timeout: 20_000 }, async () => {
    const ws = await open('/before')
    let closed = false
    ws.once('close', () => (closed = true))
    try {
      await writeFile(files.intCrl, await largeCrl(int, 3000, 2))
      assert.equal((await gw.gateway.reload()).ok, true)
      // OpenSSL reads it: a new handshake under the re-issued CRL passes.
      ;(await open('/after')).terminate()
      await new Promise((resolve) => setTimeout(resolve, 2000))
      const why = gw.logs.filter((line) => String(line.msg).startsWith('WebSocket closed')).map((line) => `${line.detail} ${JSON.stringify(line.error)}`)
      assert.equal(closed, false, `closed at the reload: ${why.join(', ')}`)
    } finally {
      ws.terminate()
    }
  })
})
