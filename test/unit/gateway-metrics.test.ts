/**
 * Certificate expiry series: one per route, role and subject, so two certificates that share them (a
 * CA renewed under the same name, both in the bundle) must show the one that expires first. CRL
 * nextUpdate series likewise, by route and issuer, the issuer named as the expiry series name its CA.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { AggregatorRegistry } from 'prom-client'
import { createWorkerPoolMetrics } from '../../src/cluster/worker-pool-metrics.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { setCertificateExpiry, setCrlNextUpdate } from '../../src/gateway-metrics.js'
import { crlIssuerSubject } from '../../src/tls/crl-issuers.js'
import { readCrl } from '../../src/tls/pem.js'
import { createTestCA, createCrl } from '../helpers/pki.js'

describe('certificate expiry series', () => {
  it('shows the soonest expiry of the certificates that share a series, in either order', async () => {
    const DAY = 24 * 60 * 60 * 1000
    const soon = await createTestCA({ commonName: 'Rotated CA', notAfter: new Date(Date.now() + 5 * DAY) })
    const later = await createTestCA({ commonName: 'Rotated CA', notAfter: new Date(Date.now() + 400 * DAY) })
    const soonSeconds = Math.floor(new Date(new X509Certificate(soon.cert).validTo).getTime() / 1000)
    for (const order of [[soon, later], [later, soon]]) {
      const metrics = createMetrics()
      setCertificateExpiry(
        metrics,
        order.map((ca) => ({ route: 'r', routeIndex: 0, path: 'routes[0].tls.clientCAs', role: 'ca' as const, certificate: new X509Certificate(ca.cert), intermediate: false })),
      )
      const { values } = await metrics.certificateExpiry.get()
      assert.deepEqual(
        values.map((v) => [v.labels, v.value]),
        [[{ route: 'r', role: 'ca', subject: 'CN=Rotated CA' }, soonSeconds]],
      )
    }
  })

  it("shows the soonest of the workers' expiries in the primary's sum", async () => {
    // One worker's reload failed: it still serves the certificate that expires in a day.
    const workers = [100, 1].map((days) => {
      const metrics = createMetrics({ defaultMetrics: false })
      metrics.certificateExpiry.set({ route: 'r', role: 'server', subject: 'CN=srv' }, days * 86_400)
      return metrics.registry.getMetricsAsJSON()
    })
    const text = await AggregatorRegistry.aggregate(await Promise.all(workers)).metrics()
    assert.match(text, /^portcullis_certificate_expiry_timestamp_seconds\{route="r",role="server",subject="CN=srv"\} 86400$/m)
  })
})

describe('CRL nextUpdate series', () => {
  const DAY = 24 * 60 * 60 * 1000

  it('names the issuer as the subject of the CA that signed the CRL, RFC 2253 escaped and ordered', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-crl-'))
    try {
      const ca = await createTestCA({ commonName: 'Clients CA', organization: 'Example, Inc.' })
      const other = await createTestCA({ commonName: 'Other CA' })
      const file = join(dir, 'clients.crl')
      await writeFile(file, await createCrl(ca, []))
      const [crl] = readCrl(file)
      const cas = [other, ca].map((issued) => new X509Certificate(issued.cert))
      assert.equal(crlIssuerSubject(crl!, cas), 'CN=Clients CA,O=Example\\, Inc.')
      // No CA of the route issued it (an intermediate's, of a CA the clients send): the library's spelling.
      assert.match(crlIssuerSubject(crl!, cas.slice(0, 1)), /CN=Clients CA/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('reads the nextUpdate and issuer of a CRL of 3,000 entries, as OpenSSL reads it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-crl-'))
    try {
      const ca = await createTestCA({ commonName: 'Busy CA' })
      const nextUpdate = new Date(Math.floor((Date.now() + DAY) / 1000) * 1000)
      const revoked = Array.from({ length: 3000 }, (_, i) => ({ serialNumber: (0x7000000 + i).toString(16) }))
      const file = join(dir, 'busy.crl')
      await writeFile(file, await createCrl(ca, revoked, { nextUpdate }))
      const [crl] = readCrl(file)
      assert.deepEqual(crl!.fields?.nextUpdate, nextUpdate)
      assert.equal(crlIssuerSubject(crl!, [new X509Certificate(ca.cert)]), 'CN=Busy CA')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('shows the soonest nextUpdate of the CRLs of one route and issuer, and none for a CRL without one', async () => {
    const metrics = createMetrics({ defaultMetrics: false })
    const soon = new Date(Date.now() + DAY)
    const crl = (issuer: string, nextUpdate: Date | undefined) => ({ route: 'r', routeIndex: 0, path: 'routes[0].tls.crl', peer: 'client' as const, issuer, nextUpdate })
    setCrlNextUpdate(metrics, [crl('CN=A', new Date(Date.now() + 7 * DAY)), crl('CN=A', soon), crl('CN=B', undefined)])
    const { values } = await metrics.crlNextUpdate.get()
    assert.deepEqual(
      values.map((v) => [v.labels, v.value]),
      [[{ route: 'r', issuer: 'CN=A' }, Math.floor(soon.getTime() / 1000)]],
    )
  })
})

describe('the draining gauge', () => {
  /** The primary's scrape: its own series and its workers', the first `drainingWorkers` of `workers` draining. */
  const primaryScrape = async (primaryDraining: boolean, workers: number, drainingWorkers: number) => {
    const pool = createWorkerPoolMetrics(workers, () => workers)
    if (primaryDraining) pool.draining()
    const registries = Array.from({ length: workers }, (_, i) => {
      const metrics = createMetrics({ defaultMetrics: false })
      if (i < drainingWorkers) metrics.draining.set(1)
      return metrics.registry.getMetricsAsJSON()
    })
    return AggregatorRegistry.aggregate([...(await Promise.all(registries)), await pool.json()]).metrics()
  }

  it("is 1 in the primary's scrape while it or a worker drains, never the number of them, and 0 before", async () => {
    assert.match(await primaryScrape(false, 2, 0), /^portcullis_draining 0$/m)
    assert.match(await primaryScrape(true, 2, 2), /^portcullis_draining 1$/m)
    // Every worker has exited, or none has had the signal yet: the primary's own says it.
    assert.match(await primaryScrape(true, 0, 0), /^portcullis_draining 1$/m)
    assert.match(await primaryScrape(true, 2, 0), /^portcullis_draining 1$/m)
  })
})
