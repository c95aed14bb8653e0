/**
 * `workers: 2` and TLS: a session resumes on every worker, never under another TLS policy, and the
 * client chain a route forwards reaches the upstream whichever worker a resumed connection lands on.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import tls from 'node:tls'
import type { LoggingPortcullis } from '../helpers/cli.js'
import { httpRequest, serverSeesClientChain } from '../helpers/client.js'
import { eventually } from '../helpers/gateway.js'
import { makeTestPki, type CertFiles, type TestPki } from '../helpers/pki.js'
import { startWorkers } from '../helpers/workers.js'

describe('workers and TLS sessions', () => {
  let pki: TestPki
  let dir: string
  let upstream: http.Server
  let gateway: LoggingPortcullis | undefined
  let ports: { https: number; admin: number }

  before(async () => {
    pki = await makeTestPki()
    dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-'))
    // Answers with the Client-Cert-Chain it was sent.
    upstream = http.createServer((req, res) => res.end(`chain=${req.headers['client-cert-chain'] ?? ''}\n`))
    upstream.listen(0, '127.0.0.1')
    await once(upstream, 'listening')
    const configFile = join(dir, 'routes.yaml')
    const cert = `cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}`
    const to = `upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' }`
    // Four policies: no client certificate, CA A, CA A or B (cliA verifies under both), and the root
    // of an intermediate, whose route forwards the chain.
    await writeFile(
      configFile,
      `listen: { https: 127.0.0.1:0, admin: 127.0.0.1:0 }
workers: 2
routes:
  - { host: open.test, tls: { ${cert} }, ${to} }
  - { host: a.test, tls: { ${cert}, clientCAs: ${pki.caA.certFile} }, ${to} }
  - { host: b.test, tls: { ${cert}, clientCAs: ${pki.caAB.certFile} }, ${to} }
  - { host: chain.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile}, forwardClientCert: rfc9440 }, ${to} }
`,
    )
    const started = await startWorkers(configFile)
    gateway = started.gateway
    ports = { https: (await started.served()).https!.port, admin: started.admin! }
    await eventually(async () => (await httpRequest({ port: ports.admin, path: '/readyz' })).status === 200, 20_000, 'both workers ready')
  })
  after(async () => {
    if (gateway && gateway.child.exitCode === null && gateway.child.signalCode === null) {
      gateway.child.kill('SIGTERM')
      await gateway.exited
    }
    upstream.close()
    await rm(dir, { recursive: true, force: true })
    await pki.cleanup()
  })

  /**
   * One connection offering `session`, with a request so that TLS 1.3 tickets (sent after the handshake)
   * arrive: whether it resumed, and the newest session the server gave (the offered one if none).
   */
  async function connect(servername: string, version: tls.SecureVersion, session?: Buffer, client?: CertFiles) {
    const socket = tls.connect({
      port: ports.https,
      host: '127.0.0.1',
      servername,
      ca: pki.caS.cert,
      minVersion: version,
      maxVersion: version,
      ...(client && { cert: client.cert, key: client.key }),
      ...(session && { session }),
    })
    let next = session
    socket.on('session', (ticket: Buffer) => (next = ticket))
    await once(socket, 'secureConnect')
    const resumed = socket.isSessionReused()
    let reply = ''
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString()))
    socket.write(`GET / HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`)
    await once(socket, 'close')
    assert.match(reply, /^HTTP\/1\.1 200/)
    return { resumed, session: next!, chain: /chain=(\S*)/.exec(reply)?.[1] }
  }

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`resumes a ${version} session on every worker, connection after connection`, { timeout: 20_000 }, async () => {
      for (const [host, client] of [['open.test', undefined], ['a.test', pki.cliA]] as const) {
        let { session } = await connect(host, version, undefined, client)
        // Round-robin: successive connections alternate between the two workers.
        for (let i = 0; i < 6; i++) {
          const next = await connect(host, version, session, client)
          assert.equal(next.resumed, true, `${host}: connection ${i + 1} after the full handshake resumed`)
          session = next.session
        }
      }
    })

    // catalogue IM-11, across workers
    it(`never resumes a ${version} session under another policy, on either worker`, { timeout: 20_000 }, async () => {
      const open = await connect('open.test', version)
      const a = await connect('a.test', version, undefined, pki.cliA)
      for (let i = 0; i < 2; i++) {
        assert.equal((await connect('a.test', version, open.session, pki.cliA)).resumed, false, 'no client certificate asked for')
        assert.equal((await connect('b.test', version, a.session, pki.cliA)).resumed, false, 'verified under other client CAs')
        assert.equal((await connect('a.test', version, a.session, pki.cliA)).resumed, true, 'the same policy')
      }
    })
  }

  const chainSkip = !serverSeesClientChain && 'Node gives the server no client chain'
  it('sends Client-Cert-Chain on every connection of a session, whichever worker it lands on', { timeout: 20_000, skip: chainSkip }, async () => {
    // Only the worker of the full handshake knows the chain: such a policy's sessions resume there alone.
    const full = await connect('chain.w.test', 'TLSv1.3', undefined, pki.leafChain)
    assert.ok(full.chain, 'the chain forwarded on a full handshake')
    let { session } = full
    for (let i = 0; i < 6; i++) {
      const next = await connect('chain.w.test', 'TLSv1.3', session, pki.leafChain)
      assert.equal(next.chain, full.chain, `connection ${i + 1} (resumed: ${next.resumed})`)
      session = next.session
    }
  })

  it('resumes a session after a reload that keeps its policy', { timeout: 20_000 }, async () => {
    const { session } = await connect('a.test', 'TLSv1.3', undefined, pki.cliA)
    assert.equal((await httpRequest({ port: ports.admin, method: 'POST', path: '/reload' })).status, 200)
    for (let i = 0; i < 2; i++) assert.equal((await connect('a.test', 'TLSv1.3', session, pki.cliA)).resumed, true)
  })
})
