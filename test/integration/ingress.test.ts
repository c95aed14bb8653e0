/**
 * Per-route client authentication on one HTTPS port: each route's TLS policy holds whatever SNI, Host,
 * listener or session the client uses.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import https from 'node:https'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { setTimeout as pause } from 'node:timers/promises'
import net, { type AddressInfo } from 'node:net'
import { join } from 'node:path'
import tls from 'node:tls'
import { promisify } from 'node:util'
import { httpRequest, httpsRequest, serverSeesClientChain, sessionExchange, type TlsRequestOptions } from '../helpers/client.js'
import { eventually, loggedAfter, seriesIn, seriesSum, seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { certificateNamed, createSelfSignedNonCA, createTestCA, issueTestCert, makeRsaChain, makeTestPki, type CertFiles, type RsaChain, type TestPki } from '../helpers/pki.js'
import { rawExchange, rawUntilClosed, type TlsTarget } from '../helpers/raw.js'
import { firstTicketHint, ticketLifetimeHint } from '../helpers/ticket-hint.js'
import { listenOnLoopback, startEchoUpstream, type EchoReply, type EchoUpstream } from '../helpers/upstream.js'

/**
 * Completes a TLS handshake with `target`, then writes `request` after a quiet spell: what the server
 * sent in that spell, and what it sent after the request until it closed the connection; whether the
 * handshake resumed a session, and the last session the server gave.
 */
async function answerAfterHandshake(
  target: tls.ConnectionOptions,
  request: string,
): Promise<{ early: string; answer: string; resumed: boolean; session: Buffer | undefined }> {
  const socket = tls.connect({ host: '127.0.0.1', ...target })
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  let session: Buffer | undefined
  socket.on('session', (ticket: Buffer) => (session = ticket))
  const closed = once(socket, 'close')
  socket.on('error', () => undefined)
  await once(socket, 'secureConnect')
  const resumed = socket.isSessionReused()
  await pause(300)
  const early = Buffer.concat(chunks.splice(0)).toString('latin1')
  socket.write(request)
  await closed
  return { early, answer: Buffer.concat(chunks).toString('latin1'), resumed, session }
}

describe('ingress TLS and per-route mutual TLS on one port', () => {
  let pki: TestPki
  let rsa: RsaChain
  let upstream: EchoUpstream
  let passthroughUpstream: EchoUpstream
  let gw: TestGateway

  before(async () => {
    pki = await makeTestPki()
    rsa = await makeRsaChain(pki)
    // Both CRLs of the chain in one file, as `cat root.crl intermediate.crl` makes it.
    const bothCrls = join(pki.dir, 'both.crl')
    await writeFile(bothCrls, pki.crlRootEmpty.pem + pki.crlIntRevoked.pem)
    // The root and its intermediate in one bundle: a leaf verifies without the client sending the intermediate.
    const rootAndInt = join(pki.dir, 'root-and-int.crt')
    await writeFile(rootAndInt, pki.root.cert + pki.int.cert)
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    passthroughUpstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    const to = `upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }`
    const cert = `cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}`
    gw = await startGateway(`
listen: { https: 127.0.0.1:0, http: 127.0.0.1:0 }
routes:
  - { name: open, host: open.test, tls: { ${cert} }, ${to} }
  - { name: mtls, host: a.test, tls: { ${cert}, clientCAs: ${pki.caA.certFile} }, ${to} }
  - { name: both-cas, host: b.test, tls: { ${cert}, clientCAs: ${pki.caAB.certFile}, forwardClientCert: both }, ${to} }
  - { name: chain, host: chain.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile}, forwardClientCert: both, crl: [${pki.crlRootEmpty.file}, ${pki.crlIntRevoked.file}] }, ${to} }
  - { name: chain-xfcc, host: xfcc.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile}, crl: [${pki.crlRootEmpty.file}, ${pki.crlIntRevoked.file}] }, ${to} }
  - { name: crl-file, host: crlfile.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile}, crl: ${bothCrls} }, ${to} }
  - { name: rsa-chain, host: rsa.w.test, tls: { ${cert}, clientCAs: ${rsa.root.certFile}, crl: ${rsa.crls} }, ${to} }
  - { name: int-revoked, host: intrevoked.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile}, crl: [${pki.crlRootRevokesInt.file}, ${pki.crlIntEmpty.file}] }, ${to} }
  - { name: no-crl, host: nocrl.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile} }, ${to} }
  - { name: stale-crl, host: stalecrl.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile}, crl: [${pki.crlRootStale.file}, ${pki.crlIntEmpty.file}] }, ${to} }
  - { name: int-in-bundle, host: intbundle.w.test, tls: { ${cert}, clientCAs: ${rootAndInt} }, ${to} }
  - { name: crl-gap, host: crlgap.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile}, crl: ${pki.crlRootEmpty.file} }, ${to} }
  - { name: plain, host: plain.test, ${to} }
  - { name: passthrough, host: pass.test, tls: passthrough, upstream: { url: 'tcp://127.0.0.1:${passthroughUpstream.port}' } }
  - { name: passthrough-down, host: down.test, tls: passthrough, upstream: { url: 'tcp://127.0.0.1:1' } } # nothing listens on port 1: refused
  - { name: no-identity, host: none.w.test, tls: { ${cert}, clientCAs: ${pki.caA.certFile}, forwardClientCert: none }, ${to} }
  - { name: rfc9440, host: rfc.w.test, tls: { ${cert}, clientCAs: ${pki.caA.certFile}, forwardClientCert: rfc9440 }, ${to} }
  - { name: tls13, host: tls13.w.test, tls: { ${cert}, minVersion: TLSv1.3 }, ${to} }
  - { name: own-cert, host: up.test, tls: { cert: ${pki.up.certFile}, key: ${pki.up.keyFile} }, ${to} }
  - { name: wild-mtls, host: '*.wild.test', tls: { ${cert}, clientCAs: ${pki.caA.certFile} }, ${to} }
  - { name: rsa-cert, host: rsa-server.test, tls: { cert: ${rsa.server.certFile}, key: ${rsa.server.keyFile} }, ${to} }
`,
      // The tests below refuse some 60 handshakes within a second or two and read refusals' lines.
      { refusalLogLines: 1000 },
    )
  })
  after(async () => {
    await gw.close()
    await upstream.close()
    await passthroughUpstream.close()
    await pki.cleanup()
  })

  const request = (servername: string | undefined, client?: Pick<CertFiles, 'cert' | 'key'>, options: Partial<TlsRequestOptions> = {}) =>
    httpsRequest({
      port: gw.ports.https!,
      ...(servername !== undefined && { servername }),
      ca: pki.caS.cert,
      ...(client && { cert: client.cert, key: client.key }),
      ...options,
    })
  /**
   * Refuses the client, logs why, counts it once, and sends nothing upstream; resolves with the log
   * record. A certificate that does not verify is answered 400 once its handshake is complete, as nginx
   * answers it; a handshake that fails before its end (no certificate, `aborted`) ends the connection.
   */
  const refused = async (
    servername: string,
    client: Pick<CertFiles, 'cert' | 'key'> | undefined,
    reason: string,
    { aborted = client === undefined, ...options }: Partial<TlsRequestOptions> & { aborted?: boolean } = {},
  ) => {
    const [requestsBefore, logsBefore, metricsBefore] = [upstream.requests.length, gw.logs.length, await gw.gateway.metrics.registry.metrics()]
    if (aborted) await assert.rejects(request(servername, client, options), /ECONNRESET|socket hang up|alert|EPIPE|disconnected/)
    else assert.deepEqual(await request(servername, client, options).then(({ status, body }) => [status, body]), [400, `400 Bad Request: the client certificate was refused (${reason})\n`])
    const logged = await loggedAfter(gw, logsBefore, 'client TLS handshake refused')
    assert.equal(logged.reason, reason)
    // catalogue MT-01: once, in the series of its route and reason.
    const series = `portcullis_tls_handshakes_total{side="ingress",route="${String(logged.route)}",result="error",reason="${reason}"}`
    assert.equal((await seriesValue(gw, series)) - (seriesIn(metricsBefore, series) ?? 0), 1, series)
    assert.equal(upstream.requests.length, requestsBefore, 'no request reached the upstream')
    return logged
  }

  it('answers on a route without clientCAs with no client certificate', async () => {
    assert.equal((await request('open.test')).status, 200)
  })

  it('ignores a certificate a client would present on a route without clientCAs, and forwards no identity (catalogue IM-08)', async () => {
    for (const client of [pki.cliA, pki.cliB]) {
      const reply = await request('open.test', client)
      assert.equal(reply.status, 200)
      const { headers } = JSON.parse(reply.body) as EchoReply
      assert.deepEqual([headers['x-forwarded-client-cert'], headers['client-cert']], [undefined, undefined])
    }
  })

  it('reads a ClientHello that arrives a few bytes at a time', async () => {
    // Between the client and the gateway: the first 600 bytes go on in 7-byte writes, each its own
    // TCP segment, the rest as they come.
    const dripper = net.createServer((client) => {
      const gateway = net.connect(gw.ports.https!, '127.0.0.1')
      gateway.setNoDelay(true)
      let dripped = 0
      client.on('data', async (chunk: Buffer) => {
        client.pause()
        for (let i = 0; i < chunk.length; ) {
          const size = dripped < 600 ? 7 : chunk.length - i
          gateway.write(chunk.subarray(i, i + size))
          i += size
          dripped += size
          if (dripped < 600) await new Promise((resolve) => setTimeout(resolve, 1))
        }
        client.resume()
      })
      gateway.pipe(client)
      client.on('error', () => gateway.destroy())
      gateway.on('error', () => client.destroy())
    })
    await listenOnLoopback(dripper)
    try {
      const reply = await httpsRequest({ port: (dripper.address() as AddressInfo).port, servername: 'a.test', ca: pki.caS.cert, cert: pki.cliA.cert, key: pki.cliA.key })
      assert.equal(reply.status, 200)
    } finally {
      dripper.close()
    }
  })

  it('accepts a certificate from the route CA, and from either CA of a two-CA bundle', async () => {
    assert.equal((await request('a.test', pki.cliA)).status, 200)
    assert.equal((await request('b.test', pki.cliA)).status, 200)
    assert.equal((await request('b.test', pki.cliB)).status, 200)
  })

  it('accepts a client certificate of a P-521 key in TLS 1.2 as in TLS 1.3, though no key exchange needs that curve', async () => {
    // OpenSSL refuses a TLS 1.2 client's EC key whose curve is not one of the server's groups (WRONG_CURVE).
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      const reply = await request('a.test', pki.cliP521, { maxVersion })
      assert.equal(reply.status, 200, maxVersion)
      assert.match(String((JSON.parse(reply.body) as EchoReply).headers['x-forwarded-client-cert']), /Subject="CN=p521"/, maxVersion)
    }
  })

  // catalogue IM-04 (root and intermediate CRLs, none revoking), IM-05 (a), HF-07
  it('accepts a chain through an intermediate the client sends', async () => {
    const reply = await request('chain.w.test', pki.leafChain)
    assert.equal(reply.status, 200)
    const { headers } = JSON.parse(reply.body) as EchoReply
    const intermediate = new X509Certificate(pki.int.cert)
    // The intermediate the client sent, not the root; left out where Node gives no chain.
    const expected = serverSeesClientChain ? `:${intermediate.raw.toString('base64')}:` : undefined
    assert.equal(headers['client-cert-chain'], expected)
    assert.match(String(headers['x-forwarded-client-cert']), /Subject="CN=leaf"/)
  })

  it('forwards the chain on a connection whose earlier request went to an xfcc route of its TLS policy', async () => {
    // Node 20's getPeerX509Certificate(), which X-Forwarded-Client-Cert read the leaf with, deleted an
    // entry of OpenSSL's own peer chain on a server socket: every later request of the connection went
    // without Client-Cert-Chain, and the chain remembered for its session lost the intermediate.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: pki.caS.cert, cert: pki.leafChain.cert, key: pki.leafChain.key })
    const get = (host: string) =>
      new Promise<[EchoReply, number]>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port: gw.ports.https!, servername: 'xfcc.w.test', headers: { host }, agent }, (res) => {
            const port = res.socket.localPort!
            let body = ''
            res.on('data', (chunk: Buffer) => (body += chunk.toString()))
            res.on('end', () => resolve([JSON.parse(body) as EchoReply, port]))
          })
          .on('error', reject)
      })
    try {
      const [xfcc, port] = await get('xfcc.w.test')
      assert.match(String(xfcc.headers['x-forwarded-client-cert']), /Subject="CN=leaf"/)
      const [chained, samePort] = await get('chain.w.test')
      assert.equal(samePort, port, 'one connection')
      const intermediate = new X509Certificate(pki.int.cert)
      const expected = serverSeesClientChain ? `:${intermediate.raw.toString('base64')}:` : undefined
      assert.equal(chained.headers['client-cert-chain'], expected)
    } finally {
      agent.destroy()
    }
  })

  it('forwards the chain on a resumed TLS session too, which carries only the leaf', { skip: !serverSeesClientChain && 'Node gives the server no client chain' }, async () => {
    const chainOver = async (session?: Buffer) => {
      const socket = tls.connect({ port: gw.ports.https!, servername: 'chain.w.test', ca: pki.caS.cert, cert: pki.leafChain.cert, key: pki.leafChain.key, ...(session && { session }) })
      const ticket = new Promise<Buffer>((resolve) => socket.once('session', resolve))
      await once(socket, 'secureConnect')
      const resumed = socket.isSessionReused()
      let reply = ''
      socket.on('data', (chunk: Buffer) => (reply += chunk.toString()))
      socket.write('GET / HTTP/1.1\r\nHost: chain.w.test\r\nConnection: close\r\n\r\n')
      await once(socket, 'close')
      // One chunk, then the last: `<size>\r\n<json>\r\n0\r\n\r\n`.
      const { headers } = JSON.parse(/\r\n\r\n[0-9a-f]+\r\n([\s\S]*)\r\n0\r\n/.exec(reply)![1]!) as EchoReply
      return { resumed, chain: headers['client-cert-chain'], xfcc: headers['x-forwarded-client-cert'], ticket }
    }
    const full = await chainOver()
    assert.ok(full.chain, 'the chain forwarded on a full handshake')
    const resumed = await chainOver(await full.ticket)
    assert.equal(resumed.resumed, true, 'the session was resumed')
    assert.equal(resumed.chain, full.chain)
    // catalogue HF-02: the identity of a resumed session is the full handshake's, byte for byte.
    assert.equal(resumed.xfcc, full.xfcc)
    // A reload that keeps the policy keeps its sessions, and the chains remembered for them.
    assert.equal((await gw.gateway.reload()).ok, true)
    const afterReload = await chainOver(await full.ticket)
    assert.equal(afterReload.resumed, true, 'the session was resumed after the reload')
    assert.equal(afterReload.chain, full.chain)
  })

  // catalogue IM-01, IM-02, IM-03, IM-04, IM-05 (b), IM-07, IM-10 (b.test's CA, refused on a.test's port)
  it('refuses no certificate, another CA, expired, not yet valid, serverAuth-only and revoked', async () => {
    await refused('a.test', undefined, 'no_client_cert')
    await refused('a.test', pki.cliB, 'unknown_ca')
    await refused('a.test', pki.cliB, 'unknown_ca', { maxVersion: 'TLSv1.2' })
    await refused('a.test', pki.cliExpired, 'cert_expired')
    await refused('a.test', pki.cliExpired, 'cert_expired', { maxVersion: 'TLSv1.2' })
    await refused('a.test', pki.cliNotYetValid, 'cert_not_yet_valid')
    const serverEku = await refused('a.test', pki.cliServerEku, 'bad_usage')
    assert.equal(serverEku.hint, 'the client certificate\'s extended key usage lacks clientAuth: sign it again with it, as openssl x509 -req … -extfile <(printf "extendedKeyUsage = clientAuth") does')
    await refused('chain.w.test', { ...pki.leafRevoked, cert: pki.leafRevoked.cert + pki.int.cert }, 'revoked')
    // The root's CRL revokes the intermediate: every leaf under it is refused.
    await refused('intrevoked.w.test', pki.leafChain, 'revoked')
    // A leaf without the intermediate it needs, where CRLs are checked: the missing issuer, not the CRLs.
    await refused('chain.w.test', pki.leaf, 'unknown_ca')
  })

  // catalogue IM-01
  it('aborts the handshake of a client without a certificate with a TLS alert, as OpenSSL sends it', async () => {
    await assert.rejects(request('a.test'), /certificate required.*SSL alert number 116/)
    const since = gw.logs.length
    await assert.rejects(request('a.test', undefined, { maxVersion: 'TLSv1.2' }), /handshake failure.*SSL alert number 40/)
    const logged = await loggedAfter(gw, since, 'client TLS handshake refused')
    assert.equal(logged.reason, 'no_client_cert')
    assert.equal(logged.client, '127.0.0.1', 'the log names who was refused')
  })

  // catalogue IM-02. Node can send no alert for it; nginx answers the request "400 The SSL certificate error".
  it('answers a certificate that does not verify with 400 once the request comes, and closes, in TLS 1.2 and 1.3', async () => {
    const requestsBefore = await seriesSum(gw, 'portcullis_requests_total{')
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      const target = { port: gw.ports.https!, servername: 'a.test', ca: pki.caS.cert, cert: pki.cliExpired.cert, key: pki.cliExpired.key, maxVersion }
      const { early, answer } = await answerAfterHandshake(target, 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n')
      assert.equal(early, '', `nothing is sent before the request (${maxVersion})`)
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n/)
      assert.ok(answer.endsWith('\r\n\r\n400 Bad Request: the client certificate was refused (cert_expired)\n'), answer)
    }
    assert.equal((await seriesSum(gw, 'portcullis_requests_total{')) - requestsBefore, 0, 'counted as refused handshakes, not as requests')
  })

  // The refused client gets a ticket like any other, and resuming it is refused again (OpenSSL keeps the
  // verdict in the session): a refused handshake, not one of the successful resumptions that counter counts.
  // Resumed without ALPN, as Node's https.Agent does, Node calls none of the gateway's TLS callbacks.
  it('answers a resumed session of a refused certificate 400 too, with or without ALPN, and counts it as refused, not as a resumption', async () => {
    const resumptions = 'portcullis_tls_session_resumptions_total{side="ingress",route="mtls"}'
    const refusals = 'portcullis_tls_handshakes_total{side="ingress",route="mtls",result="error",reason="unknown_ca"}'
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      for (const ALPNProtocols of [['http/1.1'], undefined]) {
        const target = { port: gw.ports.https!, servername: 'a.test', ca: pki.caS.cert, cert: pki.cliB.cert, key: pki.cliB.key, maxVersion, ALPNProtocols }
        const request = 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n'
        const { session } = await answerAfterHandshake(target, request)
        assert.ok(session, `a ticket came (${maxVersion})`)
        const [requestsBefore, resumptionsBefore, refusalsBefore] = [upstream.requests.length, await seriesValue(gw, resumptions), await seriesValue(gw, refusals)]
        const again = await answerAfterHandshake({ ...target, session }, request)
        const which = `${maxVersion}, ${ALPNProtocols ? 'with' : 'without'} ALPN`
        assert.equal(again.resumed, true, which)
        assert.match(again.answer, /^HTTP\/1\.1 400 Bad Request\r\n[^]*the client certificate was refused \(unknown_ca\)\n$/, which)
        assert.equal(upstream.requests.length, requestsBefore, 'nothing reached the upstream')
        assert.equal((await seriesValue(gw, refusals)) - refusalsBefore, 1, `${which}: refused once`)
        assert.equal((await seriesValue(gw, resumptions)) - resumptionsBefore, 0, `${which}: not a successful resumption`)
      }
    }
  })

  it("answers each request of Node's https.Agent with a refused certificate 400, its resumed connections too", async () => {
    const agent = new https.Agent({ keepAlive: true })
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const { status, body } = await httpsRequest({ port: gw.ports.https!, servername: 'a.test', ca: pki.caS.cert, cert: pki.cliB.cert, key: pki.cliB.key, agent })
        assert.deepEqual([status, body], [400, '400 Bad Request: the client certificate was refused (unknown_ca)\n'], `request ${attempt + 1}`)
      }
    } finally {
      agent.destroy()
    }
  })

  it('verifies a chain through the intermediate the client sends or the route bundle holds, and refuses a leaf alone without it (catalogue IM-05)', async () => {
    assert.equal((await request('nocrl.w.test', pki.leafChain)).status, 200, 'leaf and intermediate sent, root in the bundle')
    await refused('nocrl.w.test', pki.leaf, 'unknown_ca')
    assert.equal((await request('intbundle.w.test', pki.leaf)).status, 200, 'leaf alone, root and intermediate in the bundle')
  })

  it('fails closed on a CRL past its nextUpdate (catalogue IM-04)', async () => {
    const logged = await refused('stalecrl.w.test', pki.leafChain, 'other')
    assert.equal(logged.detail, 'CRL_HAS_EXPIRED')
  })

  it('reads every CRL of a file that holds several', async () => {
    assert.equal((await request('crlfile.w.test', pki.leafChain)).status, 200)
    await refused('crlfile.w.test', { ...pki.leafRevoked, cert: pki.leafRevoked.cert + pki.int.cert }, 'revoked')
  })

  // A leaf sent without its intermediate, where the intermediate's CRL has no authorityKeyIdentifier:
  // OpenSSL checks that CRL against the leaf's own key, which with RSA keys leaves "invalid padding" on
  // its error queue; with OpenSSL 3.0 (Node 20) that ends the handshake (ERR_SSL_INVALID_PADDING) before
  // Node records the missing issuer, and it was counted as 'other'. OpenSSL 3.5 (Node 24) completes it.
  it('refuses an RSA leaf without its intermediate as unknown_ca where the CRLs have no authorityKeyIdentifier', async () => {
    const logged = await refused('rsa.w.test', rsa.leaf, 'unknown_ca', { aborted: process.versions.openssl.startsWith('3.0.') })
    assert.equal(logged.detail, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  })

  // The root's CRL alone: the intermediate the client sends has none (check cannot know it). Catalogue IM-04.
  it('fails closed when a CRL of the chain is missing, and says so rather than "revoked"', async () => {
    const logged = await refused('crlgap.w.test', pki.leafChain, 'other')
    assert.equal(logged.detail, 'UNABLE_TO_GET_CRL')
  })

  // Its keyUsage is BER's constructed BIT STRING, which OpenSSL reads and cert-der.ts does not: finding
  // whether the chain reached the bundle, for the refusal's reason, threw out of the process.
  it('refuses a certificate of DER it does not read, on a route with CRLs, and serves on', async () => {
    const ber = await createSelfSignedNonCA({ commonName: 'ber', keyUsage: ['230403020780'] })
    const logged = await refused('crlgap.w.test', ber, 'other')
    assert.equal(logged.detail, 'UNABLE_TO_GET_CRL')
    assert.equal((await request('nocrl.w.test', pki.leafChain)).status, 200)
  })

  // OpenSSL reports the last error it finds: after the chain's own, none of the route's CRLs is the
  // client's root's. It was counted as 'other' and logged as UNABLE_TO_GET_CRL, with the CRL files.
  it('refuses a client of another CA that sends its own root as unknown_ca, not as a missing CRL', async () => {
    const logged = await refused('chain.w.test', { ...pki.cliB, cert: pki.cliB.cert + pki.caB.cert }, 'unknown_ca')
    assert.deepEqual([logged.detail, logged.crl], ['SELF_SIGNED_CERT_IN_CHAIN', undefined])
  })

  // "CRL log lines do not name the certificate": a refusal said CERT_REVOKED, and the operator had to
  // find the client's certificate, and the file that listed it, by other means.
  // catalogue HF-10
  it('names the refused certificate in the log line (subject, serial number, issuer), and the CRL files where a CRL refused it', async () => {
    const revoked = { ...pki.leafRevoked, cert: pki.leafRevoked.cert + pki.int.cert }
    const byCrl = await refused('chain.w.test', revoked, 'revoked')
    assert.deepEqual(byCrl.certificate, certificateNamed(pki.leafRevoked.cert))
    assert.deepEqual(byCrl.crl, [pki.crlRootEmpty.file, pki.crlIntRevoked.file])
    const noCrl = await refused('crlgap.w.test', pki.leafChain, 'other')
    assert.deepEqual([noCrl.detail, noCrl.certificate, noCrl.crl], ['UNABLE_TO_GET_CRL', certificateNamed(pki.leafChain.cert), [pki.crlRootEmpty.file]])
    // Refused without a CRL's say: the certificate, no CRL file; without a certificate, neither.
    const otherCa = await refused('a.test', pki.cliB, 'unknown_ca')
    assert.deepEqual([otherCa.certificate, otherCa.crl, otherCa.hint], [certificateNamed(pki.cliB.cert), undefined, undefined])
    const none = await refused('a.test', undefined, 'no_client_cert')
    assert.deepEqual([none.certificate, none.crl], [undefined, undefined])
    assert.doesNotMatch(JSON.stringify(gw.logs), /BEGIN|MII|PRIVATE/, 'no certificate or key in the log')
  })

  // ngrok's openssl recipe run twice makes two CAs named ExampleCA: the log line's names alone look right.
  it('says where a refused certificate is of another CA of the name a CA of tls.clientCAs has', async () => {
    const namesake = await createTestCA({ commonName: 'Test Client CA A' })
    const client = await issueTestCert(namesake, { commonName: 'alice', usage: 'client' })
    const logged = await refused('a.test', client, 'unknown_ca')
    assert.equal(
      logged.hint,
      `tls.clientCAs holds a CA named CN=Test Client CA A, but not the key that signed the client's certificate: if that CA was made again under the same name, put the new one in tls.clientCAs`,
    )
  })

  it('logs the verification result of a refused certificate, and the date that refused it', async () => {
    const logged = await refused('a.test', pki.cliExpired, 'cert_expired')
    assert.equal(logged.detail, 'CERT_HAS_EXPIRED')
    const notAfter = new Date(new X509Certificate(pki.cliExpired.cert).validTo).toISOString()
    assert.deepEqual(logged.certificate, { ...certificateNamed(pki.cliExpired.cert), notAfter })
  })

  it('tells a client that refuses the gateway\'s certificate from a refused client certificate (openssl s_client)', async (t) => {
    // Node's TLS client checks the chain after the handshake and sends no alert; OpenSSL's (curl,
    // browsers, Go's alike) aborts the handshake with unknown_ca.
    const args = ['s_client', '-connect', `127.0.0.1:${gw.ports.https}`, '-servername', 'open.test', '-CAfile', pki.caOther.certFile, '-verify_return_error']
    const since = gw.logs.length
    const ran = await promisify(execFile)('openssl', args, { timeout: 5000 }).then(
      () => true,
      (error: NodeJS.ErrnoException) => error.code !== 'ENOENT',
    )
    if (!ran) return t.skip('openssl is not installed')
    const logged = await loggedAfter(gw, since, 'client TLS handshake refused')
    assert.deepEqual([logged.reason, logged.detail], ['peer_rejected_cert', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'])
    assert.match(String(logged.hint), /^the client refused the gateway's certificate: check that the client trusts the CA/)
  })

  it('refuses TLS 1.1', async () => {
    const since = gw.logs.length
    await assert.rejects(request('open.test', undefined, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }))
    const logged = await loggedAfter(gw, since, 'client TLS handshake refused')
    assert.equal(logged.reason, 'protocol_version', 'the gateway saw and refused the TLS 1.1 ClientHello')
  })

  // catalogue LA-08
  it('logs what is wrong with a malformed ClientHello', async () => {
    const since = gw.logs.length
    const socket = net.connect(gw.ports.https!, '127.0.0.1')
    socket.on('error', () => {})
    socket.resume()
    // A handshake record that holds a ServerHello (type 2).
    socket.end(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00]))
    await once(socket, 'close')
    const logged = await loggedAfter(gw, since, 'client TLS handshake refused')
    assert.deepEqual([logged.reason, logged.detail], ['other', 'first handshake message is not a ClientHello'])
  })

  it('refuses TLS 1.2 where the route asks for TLS 1.3, and takes it where the route does not', async () => {
    const since = gw.logs.length
    await assert.rejects(request('tls13.w.test', undefined, { maxVersion: 'TLSv1.2' }))
    assert.equal((await loggedAfter(gw, since, 'client TLS handshake refused')).reason, 'protocol_version')
    assert.equal((await request('tls13.w.test')).status, 200)
    assert.equal((await request('open.test', undefined, { maxVersion: 'TLSv1.2' })).status, 200)
  })

  // catalogue SH-02: the lenient mode (docs/request-path.md, 1)
  it('gives an SNI name no route has the policy of the first route without client certificates', async () => {
    assert.equal((await request('nowhere.w.test')).status, 404, 'handshake done, no certificate asked for, and no route')
    assert.equal((await request('nowhere.w.test', undefined, { host: 'open.test' })).status, 200)
    assert.equal((await request('nowhere.w.test', pki.cliA, { host: 'a.test' })).status, 421, 'not the policy of a.test')
  })

  // catalogue SH-03, SH-05, SH-06
  it('answers 421 when SNI names an open route and Host an mTLS route, however Host spells it, counted under no route', async () => {
    const before = upstream.requests.length
    const counted = (route: string) => seriesValue(gw, `portcullis_requests_total{route="${route}",method="GET",code="421"}`)
    const [noRouteBefore, mtlsBefore] = [await counted('(none)'), await counted('mtls')]
    const reply = await request('open.test', pki.cliA, { host: 'a.test' })
    assert.equal(reply.status, 421)
    // A client without the mTLS route's certificate does not count among its requests.
    assert.equal((await counted('(none)')) - noRouteBefore, 1)
    assert.equal(await counted('mtls'), mtlsBefore)
    assert.equal(reply.headers.connection, 'close', 'the client comes back on a new connection, through a new handshake')
    // Host is matched as routing matches it: case, a trailing dot, a port, a wildcard route.
    for (const host of ['A.TEST', 'a.test.', 'a.test.:8443', 'x.wild.test', 'X.Wild.Test.:443']) {
      assert.equal((await request('open.test', undefined, { host })).status, 421, host)
    }
    assert.equal(upstream.requests.length, before)
  })

  it('answers 404 to a Host no route has exactly, one that holds a route name included, and forwards nothing (catalogue SH-10, SH-11)', async () => {
    const before = upstream.requests.length
    for (const host of ['evila.test', 'a.test.evil.com', 'a.testx', 'xa.test', 'wild.test', 'a.b.wild.test', 'unknown.test']) {
      assert.equal((await request('open.test', undefined, { host })).status, 404, host)
    }
    assert.equal(upstream.requests.length, before)
  })

  // catalogue SH-07 (a)
  it('answers 421 to Host of an mTLS route without SNI, and on the plain listener, as to Host of a passthrough route there', async () => {
    assert.equal((await request(undefined, pki.cliA, { host: 'a.test' })).status, 421)
    assert.equal((await httpRequest({ port: gw.ports.http!, host: 'a.test' })).status, 421)
    assert.equal((await httpRequest({ port: gw.ports.http!, host: 'plain.test' })).status, 200)
    // A passthrough route has no HTTP side at all.
    assert.equal((await httpRequest({ port: gw.ports.http!, host: 'pass.test' })).status, 421)
  })

  // catalogue SH-04
  it('routes by Host whatever its case or port, on the connection that verified the client', async () => {
    assert.equal((await request('a.test', pki.cliA, { host: 'A.Test:443' })).status, 200)
    assert.equal((await request('a.test', pki.cliA, { host: 'b.test' })).status, 421, 'b.test has another CA bundle')
    assert.equal((await request('a.test', pki.cliA, { host: 'x.wild.test' })).status, 200, 'x.wild.test has the same client CAs: the same policy')
  })

  // catalogue IM-11, SH-07 (b)
  it('never resumes a session across routes with different client-auth policies', async () => {
    const session = await tlsSession('open.test')
    await assert.rejects(request('a.test', undefined, { session, maxVersion: 'TLSv1.2' }), /ECONNRESET|socket hang up|alert|EPIPE|disconnected/)
    const mtlsSession = await tlsSession('a.test', pki.cliA)
    const resumed = await request('a.test', undefined, { session: mtlsSession, maxVersion: 'TLSv1.2' })
    assert.equal(resumed.status, 200, 'a session verified for a.test resumes on a.test')
    // Nor on a route whose client CAs never verified that certificate.
    await assert.rejects(request('chain.w.test', undefined, { session: mtlsSession, maxVersion: 'TLSv1.2' }), /ECONNRESET|socket hang up|alert|EPIPE|disconnected/)
    // Without SNI, Host cannot take the session to a.test: the handshake is the fallback policy's.
    assert.equal((await request(undefined, undefined, { session: mtlsSession, maxVersion: 'TLSv1.2', host: 'a.test' })).status, 421)
  })

  // catalogue IM-11 (nginx CVE-2025-23419): a session verified for a.test, offered without a certificate
  // to a route of other client CAs, in either TLS version.
  it('never resumes a session verified for one mTLS route on another, and forwards nothing for it', async () => {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      const verified = await exchange('a.test', version, pki.cliA)
      assert.equal(verified.status, '200')
      assert.deepEqual(await exchange('a.test', version, undefined, verified.session), { resumed: true, status: '200', session: verified.session }, 'the session stands for alice on a.test')
      const requestsBefore = upstream.requests.length
      for (const servername of ['chain.w.test', 'b.test']) {
        const offered = await exchange(servername, version, undefined, verified.session)
        assert.deepEqual([offered.resumed, offered.status], [false, undefined], `${version} ${servername}`)
      }
      assert.equal(upstream.requests.length, requestsBefore, 'nothing reached the upstream')
    }
  })

  // RFC 6066 3: a session is not resumed under another server name. Within one policy, a host that
  // another certificate serves was reached by a TLS 1.2 session, its own certificate never shown.
  it('never resumes a session on a host of the same policy that another certificate serves', async () => {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      const first = await exchange('open.test', version)
      assert.equal((await exchange('open.test', version, undefined, first.session)).resumed, true, `${version}: on its own host`)
      const elsewhere = await exchange('up.test', version, undefined, first.session)
      assert.deepEqual([elsewhere.resumed, elsewhere.status], [false, '200'], `${version}: on another certificate's host`)
    }
  })

  // A helper's openssl check found tickets advertised for 7200 s (OpenSSL's default), where the keys
  // that read them change every hour: a client keeping a ticket for two hours does a full handshake.
  it('advertises tickets for the hour their keys last, with SNI and without, in TLS 1.2 and 1.3', async () => {
    const hints = async (servername?: string, client?: CertFiles) => {
      const options = { port: gw.ports.https!, host: '127.0.0.1', ...(servername && { servername }), ca: pki.caS.cert, ...(client && { cert: client.cert, key: client.key }) }
      return Promise.all((['TLSv1.2', 'TLSv1.3'] as const).map((version) => firstTicketHint({ ...options, minVersion: version, maxVersion: version })))
    }
    assert.deepEqual(await hints('open.test'), [3600, 3600])
    assert.deepEqual(await hints('a.test', pki.cliA), [3600, 3600], 'a policy with client CAs')
    assert.deepEqual(await hints(undefined), [3600, 3600], 'no SNI: the first open policy')
  })

  // catalogue SH-01
  it('serves each host its own certificate, chosen by SNI in any case, and the first route\'s without SNI', async () => {
    const servedCN = async (servername?: string) => {
      const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', ...(servername && { servername }), ca: pki.caS.cert, checkServerIdentity: () => undefined })
      await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
      const cn = socket.getPeerCertificate().subject.CN
      socket.destroy()
      return cn
    }
    assert.deepEqual(await Promise.all(['up.test', 'UP.TEST', 'open.test', undefined].map(servedCN)), ['up.test', 'up.test', 'srv', 'srv'])
  })

  it('serves an RSA host its RSA certificate where the first route of its TLS policy has an ECDSA one, and never the other way', async () => {
    const handshake = (servername: string, options: tls.ConnectionOptions = {}) => {
      const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername, ca: [pki.caS.cert, rsa.root.cert], ...options })
      return new Promise<string | undefined>((resolve, reject) => socket.once('error', reject).once('secureConnect', () => {
        resolve(String(socket.getPeerCertificate().subject.CN))
        socket.destroy()
      }))
    }
    // Node 20 used to add the host's certificate beside the policy server's own, and OpenSSL took the ECDSA one.
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) assert.equal(await handshake('rsa-server.test', { maxVersion }), 'rsa-server', maxVersion)
    // A client that takes RSA certificates only gets none for an ECDSA host rather than another host's.
    await assert.rejects(handshake('open.test', { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' }), /alert|handshake failure|ECONNRESET/)
  })

  it('gives a client that lists ChaCha20 first ChaCha20, in TLS 1.2 and 1.3, and one that lists AES-GCM first AES-GCM', async () => {
    const negotiated = async (ciphers: string, maxVersion: tls.SecureVersion) => {
      const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'open.test', ca: pki.caS.cert, ciphers, maxVersion })
      await once(socket, 'secureConnect')
      const { name } = socket.getCipher()
      socket.destroy()
      return name
    }
    // A client without AES hardware (older phones) puts ChaCha20 first; the test certificate is ECDSA.
    assert.equal(await negotiated('TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256', 'TLSv1.3'), 'TLS_CHACHA20_POLY1305_SHA256')
    assert.equal(await negotiated('ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256', 'TLSv1.2'), 'ECDHE-ECDSA-CHACHA20-POLY1305')
    assert.equal(await negotiated('TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256', 'TLSv1.3'), 'TLS_AES_128_GCM_SHA256')
  })

  it('agrees on an elliptic-curve key exchange only: a TLS 1.3 client offering finite-field groups alone is refused', async () => {
    const groupOf = async (ecdhCurve: string) => {
      const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'open.test', ca: pki.caS.cert, ecdhCurve, minVersion: 'TLSv1.3' })
      await once(socket, 'secureConnect')
      const { name } = socket.getEphemeralKeyInfo() as { name?: string }
      socket.destroy()
      return name
    }
    assert.deepEqual([await groupOf('X25519'), await groupOf('P-256'), await groupOf('P-384')], ['X25519', 'prime256v1', 'secp384r1'])
    // Server-side ffdhe8192 costs far more CPU per handshake than X25519, for a client that chose it.
    for (const group of ['ffdhe2048', 'ffdhe8192']) {
      await assert.rejects(groupOf(group), /handshake failure|HANDSHAKE_FAILURE/, group)
    }
  })

  // catalogue SH-12, LA-09
  it('offers http/1.1 in ALPN and never h2: a client offering h2 alone gets no_application_protocol', async () => {
    const offering = (ALPNProtocols: string[]) => tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'open.test', ca: pki.caS.cert, ALPNProtocols })
    const both = offering(['h2', 'http/1.1'])
    await once(both, 'secureConnect')
    both.destroy()
    assert.equal(both.alpnProtocol, 'http/1.1')
    await assert.rejects(once(offering(['h2']), 'secureConnect'), { code: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL' })
    // A protocol it does not know is refused as h2 is; a client that offers none is served HTTP/1.1 without ALPN.
    await assert.rejects(once(offering(['foo']), 'secureConnect'), { code: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL' })
    const none = offering([])
    await once(none, 'secureConnect')
    assert.equal(none.alpnProtocol, false)
    none.write('GET / HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n')
    let response = ''
    for await (const chunk of none) response += String(chunk)
    assert.match(response, /^HTTP\/1\.1 200 /)
  })

  /** Refused handshakes of `route` so far, by renegotiation: the counter and the histogram's count. */
  const renegotiationsRefused = async (route: string) => [
    await seriesValue(gw, `portcullis_tls_handshakes_total{side="ingress",route="${route}",result="error",reason="renegotiation"}`),
    await seriesValue(gw, `portcullis_tls_handshake_duration_seconds_count{side="ingress",route="${route}",result="error"}`),
  ]

  /**
   * A TLS 1.2 connection to `servername` with `client`'s certificate, on which the client sends part of a
   * request (as nginx's ssl_sni_reneg.t does) unless `partialRequest` is false, then asks for a
   * renegotiation: what the connection received, once the gateway refused it with OpenSSL's
   * no_renegotiation alert.
   */
  const renegotiate = async (servername: string, client?: Pick<CertFiles, 'cert' | 'key'>, partialRequest = true): Promise<string> => {
    const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername, ca: pki.caS.cert, maxVersion: 'TLSv1.2', ...(client && { cert: client.cert, key: client.key }) })
    await once(socket, 'secureConnect')
    const received: Buffer[] = []
    socket.on('data', (chunk: Buffer) => received.push(chunk))
    if (partialRequest) socket.write(`GET / HTTP/1.1\r\nHost: ${servername}\r\n`)
    const outcome = await new Promise<Error | null>((resolve) => {
      socket.once('error', resolve)
      socket.renegotiate({}, resolve)
    })
    socket.destroy()
    // Node 20 gives the alert a code of its own, Node 24 EPROTO and OpenSSL's text.
    assert.match(`${(outcome as NodeJS.ErrnoException | null)?.code} ${outcome?.message}`, /ERR_SSL_NO_RENEGOTIATION|no renegotiation/, servername)
    return Buffer.concat(received).toString()
  }

  // catalogue IM-13, MT-01
  it('refuses client-initiated renegotiation, with or without client certificates, and counts it under the route', async () => {
    for (const [servername, route, client] of [['open.test', 'open', undefined], ['a.test', 'mtls', pki.cliA]] as const) {
      const [countedBefore = 0, observedBefore = 0] = await renegotiationsRefused(route)
      const [requestsBefore, logsBefore] = [upstream.requests.length, gw.logs.length]
      const received = await renegotiate(servername, client)
      assert.deepEqual([received, upstream.requests.length], ['', requestsBefore], 'no response, nothing forwarded')
      assert.deepEqual(await renegotiationsRefused(route), [countedBefore + 1, observedBefore + 1], route)
      assert.equal((await loggedAfter(gw, logsBefore, 'client TLS handshake refused', (line) => line.route === route)).reason, 'renegotiation')
    }
  })

  it('counts a renegotiation on a connection refused for its certificate, which stays open for its 400', async () => {
    const [countedBefore = 0] = await renegotiationsRefused('mtls')
    // Before any request: its first bytes would get the 400 and the close.
    await renegotiate('a.test', pki.cliB, false)
    assert.equal((await renegotiationsRefused('mtls'))[0], countedBefore + 1)
  })

  // catalogue IM-13
  it('counts a renegotiation openssl s_client asks for (R), and answers nothing after it', async (t) => {
    const [countedBefore = 0] = await renegotiationsRefused('mtls')
    const requestsBefore = upstream.requests.length
    const args = ['s_client', '-connect', `127.0.0.1:${gw.ports.https}`, '-servername', 'a.test', '-tls1_2', '-cert', pki.cliA.certFile, '-key', pki.cliA.keyFile, '-CAfile', pki.caS.certFile]
    const client = spawn('openssl', args)
    // once() rejects on 'error', which is how a missing binary shows.
    const spawned = await once(client, 'spawn').then(() => true, () => false)
    if (!spawned) return t.skip('openssl is not installed')
    let output = ''
    client.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    client.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const exited = once(client, 'exit')
    // s_client may end on the alert before the request below is written to it (EPIPE): nothing to answer.
    client.stdin.on('error', () => undefined)
    await eventually(async () => output.includes('Verify return code'), 5000, 'the handshake')
    // s_client renegotiates on a line that is only "R".
    client.stdin.write('R\n')
    await eventually(async () => (await renegotiationsRefused('mtls'))[0] === countedBefore + 1, 5000, 'the renegotiation counted')
    client.stdin.end('GET / HTTP/1.0\r\nHost: a.test\r\n\r\n')
    await exited
    assert.match(output, /RENEGOTIATING[\s\S]*no renegotiation/)
    assert.doesNotMatch(output, /HTTP\/1\.[01] \d{3}/)
    assert.equal(upstream.requests.length, requestsBefore)
  })

  /** A client's own copies of the identity headers, which only the gateway may set. */
  const forged = { 'x-forwarded-client-cert': 'Subject="CN=admin"', 'client-cert': ':Zm9v:', 'client-cert-chain': ':Zm9v:' }

  // catalogue HF-01, HF-02, HF-10
  it('forwards the verified identity in X-Forwarded-Client-Cert and drops client-sent copies', async () => {
    const reply = await request('a.test', pki.cliA, { headers: forged })
    // Upstream only: never in the client's response.
    for (const name of Object.keys(forged)) assert.equal(reply.headers[name], undefined, name)
    const mtls = JSON.parse(reply.body) as EchoReply
    const hash = new X509Certificate(pki.cliA.cert).fingerprint256.replaceAll(':', '').toLowerCase()
    assert.equal(mtls.headers['x-forwarded-client-cert'], `Hash=${hash};Subject="CN=alice,O=A";URI=spiffe://a/alice;DNS=alice.a.test`)
    assert.equal(mtls.headers['client-cert'], undefined)
    const both = JSON.parse((await request('b.test', pki.cliB, { headers: forged })).body) as EchoReply
    assert.match(String(both.headers['client-cert']), /^:[A-Za-z0-9+/=]+:$/)
    assert.notEqual(both.headers['client-cert'], ':Zm9v:')
    for (const reply of [await request('open.test', undefined, { headers: forged }), await httpRequest({ port: gw.ports.http!, host: 'plain.test', headers: forged })]) {
      const { headers } = JSON.parse(reply.body) as EchoReply
      for (const name of Object.keys(forged)) assert.equal(headers[name], undefined, name)
    }
  })

  // catalogue HF-08
  it('sets its own identity and forwarding headers when Connection nominates them (Traefik CVE-2024-45410)', async () => {
    const ours = ['x-forwarded-client-cert', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip']
    const reply = await request('a.test', pki.cliA, { headers: { ...forged, connection: `close, ${ours.join(', ')}` } })
    const { headers } = JSON.parse(reply.body) as EchoReply
    assert.match(String(headers['x-forwarded-client-cert']), /^Hash=[0-9a-f]{64};Subject="CN=alice,O=A";/)
    assert.deepEqual(
      ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip'].map((name) => headers[name]),
      ['127.0.0.1', 'https', 'a.test', '127.0.0.1'],
    )
  })

  // catalogue HF-02, HF-07
  it('forwards no identity where the route says none, and Client-Cert alone where it says rfc9440', async () => {
    const none = JSON.parse((await request('none.w.test', pki.cliA, { headers: forged })).body) as EchoReply
    for (const name of Object.keys(forged)) assert.equal(none.headers[name], undefined, name)
    const rfc9440 = JSON.parse((await request('rfc.w.test', pki.cliA, { headers: forged })).body) as EchoReply
    assert.equal(rfc9440.headers['x-forwarded-client-cert'], undefined)
    assert.equal(rfc9440.headers['client-cert'], `:${new X509Certificate(pki.cliA.cert).raw.toString('base64')}:`)
  })

  it('forwards identities with an empty subject or one that is not ASCII, as Envoy prints them', async () => {
    const identity = async (client: CertFiles) => {
      const reply = await request('a.test', client)
      assert.equal(reply.status, 200, reply.body)
      return String((JSON.parse(reply.body) as EchoReply).headers['x-forwarded-client-cert'])
    }
    assert.match(await identity(pki.cliNoSubject), /^Hash=[0-9a-f]{64};Subject=;URI=spiffe:\/\/a\/workload$/)
    // Each UTF-8 byte as \XX (RFC 4514), so the header stays ASCII; the backslashes are escaped inside the quotes.
    const unicode = await identity(pki.cliUnicode)
    assert.match(unicode, /;Subject="CN=\\\\C5\\\\82ukasz M\\\\C3\\\\BCller \\\\E4\\\\B8\\\\AD\\\\E6\\\\96\\\\87"$/)
    assert.equal((await request('a.test', pki.cliA)).status, 200, 'the gateway still serves')
  })

  // catalogue HF-04, HF-05: a CN with CR LF, and one that reads as a second attribute if joined naively.
  it('forwards a subject that holds CR LF or ", O=Admin" escaped, never as another header or attribute', async () => {
    for (const [client, subject] of [
      [pki.cliNl, 'CN=evil\\\\0D\\\\0AX-Injected: 1,O=A'],
      [pki.cliEvil, 'CN=evil\\\\, O=Admin,O=A'],
    ] as const) {
      // b.test forwards both formats: XFCC and the DER in Client-Cert.
      const reply = await request('b.test', client)
      assert.equal(reply.status, 200, reply.body)
      const { headers } = JSON.parse(reply.body) as EchoReply
      assert.equal(headers['x-injected'], undefined)
      const hash = new X509Certificate(client.cert).fingerprint256.replaceAll(':', '').toLowerCase()
      assert.equal(headers['x-forwarded-client-cert'], `Hash=${hash};Subject="${subject}"`)
      assert.equal(headers['client-cert'], `:${new X509Certificate(client.cert).raw.toString('base64')}:`)
    }
  })

  // catalogue HF-06
  it('forwards each subjectAltName as the certificate has it, one that reads as two when split at commas included (CVE-2021-44532), without control characters and quoted where it holds a space', async () => {
    const reply = await request('a.test', pki.cliOddSans)
    assert.equal(reply.status, 200, reply.body)
    const xfcc = String((JSON.parse(reply.body) as EchoReply).headers['x-forwarded-client-cert'])
    assert.match(xfcc, /^Hash=[0-9a-f]{64};Subject="CN=odd";URI="spiffe:\/\/a\/x, DNS:evil\.test";URI="spiffe:\/\/a\/\\"q\\"";URI="spiffe:\/\/a\/line break";DNS=ok\.test$/)
  })

  it('serves HTTP/1.0 clients that offer only http/1.0 in ALPN (curl --http1.0), as nginx does', async () => {
    const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'open.test', ca: pki.caS.cert, ALPNProtocols: ['http/1.0'] })
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    assert.equal(socket.alpnProtocol, 'http/1.0')
    socket.write('GET /old HTTP/1.0\r\nHost: open.test\r\n\r\n')
    let response = ''
    for await (const chunk of socket) response += String(chunk)
    assert.match(response, /^HTTP\/1\.1 200/)
    assert.match(response, /"url": "\/old"/)
  })

  // catalogue SH-09
  it('serves an HTTP/1.0 request without Host (openssl s_client) for the host its SNI named, or else the address it reached, as nginx does', async () => {
    const http10 = (target: Partial<TlsTarget> | number) =>
      rawUntilClosed(typeof target === 'number' ? target : { port: gw.ports.https!, ca: pki.caS.cert, checkServerIdentity: () => undefined, ...target }, 'GET /old HTTP/1.0\r\n\r\n')
    const echoed = (response: string) => JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as EchoReply
    for (const [servername, client] of [['open.test', undefined], ['a.test', pki.cliA]] as const) {
      const response = await http10({ servername, ...(client && { cert: client.cert, key: client.key }) })
      assert.match(response, /^HTTP\/1\.1 200/, servername)
      const { url, headers } = echoed(response)
      assert.deepEqual([url, headers.host, headers['x-forwarded-host']], ['/old', servername, servername])
    }
    // The policy of a.test still holds: no certificate, no request.
    await assert.rejects(http10({ servername: 'a.test' }))
    // No SNI, on either listener: the address, which no route has.
    assert.match(await http10({}), /^HTTP\/1\.1 404/)
    assert.match(await http10(gw.ports.http!), /^HTTP\/1\.1 404/)
    // HTTP/1.1 requires Host (RFC 9112 3.2).
    assert.match(await rawUntilClosed({ port: gw.ports.https!, servername: 'open.test', ca: pki.caS.cert }, 'GET / HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 400/)
  })

  it('carries a passthrough route end to end: the client sees the upstream certificate', async () => {
    const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'pass.test', ca: pki.caS.cert, checkServerIdentity: () => undefined })
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    assert.equal(socket.getPeerCertificate().subject.CN, 'up.test')
    socket.write('GET /through HTTP/1.1\r\nHost: pass.test\r\nConnection: close\r\n\r\n')
    let response = ''
    for await (const chunk of socket) response += String(chunk)
    assert.match(response, /^HTTP\/1\.1 200/)
    assert.match(response, /"url": "\/through"/)
  })

  it('counts passthrough connections by how their upstream connect went, and logs failures at a bounded rate', async () => {
    const counted = async (route: string, result: string, reason: string) =>
      (await gw.gateway.metrics.passthroughConnections.get()).values.find(
        (v) => v.labels.route === route && v.labels.result === result && v.labels.reason === reason,
      )?.value ?? 0
    const passthrough = (servername: string) =>
      new Promise<void>((resolve) => {
        const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername, ca: pki.caS.cert, checkServerIdentity: () => undefined })
        socket.once('secureConnect', () => socket.end()).once('close', () => resolve()).once('error', () => undefined)
      })
    const before = { ok: await counted('passthrough', 'ok', 'none'), refused: await counted('passthrough-down', 'error', 'connection_refused') }
    const since = gw.logs.length
    await passthrough('pass.test')
    await Promise.all(Array.from({ length: 60 }, () => passthrough('down.test')))
    assert.equal(await counted('passthrough', 'ok', 'none'), before.ok + 1)
    assert.equal(await counted('passthrough-down', 'error', 'connection_refused'), before.refused + 60)
    const failures = gw.logs.slice(since).filter((line) => line.msg === 'passthrough upstream failed')
    assert.deepEqual([failures.length, failures[0]?.route], [50, 'passthrough-down'], 'the first 50 in one second, each its own line')
    assert.equal((await loggedAfter(gw, since, 'passthrough upstream failed: 10 more in the last 1 s')).count, 10, 'the rest summed up')
  })

  // catalogue IM-09
  it('names only the route CAs in the CertificateRequest, and asks for no certificate without SNI (openssl s_client)', async (t) => {
    const run = promisify(execFile)
    /** The CA names the CertificateRequest lists, one a line; undefined where openssl is missing. */
    const caNames = async (sni: string[]) => {
      const args = ['s_client', '-connect', `127.0.0.1:${gw.ports.https}`, ...sni, '-CAfile', pki.caS.certFile]
      const output = await run('openssl', args, { timeout: 5000 }).then(
        ({ stdout }) => stdout,
        (error: NodeJS.ErrnoException & { stdout?: string }) => (error.code === 'ENOENT' ? undefined : (error.stdout ?? '')),
      )
      if (output === undefined) return undefined
      if (output.includes('No client certificate CA names sent')) return ''
      return output.split('Acceptable client certificate CA names\n')[1]?.split('Requested')[0]
    }
    const both = await caNames(['-servername', 'b.test'])
    if (both === undefined) return t.skip('openssl is not installed')
    assert.equal(both, 'CN = Test Client CA A\nCN = Test Client CA B\n')
    assert.equal(await caNames(['-servername', 'a.test']), 'CN = Test Client CA A\n')
    // The first route asks for no client certificate: no other route's CA is named.
    assert.equal(await caNames(['-noservername']), '')
  })

  const exchange = (servername: string, version: tls.SecureVersion, client?: CertFiles, session?: Buffer) =>
    sessionExchange({ port: gw.ports.https!, servername, version, ca: pki.caS.cert, ...(client && { cert: client.cert, key: client.key }), ...(session && { session }) })

  async function tlsSession(servername: string, client?: CertFiles): Promise<Buffer> {
    const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername, ca: pki.caS.cert, ...(client && { cert: client.cert, key: client.key }), maxVersion: 'TLSv1.2' })
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    const session = socket.getSession()!
    socket.destroy()
    return session
  }
})

describe('a TLS route for an IP address', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  let gw: TestGateway

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    const to = `{ url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }`
    // The open route comes last, yet it is the policy of a ClientHello without SNI (or with a name no
    // route has). The two address routes share a policy (the same client CAs), each with its own certificate.
    gw = await startGateway(`
listen: { https: 0.0.0.0:0 }
routes:
  - { name: other, host: 127.0.0.2, tls: { cert: ${pki.up.certFile}, key: ${pki.up.keyFile}, clientCAs: ${pki.caA.certFile} }, upstream: ${to} }
  - { name: byip, host: 127.0.0.1, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile} }, upstream: ${to} }
  - { name: open, host: open.test, tls: { cert: ${pki.upWrongName.certFile}, key: ${pki.upWrongName.keyFile} }, upstream: ${to} }
`)
  })
  after(async () => {
    await gw.close()
    await upstream.close()
    await pki.cleanup()
  })

  it('is chosen by the address the client connected to, since clients send no SNI for an address', async () => {
    // No servername, as curl and browsers do for https://127.0.0.1/.
    const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', ca: pki.caS.cert, cert: pki.cliA.cert, key: pki.cliA.key })
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    assert.equal(socket.getPeerCertificate().subject.CN, 'srv', "the address route's certificate")
    assert.equal(tls.checkServerIdentity('127.0.0.1', socket.getPeerCertificate()), undefined)
    socket.destroy()
    // Its certificate names no address: only which certificate comes back is checked.
    const other = tls.connect({ port: gw.ports.https!, host: '127.0.0.2', ca: pki.caS.cert, cert: pki.cliA.cert, key: pki.cliA.key, checkServerIdentity: () => undefined })
    await new Promise((resolve, reject) => other.once('secureConnect', resolve).once('error', reject))
    assert.equal(other.getPeerCertificate().subject.CN, 'up.test', 'the other address, its own certificate')
    other.destroy()
    const address = { port: gw.ports.https!, host: '127.0.0.1', ca: pki.caS.cert }
    assert.equal((await httpsRequest({ ...address, cert: pki.cliA.cert, key: pki.cliA.key })).status, 200)
    assert.equal((await httpsRequest(address)).status, 400, 'its client certificate policy holds')
  })

  // Node calls none of the gateway's TLS callbacks for a ClientHello without SNI and ALPN: no alert asks
  // for a certificate then, and a client without one gets the 400 that nginx gives it.
  it('answers a certificate that does not verify, and no certificate where the client offers neither SNI nor ALPN, with 400', async () => {
    const target = { port: gw.ports.https!, ca: pki.caS.cert, cert: pki.cliB.cert, key: pki.cliB.key }
    const request = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
    for (const ALPNProtocols of [['http/1.1'], undefined]) {
      const refused = await answerAfterHandshake({ ...target, ALPNProtocols }, request)
      assert.equal(refused.early, '')
      assert.match(refused.answer, /^HTTP\/1\.1 400 Bad Request\r\n[^]*the client certificate was refused \(unknown_ca\)\n$/)
    }
    const since = gw.logs.length
    const without = await answerAfterHandshake({ port: gw.ports.https!, ca: pki.caS.cert }, request)
    assert.match(without.answer, /^HTTP\/1\.1 400 Bad Request\r\n[^]*a client certificate is required \(no_client_cert\)\n$/)
    assert.equal((await loggedAfter(gw, since, 'client TLS handshake refused')).reason, 'no_client_cert')
    // Its ticket resumes a session without a certificate, which Node 20 calls authorized (TLS 1.3).
    assert.ok(without.session, 'a ticket came')
    const requestsBefore = upstream.requests.length
    for (const resumedWith of [{}, { ALPNProtocols: ['http/1.1'] }]) {
      const resumed = await answerAfterHandshake({ port: gw.ports.https!, ca: pki.caS.cert, session: without.session, ...resumedWith }, request)
      assert.equal(resumed.resumed, true)
      assert.match(resumed.answer, /^HTTP\/1\.1 400 Bad Request\r\n[^]*a client certificate is required \(no_client_cert\)\n$/)
    }
    assert.equal(upstream.requests.length, requestsBefore, 'nothing reached the upstream')
    const withAlpn = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', ca: pki.caS.cert, ALPNProtocols: ['http/1.1'] })
    const [alert] = (await once(withAlpn, 'error')) as [Error]
    assert.match(alert.message, /certificate required/, 'with ALPN, the alert')
  })

  it('gives a ClientHello with a name no route has the policy that asks for no client certificate, not the first one', async () => {
    // wrong.test: a name of the open route's certificate, and of no route.
    const response = await rawExchange({ port: gw.ports.https!, servername: 'wrong.test', ca: pki.caS.cert }, 'GET / HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n')
    assert.match(response, /^HTTP\/1\.1 200 /)
  })

  it("advertises the address route's tickets for the hour their keys last, as every policy server does", async () => {
    const hint = await firstTicketHint({ port: gw.ports.https!, host: '127.0.0.1', ca: pki.caS.cert, cert: pki.cliA.cert, key: pki.cliA.key })
    assert.equal(hint, 3600)
  })
})

describe('a listener of passthrough routes only', () => {
  let gw: TestGateway

  before(async () => {
    gw = await startGateway(`
listen: { https: 127.0.0.1:0 }
routes:
  - { name: tunnel, host: t.test, tls: passthrough, upstream: { url: 'tcp://127.0.0.1:1' } }
`)
  })
  after(() => gw.close())

  it('refuses a ClientHello for a name no route has, having no TLS policy to give it, and counts and logs the refusal', async () => {
    const client = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'nowhere.test' })
    await assert.rejects(once(client, 'secureConnect'), /ECONNRESET|socket disconnected/)
    assert.equal((await loggedAfter(gw, 0, 'client TLS handshake refused')).reason, 'other')
    // A fresh gateway: this is its first handshake.
    assert.equal(await seriesValue(gw, 'portcullis_tls_handshakes_total{side="ingress",route="(none)",result="error",reason="other"}'), 1)
  })
})

describe('TLS session ticket keys', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  let gw: TestGateway
  const LIFETIME_MS = 1000

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    const to = `{ url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }`
    gw = await startGateway(
      `
listen: { https: 127.0.0.1:0 }
routes:
  - { host: open.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }, upstream: ${to} }
`,
      { ticketKeyLifetimeMs: LIFETIME_MS },
    )
  })
  after(async () => {
    await gw.close()
    await upstream.close()
    await pki.cleanup()
  })

  /** A TLS 1.2 connection offering `session`: whether it resumed, and its session. */
  async function connect(session?: Buffer) {
    const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'open.test', ca: pki.caS.cert, maxVersion: 'TLSv1.2', ...(session && { session }) })
    await once(socket, 'secureConnect')
    const resumed = socket.isSessionReused()
    const next = socket.getSession()!
    socket.destroy()
    return { resumed, session: next }
  }

  it('change every period: a ticket of the period before does one full handshake', async () => {
    // Just after a period starts, so that the first two connections share it.
    await pause(LIFETIME_MS - (Date.now() % LIFETIME_MS) + 50)
    const first = await connect()
    assert.equal(ticketLifetimeHint(first.session), 1, 'the hint is the keys\' lifetime')
    assert.equal((await connect(first.session)).resumed, true, 'the same period')
    await pause(LIFETIME_MS + 100)
    const late = await connect(first.session)
    assert.equal(late.resumed, false, 'the keys changed')
    assert.equal((await connect(late.session)).resumed, true, 'the new keys resume')
  })
})
