/** The hint of a chain refused as unknown_ca: which CA is missing, and where it belongs. */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { before, describe, it } from 'node:test'
import { unknownIssuerHint } from '../../src/tls/unknown-issuer.js'
import { createTestCA, issueTestCert } from '../helpers/pki.js'

describe('unknownIssuerHint', () => {
  const x509 = (pem: string) => new X509Certificate(pem)
  let root: X509Certificate
  let intermediate: X509Certificate
  let leaf: X509Certificate
  let otherRoot: X509Certificate
  let sameNameRoot: X509Certificate
  let leafOfSameNameRoot: X509Certificate

  before(async () => {
    const rootCa = await createTestCA({ commonName: 'Root' })
    const intermediateCa = await createTestCA({ commonName: 'Intermediate', issuer: rootCa })
    root = x509(rootCa.cert)
    intermediate = x509(intermediateCa.cert)
    leaf = x509((await issueTestCert(intermediateCa, { commonName: 'up.test', dnsNames: ['up.test'], usage: 'server' })).cert)
    otherRoot = x509((await createTestCA({ commonName: 'Other' })).cert)
    const sameNameRootCa = await createTestCA({ commonName: 'Root' })
    sameNameRoot = x509(sameNameRootCa.cert)
    leafOfSameNameRoot = x509((await issueTestCert(sameNameRootCa, { commonName: 'up.test', dnsNames: ['up.test'], usage: 'server' })).cert)
  })

  it('gives none where the chain reaches a CA of upstream.ca', () => {
    assert.equal(unknownIssuerHint([leaf, intermediate], [root], 'upstream'), undefined)
  })

  it('names the issuer of the last certificate the upstream sent that leads on from its own', () => {
    assert.equal(
      unknownIssuerHint([leaf, intermediate], [otherRoot], 'upstream'),
      'CN=Intermediate (an intermediate the upstream sent) is issued by CN=Root, which upstream.ca does not hold: put that CA in upstream.ca, or, if it is an intermediate, have the upstream send it with its certificate',
    )
    assert.match(String(unknownIssuerHint([leaf], [root], 'upstream')), /^the upstream's certificate is issued by CN=Intermediate, which upstream\.ca does not hold/)
    assert.match(String(unknownIssuerHint([leaf, intermediate], undefined, 'upstream')), /^CN=Intermediate \(an intermediate the upstream sent\) is issued by CN=Root, which is no root the system trusts \(upstream\.ca is not set\)/)
  })

  it("says where upstream.ca holds a CA of the issuer's name with another key", () => {
    assert.match(String(unknownIssuerHint([leaf, intermediate], [sameNameRoot], 'upstream')), /^upstream\.ca holds a CA named CN=Root, but not the key that signed CN=Intermediate \(an intermediate the upstream sent\)/)
  })

  it("gives a client's certificate the hint of a CA of the issuer's name alone: another CA's is what unknown_ca means", () => {
    assert.equal(unknownIssuerHint([leaf, intermediate], [otherRoot], 'client'), undefined)
    assert.match(String(unknownIssuerHint([leaf, intermediate], [sameNameRoot], 'client')), /^tls\.clientCAs holds a CA named CN=Root, but not the key that signed CN=Intermediate \(an intermediate the client sent\)/)
  })

  it('says a root the peer sent is a root, where upstream.ca holds another CA of its name', () => {
    assert.match(String(unknownIssuerHint([leafOfSameNameRoot, sameNameRoot], [root], 'upstream')), /^upstream\.ca holds a CA named CN=Root, but not the key that signed CN=Root \(a root the upstream sent\)/)
  })

  // A bundle of several CAs may hold an intermediate without its root: the hint said the upstream sent it.
  it('says where the chain stops at an intermediate of upstream.ca', () => {
    assert.match(String(unknownIssuerHint([leaf], [otherRoot, intermediate], 'upstream')), /^CN=Intermediate \(an intermediate of upstream\.ca\) is issued by CN=Root, which upstream\.ca does not hold/)
  })

  // A certificate is the peer's own text: a name of kilobytes made a hint of kilobytes in each log line.
  it("cuts a long name as the log line cuts the certificate's own", async () => {
    const long = await createTestCA({ commonName: 'L'.repeat(2000) })
    const issued = x509((await issueTestCert(long, { commonName: 'up.test', dnsNames: ['up.test'], usage: 'server' })).cert)
    assert.match(String(unknownIssuerHint([issued], [otherRoot], 'upstream')), /^the upstream's certificate is issued by CN=L{253}…, which upstream\.ca does not hold/)
  })

  // An upstream, or anyone on the way to it, that sent hundreds of certificates of one name, each signed
  // by the next one's key, held the event loop for seconds at each connection while the hint looked for
  // a path through them: a chain longer than any real one gets none.
  it('gives none for a chain longer than ten certificates', async () => {
    let ca = await createTestCA({ commonName: 'CA 0' })
    const chain: X509Certificate[] = []
    for (let i = 1; i <= 11; i++) {
      ca = await createTestCA({ commonName: `CA ${i}`, issuer: ca })
      chain.unshift(x509(ca.cert))
    }
    assert.match(String(unknownIssuerHint(chain.slice(-10), [otherRoot], 'upstream')), /^CN=CA 1 \(an intermediate the upstream sent\) is issued by CN=CA 0/)
    assert.equal(unknownIssuerHint(chain, [otherRoot], 'upstream'), undefined)
  })

  it('names a root the upstream sent that upstream.ca, or the system, does not hold', () => {
    assert.equal(
      unknownIssuerHint([leaf, intermediate, root], [otherRoot], 'upstream'),
      "the upstream's chain ends at CN=Root, a root that upstream.ca does not hold: add it to upstream.ca",
    )
    assert.match(String(unknownIssuerHint([root], undefined, 'upstream')), /^the upstream's chain ends at CN=Root, a root the system does not trust: set upstream\.ca/)
  })
})
