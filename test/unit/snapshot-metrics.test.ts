/**
 * Certificate expiry series: one per route, role and subject, so two certificates that share them (a
 * CA renewed under the same name, both in the bundle) must show the one that expires first.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { describe, it } from 'node:test'
import { createMetrics } from '../../src/metrics/metrics.js'
import { setCertificateExpiry } from '../../src/metrics/snapshot-metrics.js'
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
        order.map((ca) => ({ route: 'r', routeIndex: 0, path: 'routes[0].tls.clientCAs', role: 'ca' as const, certificate: new X509Certificate(ca.cert) })),
      )
      const { values } = await metrics.certificateExpiry.get()
      assert.deepEqual(
        values.map((v) => [v.labels, v.value]),
        [[{ route: 'r', role: 'ca', subject: 'CN=Rotated CA' }, soonSeconds]],
      )
    }
  })
})
