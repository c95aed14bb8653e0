/**
 * A WebSocket on a resumed TLS session, re-checked at a reload that changes its route's CRLs. A session
 * ticket carries only the leaf; the chain is known only where it was read at the leaf's last full
 * handshake in this process (peer-certificates.ts ClientChains). A session resumed on another worker
 * (`workers`: every worker shares the ticket keys) has none here, so the re-check cannot reach the root
 * through the intermediate the client sent at its full handshake: it reads the leaf's revocation alone
 * where nothing above the leaf changed, and fails closed where something did. Two gateways with one
 * ticket secret stand for two workers.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import WebSocket from 'ws'
import { newTicketSecret } from '../../src/tls/ticket-keys.js'
import { eventually, seriesSum, startGatewayFromFile, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback } from '../helpers/upstream.js'
import { echoWebSockets } from '../helpers/websocket.js'

describe('a WebSocket on a TLS session resumed on another worker, at a reload that changes its CRLs', () => {
  let pki: TestPki
  let dir: string
  let upstream: http.Server
  let first: TestGateway
  let second: TestGateway
  let rootCrl: string
  let intCrl: string

  before(async () => {
    pki = await makeTestPki()
    dir = await mkdtemp(join(tmpdir(), 'portcullis-ws-resumed-'))
    upstream = http.createServer()
    echoWebSockets(upstream)
    await listenOnLoopback(upstream)
    rootCrl = join(dir, 'root.crl')
    intCrl = join(dir, 'int.crl')
    await copyFile(pki.crlRootEmpty.file, rootCrl)
    await copyFile(pki.crlIntEmpty.file, intCrl)
    const config = join(dir, 'routes.yaml')
    await writeFile(
      config,
      `
listen: { https: 127.0.0.1:0 }
routes:
  - { name: chain-ws, host: chain.w.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.root.certFile}, crl: [${rootCrl}, ${intCrl}] }, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
`,
    )
    // One ticket secret, as a primary gives every worker.
    const ticketSecret = newTicketSecret()
    first = await startGatewayFromFile(config, { ticketSecret })
    second = await startGatewayFromFile(config, { ticketSecret })
  })
  after(async () => {
    await first?.close()
    await second?.close()
    upstream?.closeAllConnections()
    upstream?.close()
    await pki.cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  /**
   * Two WebSockets of the intermediate's leaf on the second gateway: one on a session resumed from a
   * full handshake on the first, one with a full handshake of its own. The CRL in `file` (the
   * intermediate's unless said) is then re-issued as `crl`, and the test is told which of them the
   * reload closed.
   */
  async function reissueUnder(crl: string, file = intCrl): Promise<{ resumed: boolean; full: boolean; why: string[] }> {
    const session = await new Promise<Buffer>((resolve, reject) => {
      const socket = tls.connect({ port: first.ports.https!, host: '127.0.0.1', servername: 'chain.w.test', ca: pki.caS.cert, cert: pki.leafChain.cert, key: pki.leafChain.key })
      socket.once('session', (ticket: Buffer) => {
        resolve(ticket)
        socket.destroy()
      })
      socket.once('error', reject)
      socket.resume()
    })
    const options = { servername: 'chain.w.test', ca: pki.caS.cert, headers: { host: 'chain.w.test' }, cert: pki.leafChain.cert, key: pki.leafChain.key }
    const resumed = new WebSocket(`wss://127.0.0.1:${second.ports.https}/resumed`, { ...options, session } as WebSocket.ClientOptions)
    const full = new WebSocket(`wss://127.0.0.1:${second.ports.https}/full`, options as WebSocket.ClientOptions)
    try {
      await Promise.all([once(resumed, 'open'), once(full, 'open')])
      const socketOf = (ws: WebSocket) => (ws as unknown as { _socket: tls.TLSSocket })._socket
      assert.equal(socketOf(resumed).isSessionReused(), true, 'the session resumed on the second gateway')
      assert.equal(socketOf(full).isSessionReused(), false)
      const closed = { resumed: false, full: false }
      resumed.once('close', () => (closed.resumed = true))
      full.once('close', () => (closed.full = true))
      const logged = second.logs.length
      const checked = (result = '') => seriesSum(second, `portcullis_websocket_rechecks_total{route="chain-ws",result="${result}`)
      const [checkedBefore, failedBefore] = [await checked(), await checked('error')]
      await writeFile(file, crl)
      // Both, as every worker reloads: the next test's session comes from the first.
      assert.equal((await second.gateway.reload()).ok, true)
      assert.equal((await first.gateway.reload()).ok, true)
      await eventually(async () => (await checked()) === checkedBefore + 2, 5000, 'both WebSockets re-checked')
      const failed = (await checked('error')) - failedBefore
      await eventually(async () => Number(closed.resumed) + Number(closed.full) === failed, 3000, 'the WebSockets that failed closed')
      const why = second.logs.slice(logged).filter((line) => String(line.msg).startsWith('WebSocket closed')).map((line) => `${line.reason} ${line.detail}`)
      return { ...closed, why }
    } finally {
      resumed.terminate()
      full.terminate()
    }
  }

  it('keeps the WebSocket of a client that the new CRLs do not revoke', { timeout: 15_000 }, async () => {
    // Re-issued revoking another leaf, not this one: a new TLS policy.
    const { why, ...closed } = await reissueUnder(pki.crlIntRevoked.pem)
    assert.deepEqual(closed, { resumed: false, full: false }, `WebSockets closed at the reload: ${why.join(', ')}`)
  })

  it('closes the WebSocket of a client that the new CRLs revoke, resumed session or not', { timeout: 15_000 }, async () => {
    const { why, ...closed } = await reissueUnder(pki.crlIntRevokesLeaf.pem)
    assert.deepEqual(closed, { resumed: true, full: true })
    assert.deepEqual(why, ['revoked CERT_REVOKED', 'revoked CERT_REVOKED'])
  })

  // The leaf alone passed: the intermediate revoked by the root went unnoticed on the resumed session.
  it('closes the WebSocket of a resumed session whose chain it does not know when a CRL above its leaf changes', { timeout: 15_000 }, async () => {
    // The leaf revoked by the test before no more.
    await writeFile(intCrl, pki.crlIntEmpty.pem)
    for (const gateway of [first, second]) assert.equal((await gateway.gateway.reload()).ok, true)
    const { why, ...closed } = await reissueUnder(pki.crlRootRevokesInt.pem, rootCrl)
    assert.deepEqual(closed, { resumed: true, full: true })
    assert.deepEqual(why.sort(), ['other RECHECK_FAILED', 'revoked CERT_REVOKED'])
  })
})
