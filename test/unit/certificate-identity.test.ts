/**
 * How a refusal's log line names a certificate (tls/certificate-identity.ts): its subject and issuer
 * in RFC 2253, its serial number as OpenSSL prints it, each bounded; the route's CRL files only for a
 * verdict a CRL may have given.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { test } from 'node:test'
import { certificateIdentity, refusalFields } from '../../src/tls/certificate-identity.js'
import { createTestCA, issueTestCert, subjectKeyIdOf, type Issued } from '../helpers/pki.js'

test('names a certificate by subject and issuer in RFC 2253, serial number in upper-case hexadecimal, and its issuer’s key identifier', async () => {
  const ca = await createTestCA({ commonName: 'Identity CA', organization: 'Example' })
  const leaf = await issueTestCert(ca, { commonName: 'alice', organization: 'A', usage: 'client', serialNumber: '4a0f00000000000000000000000000e1' })
  assert.deepEqual(certificateIdentity(new X509Certificate(leaf.cert)), {
    subject: 'CN=alice,O=A',
    serialNumber: '4A0F00000000000000000000000000E1',
    issuer: 'CN=Identity CA,O=Example',
    issuerKeyId: subjectKeyIdOf(ca),
  })
})

test('tells apart the issuers of two certificates whose CAs have the same name (the ngrok recipe’s ExampleCA), by key identifier', async () => {
  const [trusted, impostor] = [await createTestCA({ commonName: 'ExampleCA' }), await createTestCA({ commonName: 'ExampleCA' })]
  const named = async (ca: Issued) => certificateIdentity(new X509Certificate((await issueTestCert(ca, { commonName: 'client', usage: 'client' })).cert))
  const [fromTrusted, fromImpostor] = [await named(trusted), await named(impostor)]
  assert.equal(fromTrusted.issuer, fromImpostor.issuer)
  assert.deepEqual([fromTrusted.issuerKeyId, fromImpostor.issuerKeyId], [subjectKeyIdOf(trusted), subjectKeyIdOf(impostor)])
  assert.match(fromTrusted.issuerKeyId!, /^([0-9A-F]{2}:)+[0-9A-F]{2}$/)
  assert.notEqual(fromTrusted.issuerKeyId, fromImpostor.issuerKeyId)
})

test("cuts a refused client's long names at 256 characters", async () => {
  const ca = await createTestCA({ commonName: 'Identity CA' })
  const leaf = await issueTestCert(ca, { commonName: 'x'.repeat(5000), usage: 'client' })
  const { subject } = certificateIdentity(new X509Certificate(leaf.cert))
  assert.equal(subject, `CN=${'x'.repeat(253)}…`)
})

test("gives the route's CRL files for a verdict of a CRL, or a re-check that failed, and for no other", async () => {
  const paths = ['/etc/portcullis/root.crl', '/etc/portcullis/int.crl']
  const files = () => paths.map((file, i) => ({ file, path: `routes[0].tls.crl[${i}]` }))
  for (const verdict of ['CERT_REVOKED', 'UNABLE_TO_GET_CRL', 'CRL_HAS_EXPIRED', 'CRL_NOT_YET_VALID', 'RECHECK_FAILED']) {
    assert.deepEqual(refusalFields(undefined, verdict, files), { crl: paths }, verdict)
  }
  for (const verdict of ['CERT_HAS_EXPIRED', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'ERR_TLS_CERT_ALTNAME_INVALID', undefined]) {
    assert.deepEqual(refusalFields(undefined, verdict, files), {}, String(verdict))
  }
  assert.deepEqual(refusalFields(undefined, 'CERT_REVOKED', () => []), {}, 'a route without CRLs names none')
})
