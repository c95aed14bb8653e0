/**
 * tls.ocsp: each client certificate's status is asked of an OCSP responder (a real one on a loopback
 * port, test/helpers/ocsp-responder.ts) at its first handshake and remembered; a revoked or unknown
 * certificate is refused with 400, as a CRL refuses it; where no answer can be had, the client is
 * refused, or with `unreachable: allow` served. A resumed session is held to the answer too, and a
 * reload that turns OCSP on closes the kept connection of a revoked certificate.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { httpsRequest, sessionExchange } from '../helpers/client.js'
import { seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { startOcspResponder, type OcspAnswering, type OcspResponder } from '../helpers/ocsp-responder.js'
import { createTestCA, issueTestCert, makeTestPki, type Issued, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback, startEchoUpstream, type EchoReply, type EchoUpstream } from '../helpers/upstream.js'

describe('OCSP lookups of client certificates (tls.ocsp)', () => {
  let pki: TestPki
  let ca: Issued
  let caFile: string
  let responder: OcspResponder
  /** A port where nothing answers: a responder that is down. */
  let deadPort: number
  let upstream: EchoUpstream
  let gw: TestGateway
  let serial = 0

  /** A new client certificate of `ca`, which no lookup has asked about yet. */
  async function newClient(options: { ocsp?: string } = {}): Promise<{ cert: string; key: string }> {
    serial += 1
    const issued = await issueTestCert(ca, { commonName: `client ${serial}`, usage: 'client', ...options })
    return { cert: issued.cert, key: issued.key }
  }

  const route = (name: string, ocsp: string) => `
  - name: ${name}
    host: ${name}.w.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${caFile}${ocsp} }
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }`
  const config = (checked = `, ocsp: { responder: '${responder.url}' }`) => `
listen: { https: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:${route('checked', checked)}${route('open', `, ocsp: { responder: '${responder.url}', unreachable: allow, timeout: 300ms }`)}${route('down', `, ocsp: { responder: 'http://127.0.0.1:${deadPort}/' }`)}${route('slow', `, ocsp: { responder: '${responder.url}', timeout: 300ms }`)}${route('own', ', ocsp: {}')}
`

  before(async () => {
    pki = await makeTestPki()
    ca = await createTestCA({ commonName: 'Test OCSP Client CA' })
    caFile = join(pki.dir, 'ocsp-ca.crt')
    await writeFile(caFile, ca.cert)
    responder = await startOcspResponder(ca)
    const closed = http.createServer()
    deadPort = await listenOnLoopback(closed)
    await new Promise((resolve) => closed.close(resolve))
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    gw = await startGateway(config(), { watch: false, reloadIntervalMs: 0 })
  })
  after(async () => {
    await gw?.close()
    await upstream?.close()
    await responder?.close()
    await pki?.cleanup()
  })

  /** Runs `exchange` while the responder answers as `answering` says. */
  async function answeringAs<T>(answering: OcspAnswering, exchange: () => Promise<T>): Promise<T> {
    responder.answering = answering
    try {
      return await exchange()
    } finally {
      responder.answering = {}
    }
  }

  /** A keep-alive TLS connection of `client` to the checked route, after a first request it served (before OCSP is on). */
  async function keptConnection(client: { cert: string; key: string }): Promise<tls.TLSSocket> {
    const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'checked.w.test', ca: pki.caS.cert, ...client })
    await once(socket, 'secureConnect')
    assert.match(await firstAnswer(socket), /^HTTP\/1\.1 200 /)
    return socket
  }

  /** The first bytes of the answer to a GET on `socket`. */
  function firstAnswer(socket: tls.TLSSocket): Promise<string> {
    return new Promise((resolve) => {
      socket.once('data', (chunk: Buffer) => resolve(chunk.toString()))
      socket.write('GET / HTTP/1.1\r\nHost: checked.w.test\r\n\r\n')
    })
  }

  async function reloadWith(yaml: string): Promise<void> {
    await writeFile(gw.configFile, yaml)
    assert.equal((await gw.gateway.reload()).ok, true)
  }

  const request = (host: string, client: { cert: string; key: string }, options: { maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}) =>
    httpsRequest({ port: gw.ports.https!, servername: `${host}.w.test`, ca: pki.caS.cert, cert: client.cert, key: client.key, ...options })
  const handshakes = (route: string, reason: string) =>
    seriesValue(gw, `portcullis_tls_handshakes_total{side="ingress",route="${route}",result="${reason === 'none' ? 'ok' : 'error'}",reason="${reason}"}`)
  const lookups = (result: string) => seriesValue(gw, `portcullis_ocsp_lookups_total{result="${result}"}`)

  it('serves a certificate the responder calls good, and asks once: the answer is remembered until its nextUpdate', async () => {
    const client = await newClient()
    const [asked, good, ok] = [responder.requests, await lookups('good'), await handshakes('checked', 'none')]
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      const reply = await request('checked', client, { maxVersion })
      assert.equal(reply.status, 200, maxVersion)
      assert.match(String((JSON.parse(reply.body) as EchoReply).headers['x-forwarded-client-cert']), /Subject="CN=client \d+"/)
    }
    assert.equal(responder.requests - asked, 1, 'one lookup for both handshakes')
    assert.equal((await lookups('good')) - good, 1)
    assert.equal((await handshakes('checked', 'none')) - ok, 2)
  })

  it('refuses a revoked certificate (revoked) and one the responder does not know (ocsp_unknown) with 400, and counts them', async () => {
    for (const [status, reason] of [['revoked', 'revoked'], ['unknown', 'ocsp_unknown']] as const) {
      const client = await newClient()
      responder.say(client.cert, status)
      const before = await handshakes('checked', reason)
      const reply = await request('checked', client)
      assert.equal(reply.status, 400, status)
      assert.equal(reply.body, `400 Bad Request: the client certificate was refused (${reason})\n`)
      assert.equal(await handshakes('checked', reason), before + 1)
      assert.equal(await lookups(status), 1)
      const logged = gw.logs.find((line) => line.msg === 'client TLS handshake refused' && line.reason === reason)
      assert.equal(logged?.detail, status === 'revoked' ? 'OCSP_CERT_REVOKED' : 'OCSP_CERT_UNKNOWN')
      assert.match(String((logged?.certificate as { subject?: string } | undefined)?.subject), /^CN=client \d+$/)
    }
  })

  it('refuses a client when no answer verifies (bad signature, a signer not made a responder, out of date, tryLater, HTTP 500), and asks again each time', async () => {
    const client = await newClient()
    const notResponder = await issueTestCert(ca, { commonName: 'not a responder', usage: 'client' })
    const otherCa = await createTestCA({ commonName: 'Another CA' })
    const otherResponder = await issueTestCert(otherCa, { commonName: 'responder of another CA', usage: 'ocspSigning' })
    const answerings = [
      { badSignature: true },
      { signer: notResponder },
      { signer: otherResponder },
      { nextUpdate: new Date(Date.now() - 3_600_000) },
      { refusal: 3 /* tryLater */ },
      { httpStatus: 500 },
    ]
    const [failed, asked] = [await lookups('failed'), responder.requests]
    for (const answering of answerings) {
      const reply = await answeringAs(answering, () => request('checked', client))
      assert.equal(reply.status, 400, JSON.stringify(Object.keys(answering)))
      assert.equal(reply.body, '400 Bad Request: the client certificate was refused (ocsp_unavailable)\n')
    }
    assert.equal(responder.requests - asked, answerings.length, 'a failed lookup is not remembered')
    assert.equal((await lookups('failed')) - failed, answerings.length)
    const details = gw.logs.filter((line) => line.msg === 'OCSP lookup of a client certificate failed: no answer that verifies').map((line) => line.detail)
    assert.deepEqual(details.slice(-answerings.length), [
      'OCSP_RESPONSE_INVALID',
      'OCSP_RESPONSE_INVALID',
      'OCSP_RESPONSE_INVALID',
      'OCSP_RESPONSE_INVALID',
      'OCSP_RESPONDER_ERROR',
      'OCSP_RESPONDER_UNREACHABLE',
    ])
    // Once the responder answers again, the client is served.
    assert.equal((await request('checked', client)).status, 200)
  })

  it('takes an answer signed by a responder certificate the CA made for OCSP signing', async () => {
    const [client, revoked] = [await newClient(), await newClient()]
    responder.say(revoked.cert, 'revoked')
    const signer = await issueTestCert(ca, { commonName: 'delegated responder', usage: 'ocspSigning' })
    await answeringAs({ signer }, async () => {
      assert.equal((await request('checked', client)).status, 200)
      assert.equal((await request('checked', revoked)).status, 400)
    })
  })

  it('refuses a client when the responder is down, or does not answer within the timeout', async () => {
    const client = await newClient()
    assert.equal((await request('down', client)).status, 400)
    assert.equal(await handshakes('down', 'ocsp_unavailable'), 1)
    const reply = await answeringAs({ delayMs: 2_000 }, () => request('slow', client))
    assert.equal(reply.status, 400)
    assert.equal(reply.body, '400 Bad Request: the client certificate was refused (ocsp_unavailable)\n')
    const logged = gw.logs.filter((line) => line.msg === 'OCSP lookup of a client certificate failed: no answer that verifies').at(-1)
    assert.equal(logged?.detail, 'OCSP_RESPONDER_UNREACHABLE')
  })

  it('with unreachable: allow, serves a client when no answer can be had, and still refuses a revoked one', async () => {
    const client = await newClient()
    assert.equal((await answeringAs({ httpStatus: 503 }, () => request('open', client))).status, 200)
    const revoked = await newClient()
    responder.say(revoked.cert, 'revoked')
    assert.equal((await request('open', revoked)).status, 400)
  })

  it('holds a request sent right after the handshake until the answer comes, then serves it; clients of one certificate share one lookup', async () => {
    const client = await newClient()
    const asked = responder.requests
    const replies = await answeringAs({ delayMs: 150 }, () => Promise.all([request('checked', client), request('checked', client), request('checked', client)]))
    assert.deepEqual(
      replies.map((reply) => reply.status),
      [200, 200, 200],
    )
    assert.equal(responder.requests - asked, 1)
  })

  it('survives clients that reset their connections while their certificates are asked about, a good one and a revoked one', async () => {
    const [good, revoked] = [await newClient(), await newClient()]
    responder.say(revoked.cert, 'revoked')
    await answeringAs({ delayMs: 200 }, async () => {
      for (const client of [good, revoked]) {
        const tcp = net.connect({ port: gw.ports.https!, host: '127.0.0.1' })
        const socket = tls.connect({ socket: tcp, servername: 'checked.w.test', ca: pki.caS.cert, ...client })
        socket.on('error', () => {})
        await once(socket, 'secureConnect')
        socket.write('GET / HTTP/1.1\r\nHost: checked.w.test\r\n\r\n')
        tcp.resetAndDestroy()
        await once(socket, 'close')
      }
      await new Promise((resolve) => setTimeout(resolve, 300))
    })
    assert.equal((await request('checked', good)).status, 200, 'the gateway still serves')
    assert.equal((await request('checked', revoked)).status, 400)
  })

  it("asks the responder a certificate names (authorityInfoAccess) where tls.ocsp names none, and refuses one that names none", async () => {
    const [named, unnamed] = [await newClient({ ocsp: responder.url }), await newClient()]
    const asked = responder.requests
    assert.equal((await request('own', named)).status, 200)
    assert.equal(responder.requests - asked, 1)
    assert.equal((await request('own', unnamed)).status, 400)
    const logged = gw.logs.filter((line) => line.msg === 'client TLS handshake refused' && line.route === 'own').at(-1)
    assert.equal(logged?.detail, 'OCSP_NO_RESPONDER')
  })

  it('holds a resumed session to the answer: a good one resumes and is served, a revoked one stays refused, in TLS 1.3 and 1.2', async () => {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      const [good, revoked] = [await newClient(), await newClient()]
      responder.say(revoked.cert, 'revoked')
      for (const [client, status] of [[good, '200'], [revoked, '400']] as const) {
        const exchange = { port: gw.ports.https!, servername: 'checked.w.test', version, ca: pki.caS.cert, ...client }
        const first = await sessionExchange(exchange)
        assert.equal(first.status, status, version)
        const second = await sessionExchange({ ...exchange, session: first.session })
        assert.deepEqual([second.resumed, second.status], [true, status], version)
      }
    }
  })

  it('closes, at a reload that turns OCSP on, the kept connection of a certificate the responder calls revoked', async () => {
    await reloadWith(config(''))
    const [good, revoked] = [await newClient(), await newClient()]
    responder.say(revoked.cert, 'revoked')
    const sockets = [await keptConnection(good), await keptConnection(revoked)]
    try {
      const closed = sockets.map((socket) => new Promise<boolean>((resolve) => socket.once('close', () => resolve(true))))
      await reloadWith(config())
      assert.equal(await closed[1], true, 'the revoked client is closed')
      assert.equal(sockets[0]!.destroyed, false, 'the good client keeps its connection')
      assert.match(await firstAnswer(sockets[0]!), /^HTTP\/1\.1 200 /)
    } finally {
      for (const socket of sockets) socket.destroy()
    }
  })

})
