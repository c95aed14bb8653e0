/** The warning of a served chain that leaves out the intermediate above its last certificate. */
import assert from 'node:assert/strict'
import { X509Certificate, webcrypto } from 'node:crypto'
import { rootCertificates } from 'node:tls'
import { describe, it } from 'node:test'
import { incompleteChains } from '../../src/snapshot/incomplete-chains.js'
import { peculiarX509 } from '../../src/tls/peculiar.js'
import { createTestCA, issueTestCert } from '../helpers/pki.js'

const x509 = peculiarX509()

/** A served chain of routes[0].tls.cert, leaf first. */
const served = (...chain: X509Certificate[]) =>
  chain.map((certificate, i) => ({ route: 'a', routeIndex: 0, path: 'routes[0].tls.cert', role: 'server' as const, certificate, intermediate: i > 0 }))

/**
 * A CA certificate of the name of ISRG Root X1, a root of Node's store, with its key (`ownKey`) or
 * another, signed by an old root of another name that no store holds, and naming where that old root
 * is published (caIssuers).
 */
async function crossSignedIsrgRoot(ownKey: boolean): Promise<X509Certificate> {
  const root = rootCertificates.map((pem) => new X509Certificate(pem)).find((certificate) => certificate.subject.includes('CN=ISRG Root X1'))!
  const rsa = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
  const publicKey = ownKey
    ? await webcrypto.subtle.importKey('spki', root.publicKey.export({ type: 'spki', format: 'der' }), rsa, true, ['verify'])
    : (await webcrypto.subtle.generateKey({ ...rsa, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }, true, ['sign', 'verify'])).publicKey
  const oldRoot = await createTestCA({ commonName: 'Old Root' })
  const cross = await x509.X509CertificateGenerator.create({
    serialNumber: '01',
    subject: new x509.X509Certificate(root.raw).subjectName,
    issuer: oldRoot.x509.subjectName,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 3_600_000),
    publicKey,
    signingKey: oldRoot.keys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.AuthorityInfoAccessExtension({ caIssuers: new x509.GeneralName('url', 'http://old-root.example/root.crt') }),
    ],
  })
  return new X509Certificate(Buffer.from(cross.rawData))
}

describe('incompleteChains', () => {
  // A chain that ends at a cross-signed copy of a root of Node's store (Sectigo's "long chain", which
  // ends at USERTrust under AAA Certificate Services) is complete for every client that trusts that
  // root: check told to append the old root above it, which is in no store.
  it('says nothing of a chain that ends at a copy of a root of the store, signed by an older root', async () => {
    const leaf = new X509Certificate((await issueTestCert(await createTestCA({ commonName: 'Leaf CA' }), { commonName: 'a.test', dnsNames: ['a.test'], usage: 'server' })).cert)
    assert.deepEqual(incompleteChains(served(leaf, await crossSignedIsrgRoot(true))), [])
    const [warning] = incompleteChains(served(leaf, await crossSignedIsrgRoot(false)))
    assert.match(String(warning?.message), /^leaves out CN=Old Root, which issued CN=ISRG Root X1,O=Internet Security Research Group,C=US and is no root of Node's trust store/)
  })
})
