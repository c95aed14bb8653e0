/** What check says a certificate, key or CRL file holds where it holds no PEM block of its kind. */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { describe, it } from 'node:test'
import { otherContentHint } from '../../src/tls/other-content.js'
import { createTestCA } from '../helpers/pki.js'

const hintOf = (bytes: Buffer) => otherContentHint('/certs/server.crt', { bytes, text: bytes.toString('utf8') }, 'certificate')
const DER_HINT = '; if it is DER, convert it: openssl x509 -inform DER -in /certs/server.crt -out cert.pem'

describe('otherContentHint', () => {
  it('offers the DER conversion for a DER certificate', async () => {
    assert.equal(hintOf(new X509Certificate((await createTestCA({ commonName: 'DER' })).cert).raw), DER_HINT)
  })

  // An empty file (a Secret's key left blank, a redirect that failed) or text of no PEM block was told
  // to be converted from DER, which it cannot be.
  const cases: [string, Buffer, string][] = [
    ['an empty file', Buffer.alloc(0), '; the file is empty'],
    ['a file of blank lines', Buffer.from('\n \r\n'), '; the file is empty'],
    ['text of no PEM block', Buffer.from('not a certificate\n'), ''],
    ['a PEM block of another kind, with a UTF-8 attribute', Buffer.from('friendlyName: Zürich\n-----BEGIN PUBLIC KEY-----\nMFk=\n-----END PUBLIC KEY-----\n'), ''],
    ['a certificate request', Buffer.from('-----BEGIN CERTIFICATE REQUEST-----\nMII=\n-----END CERTIFICATE REQUEST-----\n'), '; it is a certificate signing request (CSR): name the certificate the CA signed from it'],
  ]
  for (const [name, bytes, expected] of cases) {
    it(`says what ${name} holds`, () => assert.equal(hintOf(bytes), expected))
  }
})
