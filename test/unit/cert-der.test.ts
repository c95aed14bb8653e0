/**
 * A certificate's fields read from the DER (tls/cert-der.ts): keyUsage as OpenSSL reads it, the serial
 * number as a CRL lists it, the issuer's and subject's Names as a CRL writes them. What a handshake
 * does with each keyUsage OpenSSL holds invalid is in recheck.test.ts.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { before, describe, it } from 'node:test'
import { certificateFields, hasKeyUsage, KEY_USAGE_BITS, type KeyUsage } from '../../src/tls/cert-der.js'
import { readCrlPem, revokedSerials } from '../../src/tls/crl-der.js'
import { peculiarX509 } from '../../src/tls/peculiar.js'
import { createTestCA, createCrl, createSelfSignedNonCA, issueTestCert, type Issued, type KeyUsageOption } from '../helpers/pki.js'

const { KeyUsageFlags, Name } = peculiarX509()
const fieldsOf = (issued: Issued) => certificateFields(new X509Certificate(issued.cert))
const USAGES = Object.keys(KEY_USAGE_BITS) as KeyUsage[]
/** The named bits a keyUsage read here has. */
const usagesOf = (bits: number) => USAGES.filter((usage) => hasKeyUsage(bits, usage))

describe('certificateFields', () => {
  let ca: Issued
  const leaf = (keyUsage: KeyUsageOption, serialNumber?: string) => issueTestCert(ca, { commonName: 'leaf', usage: 'client', keyUsage, serialNumber })
  before(async () => {
    ca = await createTestCA({ commonName: 'Cert DER CA', organization: 'Portcullis, Tests' })
  })

  it('reads each keyUsage bit, the ninth (decipherOnly) in the second byte', async () => {
    for (const usage of USAGES) {
      const { keyUsage } = fieldsOf(await leaf(KeyUsageFlags[usage]))
      assert.equal(typeof keyUsage, 'number', usage)
      assert.deepEqual(usagesOf(keyUsage as number), [usage])
    }
    const { keyUsage } = fieldsOf(await leaf(KeyUsageFlags.keyAgreement | KeyUsageFlags.decipherOnly))
    assert.deepEqual(usagesOf(keyUsage as number), ['keyAgreement', 'decipherOnly'])
  })

  it("reads the keyUsage the test PKI's options write, on CAs and self-signed certificates too", async () => {
    assert.deepEqual(usagesOf(fieldsOf(ca).keyUsage as number), ['keyCertSign', 'cRLSign'])
    assert.deepEqual(usagesOf(fieldsOf(await createTestCA({ commonName: 'CRL signer', keyUsage: KeyUsageFlags.cRLSign })).keyUsage as number), ['cRLSign'])
    const selfSigned = await createSelfSignedNonCA({ commonName: 'self', keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment })
    assert.deepEqual(usagesOf(fieldsOf(selfSigned).keyUsage as number), ['digitalSignature', 'keyEncipherment'])
  })

  it('has no keyUsage where the certificate has none', async () => {
    assert.equal(fieldsOf(await leaf([])).keyUsage, undefined)
  })

  it('reads a keyUsage extension as OpenSSL does: unused bits cleared, what follows the BIT STRING ignored', async () => {
    // extnValue → the named bits OpenSSL reads in it.
    const cases: [string, KeyUsage[]][] = [
      ['03020780', ['digitalSignature']],
      ['030207ff', ['digitalSignature']], // the seven unused bits are set, and cleared
      ['03020428', ['keyEncipherment']], // keyAgreement (0x08) stands among the four unused bits
      ['0303070880', ['keyAgreement', 'decipherOnly']],
      ['030207800500', ['digitalSignature']],
      ['0381020780', ['digitalSignature']], // a long form of length
    ]
    for (const [value, usages] of cases) {
      const { keyUsage } = fieldsOf(await leaf([value]))
      assert.equal(typeof keyUsage, 'number', value)
      assert.deepEqual(usagesOf(keyUsage as number), usages, value)
    }
    // Bits past the ninth count as bits set: OpenSSL keeps two bytes, and finds one here.
    const { keyUsage } = fieldsOf(await leaf(['0303060040']))
    assert.equal(typeof keyUsage, 'number')
    assert.deepEqual(usagesOf(keyUsage as number), [])
  })

  it('finds invalid what OpenSSL holds invalid: no bit set, no BIT STRING, more than 7 unused bits, two extensions', async () => {
    const invalid = [['030100'], ['03020000'], ['0303000000'], ['0302077f'], ['030107'], ['0300'], ['03020880'], ['040180'], ['03020780', '03020780']]
    for (const values of invalid) assert.equal(fieldsOf(await leaf(values)).keyUsage, 'invalid', values.join(' '))
  })

  it('throws on what it does not read, for the check to fail closed: a constructed BIT STRING, DER cut short', async () => {
    const constructed = new X509Certificate((await leaf(['230403020780'])).cert)
    assert.throws(() => certificateFields(constructed), /^Error: certificate: keyUsage is a constructed BIT STRING/)
    const der = new X509Certificate(ca.cert).raw
    assert.throws(() => certificateFields({ raw: der.subarray(0, 100) } as X509Certificate), /^Error: certificate: DER/)
  })

  it('writes a serial number as a CRL lists it, with or without DER\'s sign byte', async () => {
    // ff01 and 80 need DER's sign byte (00 ff 01, 00 80); 0a and 7f do not.
    const leaves = await Promise.all(['ff01', '80', '0a', '7f'].map((serialNumber) => leaf(KeyUsageFlags.digitalSignature, serialNumber)))
    assert.ok(new X509Certificate(leaves[0]!.cert).raw.includes(Buffer.from('020300ff01', 'hex')), 'the sign byte is in the DER')
    const listed = revokedSerials(readCrlPem(await createCrl(ca, leaves)))
    for (const issued of leaves) {
      const { serialNumber } = fieldsOf(issued)
      assert.equal(serialNumber, issued.serialNumber)
      assert.ok(listed.has(serialNumber), serialNumber)
      // node:crypto writes a positive serial number alike, in upper case.
      assert.equal(serialNumber, new X509Certificate(issued.cert).serialNumber.toLowerCase())
    }
  })

  it("takes the issuer's and subject's Names as they stand in the DER, as a CRL writes its issuer", async () => {
    const issued = await leaf(KeyUsageFlags.digitalSignature)
    const { issuer, subject } = fieldsOf(issued)
    assert.deepEqual(Buffer.from(issuer), Buffer.from(fieldsOf(ca).subject))
    assert.deepEqual(Buffer.from(issuer), Buffer.from(readCrlPem(await createCrl(ca, [])).issuer))
    assert.equal(new Name(new Uint8Array(issuer)).toString(), ca.subject)
    assert.equal(new Name(new Uint8Array(subject)).toString(), issued.subject)
  })
})
