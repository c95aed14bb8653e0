/**
 * Which CRL of an issuer the WebSocket re-check uses (tls/recheck.ts), against the one OpenSSL uses in
 * the handshake. OpenSSL scores an issuer's CRLs (get_crl_sk) and a CRL whose times are valid beats
 * one that is not yet valid; only among equals does the newer win. The re-check takes the newest by
 * thisUpdate whatever its times, so a CRL published ahead of its thisUpdate beside the current one
 * (or a CA clock a little ahead of the gateway's, at the very reload that brings its CRL) closes
 * WebSockets that a new handshake under the same policy lets through.
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

/** An empty CRL of `issuer` whose thisUpdate is an hour from now. */
async function crlFromTheFuture(issuer: Issued): Promise<string> {
  const now = Date.now()
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.x509.subjectName,
    thisUpdate: new Date(now + HOUR),
    nextUpdate: new Date(now + 30 * 24 * HOUR),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    signingKey: issuer.keys.privateKey,
    entries: [],
  })
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL') + '\n'
}

describe('the CRL a WebSocket re-check uses, next to the one a handshake uses', () => {
  let pki: TestPki
  let root: Issued
  let int: Issued
  let leaf: Issued
  let dir: string
  let upstream: http.Server
  let gw: TestGateway
  const files = { rootCa: '', rootCrl: '', intCrl: '' }

  before(async () => {
    pki = await makeTestPki()
    root = await createCA({ commonName: 'Choice Root CA' })
    int = await createCA({ commonName: 'Choice Intermediate CA', issuer: root, pathLength: 0 })
    leaf = await issueCert(int, { commonName: 'choice-leaf', usage: 'client' })
    dir = await mkdtemp(join(tmpdir(), 'portcullis-crl-choice-'))
    upstream = http.createServer()
    new WebSocketServer({ server: upstream }).on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data.toString()}`)))
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    files.rootCa = join(dir, 'root.crt')
    files.rootCrl = join(dir, 'root.crl')
    files.intCrl = join(dir, 'int.crl')
    await writeFile(files.rootCa, root.cert)
    await writeFile(files.rootCrl, await createCrl(root, []))
    await writeFile(files.intCrl, await createCrl(int, []))
    const config = join(dir, 'routes.yaml')
    await writeFile(
      config,
      `
listen: { https: 127.0.0.1:0 }
routes:
  - { name: choice-ws, host: chain.w.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${files.rootCa}, crl: [${files.rootCrl}, ${files.intCrl}] }, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
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

  it('keeps a WebSocket that a new handshake under the new CRLs lets through', { timeout: 15_000 }, async () => {
    const before = await open('/before')
    let closed = false
    before.once('close', () => (closed = true))
    try {
      // The intermediate's next CRL published beside its current one, in the same file.
      await writeFile(files.intCrl, (await createCrl(int, [], { crlNumber: 1 })) + (await crlFromTheFuture(int)))
      assert.equal((await gw.gateway.reload()).ok, true)
      // OpenSSL takes the current CRL: a new handshake under the new policy passes.
      const after = await open('/after')
      after.terminate()
      await new Promise((resolve) => setTimeout(resolve, 2000))
      const why = gw.logs.filter((line) => String(line.msg).startsWith('WebSocket closed')).map((line) => `${line.reason} ${line.detail}`)
      assert.equal(closed, false, `closed at the reload: ${why.join(', ')}`)
    } finally {
      before.terminate()
    }
  })
})
