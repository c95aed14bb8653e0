/**
 * The TLS policy a reload checks a connection against: the one a new handshake with the SNI of its
 * ClientHello would get.
 * - A handshake under way while a reload changes its host's policy: its ClientHello chose the policy
 *   before the reload, which found no connection to check, as it ends after. It is checked as that
 *   reload checks the connections it finds. Before, its first request got 421 even on a CRL's routine
 *   re-issue.
 * - A connection on a resumed TLS 1.2 session, for which Node 20 keeps no SNI (socket.servername):
 *   it was checked against the policy of a ClientHello without one, passed that open policy, and its
 *   next request got 421.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import https from 'node:https'
import net, { type AddressInfo } from 'node:net'
import { join } from 'node:path'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { createCrl, createTestCA, issueTestCert, makeTestPki, type Issued, type TestPki } from '../helpers/pki.js'
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js'

describe('the TLS policy a reload checks a connection against', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  let gw: TestGateway
  let ca: Issued
  let client: Issued
  let crlFile: string
  let crlNumber = 1

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    ca = await createTestCA({ commonName: 'Mid-handshake CA' })
    client = await issueTestCert(ca, { commonName: 'mid-handshake client', usage: 'client' })
    const caFile = join(pki.dir, 'mid-handshake-ca.crt')
    crlFile = join(pki.dir, 'mid-handshake.crl')
    await writeFile(caFile, ca.cert)
    await writeFile(crlFile, await createCrl(ca, [], { crlNumber: crlNumber++ }))
    gw = await startGateway(
      `
listen: { https: 127.0.0.1:0 }
routes:
  # First: the certificate and policy of a ClientHello without SNI.
  - host: open.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }
  - host: a.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${caFile}, crl: ${crlFile} }
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }
`,
      { watch: false, reloadIntervalMs: 0 },
    )
  })
  after(async () => {
    await gw?.close()
    await upstream?.close()
    await pki?.cleanup()
  })

  /** The CRL re-issued as `revoked` lists, and the gateway reloaded. */
  async function reissue(revoked: Issued[]): Promise<void> {
    await writeFile(crlFile, await createCrl(ca, revoked, { crlNumber: crlNumber++ }))
    assert.equal((await gw.gateway.reload()).ok, true)
  }

  /**
   * A request on a connection whose handshake the gateway began before the CRL was re-issued as
   * `revoked` lists and reloaded, and ended after: the server's handshake messages are held back until
   * the reload is done. The first line of the answer, or '' where the connection closed without one.
   */
  async function acrossReissue(revoked: Issued[]): Promise<string> {
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const relay = net.createServer((fromClient) => {
      const toGateway = net.connect(gw.ports.https!, '127.0.0.1')
      fromClient.pipe(toGateway)
      toGateway.on('data', (chunk: Buffer) => void released.then(() => fromClient.write(chunk)))
      toGateway.on('end', () => void released.then(() => fromClient.end()))
      fromClient.on('error', () => toGateway.destroy())
      toGateway.on('error', () => fromClient.destroy())
    })
    relay.listen(0, '127.0.0.1')
    await once(relay, 'listening')
    try {
      const socket = tls.connect({ port: (relay.address() as AddressInfo).port, host: '127.0.0.1', servername: 'a.test', ca: pki.caS.cert, cert: client.cert, key: client.key, maxVersion: 'TLSv1.2' })
      socket.on('error', () => undefined)
      // The ClientHello reaches the gateway and is dispatched under the policy of the CRL before.
      await new Promise((resolve) => setTimeout(resolve, 200))
      await reissue(revoked)
      release()
      await once(socket, 'secureConnect')
      socket.write('GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n')
      let reply = ''
      socket.on('data', (chunk: Buffer) => (reply += chunk.toString()))
      await once(socket, 'close')
      return reply.split('\r\n')[0] ?? ''
    } finally {
      relay.close()
    }
  }

  it('serves it when its client passes the new policy (a CRL re-issued, nothing new revoked)', async () => {
    assert.equal(await acrossReissue([]), 'HTTP/1.1 200 OK')
  })

  it('serves it nothing when the new policy revokes its client', async () => {
    // Closed at once, or its request, if it came before the verdict, refused as on any connection whose client failed a re-check.
    assert.match(await acrossReissue([client]), /^(?:HTTP\/1\.1 421 |$)/)
  })

  it('keeps a resumed TLS 1.2 keep-alive connection whose client passes the new policy of its SNI', async () => {
    await reissue([])
    // One socket at a time: the second connection resumes the first's session (the agent keeps it).
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: pki.caS.cert, cert: client.cert, key: client.key, maxVersion: 'TLSv1.2' })
    const get = () =>
      new Promise<[number, boolean, number]>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port: gw.ports.https!, servername: 'a.test', headers: { host: 'a.test' }, agent }, (res) => {
            const socket = res.socket as tls.TLSSocket
            const [resumed, port] = [socket.isSessionReused(), socket.localPort!]
            res.resume().on('end', () => resolve([res.statusCode!, resumed, port]))
          })
          .on('error', reject)
      })
    try {
      assert.deepEqual((await get()).slice(0, 2), [200, false])
      for (const socket of Object.values(agent.freeSockets).flat()) socket?.destroy()
      const [status, resumed, port] = await get()
      assert.deepEqual([status, resumed], [200, true])
      await reissue([])
      assert.deepEqual(await get(), [200, true, port], 'the same resumed connection, served after the reload')
    } finally {
      agent.destroy()
    }
  })
})
