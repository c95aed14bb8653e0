/**
 * Certificate expiry series: one per route, role and subject, so two certificates that share them (a
 * CA renewed under the same name, both in the bundle) must show the one that expires first.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { describe, it } from 'node:test'
import { AggregatorRegistry } from 'prom-client'
import { createMetrics } from '../../src/metrics/metrics.js'
import { setCertificateExpiry } from '../../src/gateway-metrics.js'
import { createCA } from '../../src/tls/pki.js'

describe('certificate expiry series', () => {
  it('shows the soonest expiry of the certificates that share a series, in either order', async () => {
    const DAY = 24 * 60 * 60 * 1000
    const soon = await createCA({ commonName: 'Rotated CA', notAfter: new Date(Date.now() + 5 * DAY) })
    const later = await createCA({ commonName: 'Rotated CA', notAfter: new Date(Date.now() + 400 * DAY) })
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
