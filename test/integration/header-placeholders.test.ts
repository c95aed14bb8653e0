/**
 * Placeholders in headers.request.set: the client certificate's subject, common name, fingerprint,
 * serial number and first URI and DNS names, the TLS version and the client's address reach the
 * upstream in the headers a route sets, made header-safe; a client without a certificate sends none of
 * them, not even its own copies, and literal braces stay text. The access log names the certificate
 * too (its subject and fingerprint).
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { httpsRequest } from '../helpers/client.js'
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type CertFiles, type TestPki } from '../helpers/pki.js'
import { startEchoUpstream, type EchoReply, type EchoUpstream } from '../helpers/upstream.js'

describe('placeholders in the headers a route sets upstream', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  let gw: TestGateway

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    gw = await startGateway(`
listen: { https: 127.0.0.1:0 }
accessLog: true
routes:
  - name: placeholders
    host: opt.w.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile}, clientCertRequired: false }
    headers:
      request:
        set:
          X-Client-Subject: '{tls.client.subject}'
          X-Client-CN: '{tls.client.commonName}'
          X-Client-Fingerprint: '{tls.client.fingerprint}'
          X-Client-Serial: '{tls.client.serial}'
          X-Client-URI: '{tls.client.uri}'
          X-Client-DNS: '{tls.client.dns}'
          X-Connection: '{tls.version} from {client.address}'
          X-Json: '{"tls.version": 1}'
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }
`)
  })
  after(async () => {
    await gw?.close()
    await upstream?.close()
    await pki?.cleanup()
  })

  /** The headers the upstream got for a request of `client` (none: without a certificate). */
  async function headersSeen(client?: CertFiles, sent: Record<string, string> = {}): Promise<EchoReply['headers']> {
    const reply = await httpsRequest({ port: gw.ports.https!, servername: 'opt.w.test', ca: pki.caS.cert, ...(client && { cert: client.cert, key: client.key }), headers: sent })
    assert.equal(reply.status, 200)
    return (JSON.parse(reply.body) as EchoReply).headers
  }

  it("fills each with the client certificate's fields, the TLS version and the client's address", async () => {
    const seen = await headersSeen(pki.cliA)
    const alice = new X509Certificate(pki.cliA.cert)
    assert.equal(seen['x-client-subject'], 'CN=alice,O=A')
    assert.equal(seen['x-client-cn'], 'alice')
    assert.equal(seen['x-client-fingerprint'], alice.fingerprint256.replaceAll(':', '').toLowerCase())
    assert.equal(seen['x-client-serial'], alice.serialNumber)
    assert.equal(seen['x-client-uri'], 'spiffe://a/alice')
    assert.equal(seen['x-client-dns'], 'alice.a.test')
    assert.equal(seen['x-connection'], 'TLSv1.3 from 127.0.0.1')
    assert.equal(seen['x-json'], '{"tls.version": 1}', 'braces around other text are text')
  })

  it("sends none of the certificate's headers for a client without one, nor the copies it sent", async () => {
    const spoofed = { 'x-client-subject': 'CN=admin', 'x-client-cn': 'admin', 'x-client-uri': 'spiffe://a/admin' }
    const seen = await headersSeen(undefined, spoofed)
    for (const name of ['x-client-subject', 'x-client-cn', 'x-client-fingerprint', 'x-client-serial', 'x-client-uri', 'x-client-dns']) assert.equal(seen[name], undefined, name)
    assert.equal(seen['x-connection'], 'TLSv1.3 from 127.0.0.1')
  })

  it("names the client certificate's subject and fingerprint in the access log, and none for a client without one", async () => {
    const alice = new X509Certificate(pki.cliA.cert)
    const fingerprint = alice.fingerprint256.replaceAll(':', '').toLowerCase()
    await headersSeen(pki.cliA, { 'x-trace': 'with' })
    await headersSeen(undefined, { 'x-trace': 'without' })
    await eventually(async () => gw.logs.filter((line) => line.msg === 'request').length >= 2, 3000, 'the access lines')
    const lines = gw.logs.filter((line) => line.msg === 'request' && line.route === 'placeholders')
    assert.ok(lines.some((line) => JSON.stringify(line.clientCertificate) === JSON.stringify({ subject: 'CN=alice,O=A', fingerprint })))
    assert.ok(lines.some((line) => line.clientCertificate === undefined))
  })

  it('makes certificate text header-safe: no line break gets through, and other characters than ASCII are written \\XX', async () => {
    const injected = await headersSeen(pki.cliNl)
    assert.equal(injected['x-injected'], undefined)
    assert.doesNotMatch(String(injected['x-client-cn']), /[\r\n]/)
    assert.match(String(injected['x-client-cn']), /^evil/)
    const unicode = await headersSeen(pki.cliUnicode)
    assert.equal(unicode['x-client-cn'], '\\C5\\82ukasz M\\C3\\BCller \\E4\\B8\\AD\\E6\\96\\87')
    const odd = await headersSeen(pki.cliOddSans)
    assert.equal(odd['x-client-uri'], 'spiffe://a/x, DNS:evil.test')
    assert.equal(odd['x-client-dns'], 'ok.test')
  })
})
