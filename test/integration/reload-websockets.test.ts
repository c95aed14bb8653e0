/**
 * WebSockets across a reload that changes a route's client CAs or CRLs. A keep-alive connection comes
 * back through a new handshake and is refused; a WebSocket has no next request, so without a re-check
 * a client whose certificate the new CRL revoked, or whose CA left the bundle, would keep its tunnel
 * to the upstream for as long as it liked.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import tls from 'node:tls'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
import { eventually, seriesValue, startGatewayFromFile, type TestGateway } from '../helpers/gateway.js'
import { certificateNamed, makeTestPki, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback } from '../helpers/upstream.js'

/** Time a tunnel that fails the new policy has to close after the reload. */
const CLOSE_WITHIN_MS = 3000

describe('WebSockets after a reload that changes client CAs or CRLs', () => {
  let pki: TestPki
  let dir: string
  let upstream: http.Server
  /** The upstream's end of each WebSocket, by the path the client asked for. */
  const upstreamEnds = new Map<string, WebSocket>()
  let gw: TestGateway
  const files = { config: '', clientCAs: '', rootCrl: '', intCrl: '' }
  /** routes.yaml; `swapped`: a.test asks for no client certificate, open.test for one of caA; `tls13Only`: v.w.test takes TLS 1.3 alone. */
  let routesYaml: (swapped: boolean, tls13Only?: boolean) => string

  before(async () => {
    pki = await makeTestPki()
    dir = await mkdtemp(join(tmpdir(), 'portcullis-ws-reload-'))
    upstream = http.createServer()
    new WebSocketServer({ server: upstream }).on('connection', (ws, req) => {
      upstreamEnds.set(req.url!, ws)
      ws.on('message', (data) => ws.send(`echo ${data.toString()}`))
    })
    // A response that takes its time, for a request that is not a WebSocket.
    upstream.on('request', (_req, res) => {
      res.write('begun\n')
      setTimeout(() => res.end('done\n'), 1500)
    })
    await listenOnLoopback(upstream)
    const to = `upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' }`
    const cert = `cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}`
    files.clientCAs = join(dir, 'client-cas.pem')
    files.rootCrl = join(dir, 'root.crl')
    files.intCrl = join(dir, 'int.crl')
    await copyFile(pki.caAB.certFile, files.clientCAs)
    await copyFile(pki.crlRootEmpty.file, files.rootCrl)
    await copyFile(pki.crlIntEmpty.file, files.intCrl)
    files.config = join(dir, 'routes.yaml')
    const asksCaA = `tls: { ${cert}, clientCAs: ${pki.caA.certFile} }`
    const asksNone = `tls: { ${cert} }`
    routesYaml = (swapped, tls13Only = false) => `
listen: { https: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
  - { name: chain-ws, host: chain.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile}, crl: [${files.rootCrl}, ${files.intCrl}] }, ${to} }
  - { name: ab-ws, host: b.test, tls: { ${cert}, clientCAs: ${files.clientCAs} }, ${to} }
  - { name: mtls-ws, host: a.test, ${swapped ? asksNone : asksCaA}, ${to} }
  - { name: open-ws, host: open.test, ${swapped ? asksCaA : asksNone}, ${to} }
  - { name: v-ws, host: v.w.test, tls: { ${cert}, clientCAs: ${pki.caA.certFile}, minVersion: ${tls13Only ? 'TLSv1.3' : 'TLSv1.2'} }, ${to} }
`
    await writeFile(files.config, routesYaml(false))
    gw = await startGatewayFromFile(files.config, { reloadIntervalMs: 0 })
  })
  after(async () => {
    await gw.close()
    upstream.closeAllConnections()
    upstream.close()
    await pki.cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  /** A WebSocket to `host` with a client certificate (and the intermediates after it, if any), or none. */
  const openWebSocket = async (host: string, path: string, client: { cert?: string; key?: string; maxVersion?: 'TLSv1.2' } = {}) => {
    // ws hands its options to tls.connect, servername included, though its types leave that one out.
    const options: WebSocket.ClientOptions & { servername: string } = { servername: host, headers: { host }, ca: pki.caS.cert, ...client }
    const ws = new WebSocket(`wss://127.0.0.1:${gw.ports.https}${path}`, options)
    await once(ws, 'open')
    return ws
  }
  const echoes = async (ws: WebSocket, text: string) => {
    ws.send(text)
    assert.equal(String((await once(ws, 'message'))[0]), `echo ${text}`)
  }
  /** Resolves true once `ws` closes, false if it is still open after CLOSE_WITHIN_MS. */
  const closesSoon = (ws: WebSocket) =>
    Promise.race([once(ws, 'close').then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), CLOSE_WITHIN_MS))])
  const rechecks = (labels: string) => seriesValue(gw, `portcullis_websocket_rechecks_total{${labels}}`)
  /**
   * `change` the files and reload: `cut` must close soon, with one warn line naming `route` and
   * `reason` and one count of it, and `kept` must still echo. Returns that line.
   */
  const reloadCuts = async (change: () => Promise<void>, { cut, kept, route, reason }: { cut: WebSocket; kept: WebSocket; route: string; reason: string }) => {
    try {
      const closed = closesSoon(cut)
      await change()
      assert.equal((await gw.gateway.reload()).ok, true)
      assert.equal(await closed, true, 'cut off')
      await echoes(kept, 'still here')
      const lines = gw.logs.filter((line) => String(line.msg).startsWith('WebSocket closed') && line.route === route)
      assert.equal(lines.length, 1, 'logged once')
      assert.equal(lines[0]!.level, 40, 'at warn')
      assert.equal(lines[0]!.reason, reason)
      assert.equal(await rechecks(`route="${route}",result="error",reason="${reason}"`), 1, 'counted once')
      return lines[0]!
    } finally {
      cut.terminate()
      kept.terminate()
    }
  }

  // catalogue RR-07, RR-08
  it('closes the WebSocket of a client the new CRL revokes, and only that one', { timeout: 10_000 }, async () => {
    // Both clients send their intermediate: every certificate of the chain is checked against its CRL.
    const kept = await openWebSocket('chain.w.test', '/kept', pki.leafChain)
    const cut = await openWebSocket('chain.w.test', '/revoked', { ...pki.leafRevoked, cert: pki.leafRevoked.cert + pki.int.cert })
    await echoes(cut, 'before')
    const upstreamClosed = once(upstreamEnds.get('/revoked')!, 'close')
    // The intermediate's CRL re-issued, now listing one of them.
    const line = await reloadCuts(() => writeFile(files.intCrl, pki.crlIntRevoked.pem), { cut, kept, route: 'chain-ws', reason: 'revoked' })
    await upstreamClosed
    assert.equal(line.detail, 'CERT_REVOKED')
    // Which client was cut, and which files revoked it (CRL log lines did not name the certificate).
    assert.deepEqual(line.certificate, certificateNamed(pki.leafRevoked.cert))
    assert.deepEqual(line.crl, [files.rootCrl, files.intCrl])
    assert.equal(await rechecks('route="chain-ws",result="ok",reason="none"'), 1, 'the kept one counted as checked')
    assert.doesNotMatch(JSON.stringify(gw.logs), /BEGIN|MII/, 'no certificate in the log')
  })

  it('closes the WebSocket of a client whose CA the bundle no longer holds', { timeout: 10_000 }, async () => {
    const kept = await openWebSocket('b.test', '/from-b', pki.cliB)
    const cut = await openWebSocket('b.test', '/from-a', pki.cliA)
    await reloadCuts(() => copyFile(pki.caB.certFile, files.clientCAs), { cut, kept, route: 'ab-ws', reason: 'unknown_ca' })
  })

  it('closes the WebSocket of a client without a certificate on a route that now asks for one, not the other way', { timeout: 10_000 }, async () => {
    // Both TLS policies outlive the reload: what changed is which route has which.
    const kept = await openWebSocket('a.test', '/verified', pki.cliA)
    const cut = await openWebSocket('open.test', '/anonymous')
    await reloadCuts(() => writeFile(files.config, routesYaml(true)), { cut, kept, route: 'open-ws', reason: 'no_client_cert' })
  })

  it('closes the WebSocket of a TLS 1.2 client once its route takes TLS 1.3 alone, not a TLS 1.3 one', { timeout: 10_000 }, async () => {
    const kept = await openWebSocket('v.w.test', '/tls13', pki.cliA)
    const cut = await openWebSocket('v.w.test', '/tls12', { ...pki.cliA, maxVersion: 'TLSv1.2' })
    try {
      await reloadCuts(() => writeFile(files.config, routesYaml(false, true)), { cut, kept, route: 'v-ws', reason: 'protocol_version' })
    } finally {
      await writeFile(files.config, routesYaml(false))
      assert.equal((await gw.gateway.reload()).ok, true)
    }
  })

  it('drops the verdicts of a reload that another has overtaken: clients it takes back stay connected', { timeout: 30_000 }, async () => {
    // Re-checks run one a turn of the event loop: enough WebSockets that some still wait for theirs
    // when the second reload comes.
    const count = 100
    await writeFile(files.intCrl, pki.crlIntEmpty.pem)
    assert.equal((await gw.gateway.reload()).ok, true)
    const client = { ...pki.leafRevoked, cert: pki.leafRevoked.cert + pki.int.cert }
    const sockets = await Promise.all(Array.from({ length: count }, (_, i) => openWebSocket('chain.w.test', `/overtaken-${i}`, client)))
    const revoked = () => rechecks('route="chain-ws",result="error",reason="revoked"')
    try {
      const before = await revoked()
      await writeFile(files.intCrl, pki.crlIntRevoked.pem)
      assert.equal((await gw.gateway.reload()).ok, true)
      await writeFile(files.intCrl, pki.crlIntEmpty.pem)
      assert.equal((await gw.gateway.reload()).ok, true)
      const cutBeforeSecond = (await revoked()) - before
      assert.ok(cutBeforeSecond < count, `the second reload came while checks were waiting (${cutBeforeSecond} done)`)
      await new Promise((resolve) => setTimeout(resolve, 1000))
      assert.equal((await revoked()) - before, cutBeforeSecond, 'none closed on the first verdict after the second reload')
      const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN)
      assert.equal(open.length, count - cutBeforeSecond)
      await echoes(open.at(-1)!, 'taken back')
    } finally {
      for (const ws of sockets) ws.terminate()
    }
  })

  it('lets the response to an upgrade it ignored (h2c) finish, as for any request: it is not a WebSocket to re-check', { timeout: 10_000 }, async () => {
    await copyFile(pki.caAB.certFile, files.clientCAs)
    assert.equal((await gw.gateway.reload()).ok, true)
    const client = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'b.test', ca: pki.caS.cert, ...pki.cliB })
    try {
      client.write('GET /slow HTTP/1.1\r\nHost: b.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n')
      let received = ''
      client.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
      const closed = once(client, 'close')
      await eventually(async () => received.includes('begun'), 3000, 'the response begun')
      // The client's CA leaves the bundle while the response is still coming.
      await copyFile(pki.caA.certFile, files.clientCAs)
      assert.equal((await gw.gateway.reload()).ok, true)
      await closed
      assert.match(received, /^HTTP\/1\.1 200 OK\r\n[^]*begun\n[^]*done\n[^]*0\r\n\r\n$/)
    } finally {
      client.destroy()
      await copyFile(pki.caAB.certFile, files.clientCAs)
    }
  })
})
