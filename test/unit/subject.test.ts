/**
 * Certificate subjects as portcullis prints them (XFCC `Subject=`, metric labels, messages): RFC 2253
 * order and escaping, once, whatever characters the issuer put in the values.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { test } from 'node:test'
import { subjectRfc2253 } from '../../src/tls/subject.js'
import { createTestCA, issueTestCert } from '../helpers/pki.js'

const CASES: readonly [string, string][] = [
  ['alice', 'CN=alice,O=A'],
  // A comma must not read as a second attribute, and a CR LF never reaches a header.
  ['evil, O=Admin', 'CN=evil\\, O=Admin,O=A'],
  ['evil\r\nX-Injected: 1', 'CN=evil\\0D\\0AX-Injected: 1,O=A'],
  ['a+b <d>;e', 'CN=a\\+b \\<d\\>\\;e,O=A'],
  [' #lead and trail ', 'CN=\\ #lead and trail\\ ,O=A'],
]

// catalogue HF-04, HF-05
test('prints each subject in RFC 2253 order with its special characters escaped once', async () => {
  const ca = await createTestCA({ commonName: 'Subject Test CA' })
  for (const [commonName, expected] of CASES) {
    const { cert } = await issueTestCert(ca, { commonName, organization: 'A', usage: 'client' })
    assert.equal(subjectRfc2253(new X509Certificate(cert)), expected, JSON.stringify(commonName))
  }
})

test('prints an empty subject as nothing, and a multi-valued RDN joined with +', async () => {
  const ca = await createTestCA({ commonName: 'Subject Test CA' })
  const empty = await issueTestCert(ca, { commonName: '', subject: [], uris: ['spiffe://a.test/ns/x'], usage: 'client' })
  assert.equal(subjectRfc2253(new X509Certificate(empty.cert)), '')
  const multi = await issueTestCert(ca, { commonName: '', subject: [{ O: ['A'] }, { CN: ['bob'], O: ['Admin'] }], usage: 'client' })
  assert.equal(subjectRfc2253(new X509Certificate(multi.cert)), 'CN=bob+O=Admin,O=A')
})
