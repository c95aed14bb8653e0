/** Why a refused chain did not reach the bundle, where a CRL's verdict was reported in its place. */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { describe, it } from 'node:test'
import { chainErrorBeneathCrlVerdict } from '../../src/tls/chain-path.js'
import { createTestCA } from '../helpers/pki.js'

describe('chainErrorBeneathCrlVerdict', () => {
  // A client on a route with tls.crl that sent 200 certificates of one name, each signed by the next
  // one's key, held the event loop for over a second at each handshake while its path was looked for:
  // a chain longer than any real one keeps OpenSSL's verdict.
  it('gives the verdict of a chain that reaches no CA of the bundle, up to ten certificates', async () => {
    const bundle = [new X509Certificate((await createTestCA({ commonName: 'Bundle Root' })).cert)]
    let ca = await createTestCA({ commonName: 'CA 0' })
    const chain: X509Certificate[] = []
    for (let i = 1; i <= 11; i++) {
      ca = await createTestCA({ commonName: `CA ${i}`, issuer: ca })
      chain.unshift(new X509Certificate(ca.cert))
    }
    assert.equal(chainErrorBeneathCrlVerdict('UNABLE_TO_GET_CRL', chain.slice(-10), bundle)?.code, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY')
    assert.equal(chainErrorBeneathCrlVerdict('UNABLE_TO_GET_CRL', chain, bundle), undefined)
  })
})
