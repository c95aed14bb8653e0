/**
 * upstream.subjectAltNames: an upstream whose certificate names a workload (a SPIFFE id, no host) is
 * verified by the names listed in place of its url's host; one that carries none of them is refused
 * as a name mismatch (502), and the log line says which names it carries.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { httpRequest } from '../helpers/client.js'
import { loggedAfter, seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { createTestCA, issueTestCert } from '../helpers/pki.js'
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js'

describe('an upstream verified by its subjectAltNames', () => {
  let dir: string
  let upstream: EchoUpstream
  let gw: TestGateway

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-sans-'))
    const ca = await createTestCA({ commonName: 'Workload CA' })
    const workload = await issueTestCert(ca, { commonName: 'orders', uris: ['spiffe://example.org/ns/prod/sa/orders'], usage: 'server' })
    await writeFile(join(dir, 'ca.crt'), ca.cert)
    upstream = await startEchoUpstream({ cert: workload.cert, key: workload.key })
    const route = (host: string, names: string) =>
      `  - { host: ${host}, upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${join(dir, 'ca.crt')}${names} } }\n`
    gw = await startGateway(
      'listen: { http: 127.0.0.1:0 }\nroutes:\n' +
        route('prod.test', ", subjectAltNames: { uri: ['spiffe://example.org/ns/prod/*'] }") +
        route('exact.test', ", subjectAltNames: { uri: ['spiffe://example.org/ns/prod/sa/orders'], dns: [orders.internal] }") +
        route('dev.test', ", subjectAltNames: { uri: ['spiffe://example.org/ns/dev/*'], dns: [orders.internal] }") +
        route('host.test', ''),
    )
  })
  after(async () => {
    await gw?.close()
    await upstream?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const get = async (host: string) => (await httpRequest({ port: gw.ports.http!, host, path: '/' })).status

  it('serves a route whose names the certificate carries, exactly or by a prefix', async () => {
    assert.deepEqual([await get('prod.test'), await get('exact.test')], [200, 200])
  })

  it('refuses an upstream that carries none of them as a name mismatch, saying what it carries', async () => {
    const since = gw.logs.length
    assert.equal(await get('dev.test'), 502)
    const logged = await loggedAfter(gw, since, 'upstream request failed', (line) => line.route === 'dev.test')
    assert.equal(logged.reason, 'hostname_mismatch')
    assert.match(String(logged.hint), /^it carries spiffe:\/\/example\.org\/ns\/prod\/sa\/orders: list one in upstream\.subjectAltNames/)
    assert.equal(await seriesValue(gw, 'portcullis_upstream_errors_total{route="dev.test",reason="hostname_mismatch",stage="before_response"}'), 1)
  })

  it('without them, verifies the url host, which a workload certificate does not name', async () => {
    assert.equal(await get('host.test'), 502)
  })
})
