/**
 * upstream.crl (catalogue UV-08), as nginx's proxy_ssl_crl: an upstream whose chain a CRL revokes gets
 * 502, as does one whose CRL is past its nextUpdate. A CRL edit takes effect at the next upstream
 * connection: its pool is a new identity, and the retired pool's TLS session, which would resume
 * without the chain being verified again, goes with it.
 */
import assert from 'node:assert/strict'
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { httpRequest } from '../helpers/client.js'
import { eventually, loggedAfter, seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { createSelfSignedNonCA, createTestCA, createCrl, issueTestCert, subjectKeyIdOf, type Issued } from '../helpers/pki.js'
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js'

const HOUR = 3_600_000

describe('upstream.crl', () => {
  let dir: string
  let upstream: EchoUpstream
  /** An upstream of another CA that sends its own root along. */
  let stranger: EchoUpstream
  /** An upstream whose self-signed certificate has a keyUsage in BER's constructed form (cert-der.ts reads none). */
  let ber: EchoUpstream
  let gw: TestGateway
  let int: Issued
  let leaf: Issued
  /** Whether each TLS handshake the upstream completed resumed a session, in order. */
  const resumedAtUpstream: boolean[] = []
  /** TCP connections the upstream accepted. */
  let connections = 0
  const crls: Record<string, string> = {}
  const staleNextUpdate = new Date(Math.floor((Date.now() - HOUR / 2) / 1000) * 1000)
  /** The route `live` reads these two, which the tests edit. */
  const live = { root: '', int: '' }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-upstream-crl-'))
    const root = await createTestCA({ commonName: 'Upstream Root CA' })
    int = await createTestCA({ commonName: 'Upstream Intermediate CA', issuer: root, pathLength: 0 })
    leaf = await issueTestCert(int, { commonName: 'up.test', dnsNames: ['up.test'], usage: 'server' })
    const write = async (name: string, pem: string) => {
      crls[name] = join(dir, `${name}.crl`)
      await writeFile(crls[name], pem)
    }
    await write('rootEmpty', await createCrl(root, []))
    await write('rootRevokesInt', await createCrl(root, [int]))
    await write('rootStale', await createCrl(root, [], { nextUpdate: staleNextUpdate }))
    await write('intEmpty', await createCrl(int, []))
    await write('intRevokesLeaf', await createCrl(int, [leaf]))
    await writeFile(join(dir, 'root.crt'), root.cert)
    live.root = join(dir, 'live-root.crl')
    live.int = join(dir, 'live-int.crl')
    await copyFile(crls.rootEmpty!, live.root)
    await copyFile(crls.intEmpty!, live.int)

    upstream = await startEchoUpstream({ cert: leaf.cert + int.cert, key: leaf.key })
    const otherRoot = await createTestCA({ commonName: 'Other Root CA' })
    const otherLeaf = await issueTestCert(otherRoot, { commonName: 'up.test', dnsNames: ['up.test'], usage: 'server' })
    stranger = await startEchoUpstream({ cert: otherLeaf.cert + otherRoot.cert, key: otherLeaf.key })
    const berCert = await createSelfSignedNonCA({ commonName: 'up.test', keyUsage: ['230403020780'] })
    ber = await startEchoUpstream({ cert: berCert.cert, key: berCert.key })
    upstream.server.on('connection', () => connections++)
    upstream.server.on('secureConnection', (socket: TLSSocket) => resumedAtUpstream.push(socket.isSessionReused()))
    const route = (name: string, crl: string[], port = upstream.port) =>
      `  - { name: ${name}, host: ${name}.test, upstream: { url: 'https://127.0.0.1:${port}', serverName: up.test, ca: ${join(dir, 'root.crt')}, crl: [${crl.join(', ')}] } }`
    gw = await startGateway(
      `listen: { http: 127.0.0.1:0 }
routes:
${route('ok', [crls.rootEmpty!, crls.intEmpty!])}
${route('revoked', [crls.rootEmpty!, crls.intRevokesLeaf!])}
${route('intrevoked', [crls.rootRevokesInt!, crls.intEmpty!])}
${route('stale', [crls.rootStale!, crls.intEmpty!])}
${route('live', [live.root, live.int])}
${route('stranger', [crls.rootEmpty!, crls.intEmpty!], stranger.port)}
${route('ber', [crls.rootEmpty!, crls.intEmpty!], ber.port)}
`,
      { reloadIntervalMs: 0 },
    )
  })
  after(async () => {
    await gw.close()
    await upstream.close()
    await stranger.close()
    await ber.close()
    await rm(dir, { recursive: true, force: true })
  })

  const get = (route: string) => httpRequest({ port: gw.ports.http!, host: `${route}.test` })
  const handshakes = (route: string, result: string, reason: string) =>
    seriesValue(gw, `portcullis_tls_handshakes_total{side="upstream",route="${route}",result="${result}",reason="${reason}"}`)

  // catalogue UV-08
  it('reaches an upstream whose chain no CRL lists', async () => {
    assert.equal((await get('ok')).status, 200)
    assert.equal(await handshakes('ok', 'ok', 'none'), 1)
  })

  /** A request to `route` answered 502 after one handshake (no retry): its failure's log line. */
  const refused = async (route: string) => {
    const [since, connectionsBefore] = [gw.logs.length, connections]
    assert.equal((await get(route)).status, 502)
    assert.equal(connections, connectionsBefore + 1, 'one connection, not sent again')
    return loggedAfter(gw, since, 'upstream request failed', (line) => line.route === route)
  }

  // "CRL log lines do not name the certificate": an operator told "certificate revoked" had to find
  // out by hand which certificate of which upstream, and in which file.
  it('answers 502 for an upstream certificate its CRL revokes, counted and logged as revoked, naming the certificate and the CRL files', async () => {
    const logged = await refused('revoked')
    assert.deepEqual([logged.reason, logged.code, logged.error], ['revoked', 'PCL_ERR_UPSTREAM_TLS', { code: 'CERT_REVOKED', message: 'certificate revoked' }])
    assert.equal(await handshakes('revoked', 'error', 'revoked'), 1)
    assert.deepEqual(logged.certificate, {
      subject: 'CN=up.test',
      serialNumber: leaf.serialNumber.toUpperCase(),
      issuer: 'CN=Upstream Intermediate CA',
      issuerKeyId: subjectKeyIdOf(int),
    })
    assert.deepEqual(logged.crl, [crls.rootEmpty, crls.intRevokesLeaf])
    assert.doesNotMatch(JSON.stringify(gw.logs), /BEGIN|MII|PRIVATE/, 'no certificate or key in the log')
  })

  it("answers 502 for an upstream whose intermediate the root's CRL revokes", async () => {
    assert.equal((await refused('intrevoked')).reason, 'revoked')
    assert.equal(await handshakes('intrevoked', 'error', 'revoked'), 1)
  })

  it("answers 502 past a CRL's nextUpdate, as ingress names it: reason other, logged as CRL_HAS_EXPIRED", async () => {
    const logged = await refused('stale')
    assert.deepEqual([logged.reason, logged.code, (logged.error as { code: string }).code], ['other', 'PCL_ERR_UPSTREAM_TLS', 'CRL_HAS_EXPIRED'])
    assert.equal((logged.certificate as { subject: string }).subject, 'CN=up.test')
    assert.deepEqual(logged.crl, [crls.rootStale, crls.intEmpty])
    assert.equal(await handshakes('stale', 'error', 'other'), 1)
  })

  // OpenSSL reports the last error it finds: the missing CRL of the root the upstream sent, after the
  // chain's own (as catalogue IC-05 for a client).
  it('answers 502 for an upstream of another CA that sends its own root as unknown_ca, not as a missing CRL', async () => {
    const since = gw.logs.length
    assert.equal((await get('stranger')).status, 502)
    const logged = await loggedAfter(gw, since, 'upstream request failed', (line) => line.route === 'stranger')
    assert.deepEqual([logged.reason, (logged.error as { code: string }).code], ['unknown_ca', 'SELF_SIGNED_CERT_IN_CHAIN'])
    assert.equal(await handshakes('stranger', 'error', 'unknown_ca'), 1)
  })

  // Finding whether its chain reached upstream.ca, for the refusal's reason, threw out of the process.
  it('answers 502 for an upstream certificate of DER it does not read, and serves on', async () => {
    assert.equal((await get('ber')).status, 502)
    assert.equal(await handshakes('ber', 'error', 'other'), 1)
    assert.equal((await get('ok')).status, 200)
  })

  it("exports each upstream CRL's nextUpdate in the CRL gauge, by route and issuer", async () => {
    const nextUpdate = (route: string, issuer: string) => seriesValue(gw, `portcullis_crl_next_update_timestamp_seconds{route="${route}",issuer="${issuer}"}`)
    assert.equal(await nextUpdate('stale', 'CN=Upstream Root CA'), staleNextUpdate.getTime() / 1000)
    assert.ok((await nextUpdate('stale', 'CN=Upstream Intermediate CA')) > Date.now() / 1000)
  })

  // catalogue UV-08, UV-09, RR-07
  it('takes a CRL edit at the next upstream connection: the pooled one goes with its pool', async () => {
    assert.equal((await get('live')).status, 200)
    assert.equal((await get('live')).status, 200, 'on the pooled connection')
    await copyFile(crls.intRevokesLeaf!, live.int)
    await eventually(async () => (await get('live')).status === 502, 5000, 'the edited CRL refusing the upstream')
    await copyFile(crls.intEmpty!, live.int)
    await eventually(async () => (await get('live')).status === 200, 5000, 'the CRL without it letting it through again')
  })

  // catalogue UV-09
  it('resumes no TLS session of the pool a CRL edit retired', async () => {
    assert.equal((await get('live')).status, 200)
    // A new connection of the same pool resumes its session (the chain is not verified again then).
    upstream.server.closeAllConnections()
    assert.equal((await get('live')).status, 200)
    assert.equal(resumedAtUpstream.at(-1), true, 'the pool resumes its session')
    // The CRL re-issued, revoking nothing more: a new pool, whose first connection verifies the chain.
    await writeFile(live.int, await createCrl(int, []))
    const reloaded = await gw.gateway.reload()
    assert.deepEqual([reloaded.ok, reloaded.errors], [true, []])
    const handshakesBefore = resumedAtUpstream.length
    assert.equal((await get('live')).status, 200)
    assert.deepEqual(resumedAtUpstream.slice(handshakesBefore), [false], 'a full handshake')
  })

  // As for tls.crl: OpenSSL checks the CRL of every CA of the chain, the root's too, so such a set
  // could only refuse the upstream.
  it("refuses a reload whose CRLs hold none of a root CA of upstream.ca, and keeps the last good config", async () => {
    const other = await createTestCA({ commonName: 'Unrelated CA' })
    await writeFile(live.root, await createCrl(other, []))
    const { ok, errors } = await gw.gateway.reload()
    assert.equal(ok, false)
    assert.match(errors.join('\n'), /routes\[4\]\.upstream\.crl: .*live-root\.crl, .*live-int\.crl hold no CRL of a root CA of .*root\.crt \(CN=Upstream Root CA\), in its name and signed by its key, only CRLs of CN=Unrelated CA; CN=Upstream Intermediate CA: .* so every upstream certificate would be refused/)
    assert.equal((await get('live')).status, 200, 'the last good config serves')
  })
})
