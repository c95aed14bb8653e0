/**
 * The CRL fields read from the DER (tls/crl-der.ts) against @peculiar/x509's full parse of the same CRL,
 * and what happens to DER that is not a CRL.
 */
import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { createCA, createCrl, issueCert, type Issued } from '../../src/tls/pki.js'
import { readCrlFields, revokedSerials } from '../../src/tls/crl-der.js'
import { parseCrl, peculiarX509 } from '../../src/tls/pem.js'

const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, ''), 'base64')

describe('readCrlFields and revokedSerials', () => {
  let ca: Issued
  let revokedLeaf: Issued
  before(async () => {
    ca = await createCA({ commonName: 'CRL Test CA', organization: 'Portcullis, Tests' })
    revokedLeaf = await issueCert(ca, { commonName: 'revoked', usage: 'client' })
  })

  it('reads the issuer, the dates and the serial numbers as the full parse does', async () => {
    // ff01 and 80 need DER's sign byte (00 ff 01, 00 80); 0a and 7f do not.
    const serials = ['ff01', '80', '0a', '7f'].map((serialNumber) => ({ serialNumber }))
    const pem = await createCrl(ca, [revokedLeaf, ...serials], { thisUpdate: new Date('2026-01-02T03:04:05Z'), nextUpdate: new Date('2026-02-01T00:00:00Z') })
    const parsed = parseCrl(pem)
    const fields = readCrlFields(derOf(pem))
    assert.equal(new (peculiarX509().Name)(new Uint8Array(fields.issuer)).toString(), parsed.issuer)
    assert.equal(fields.thisUpdate.toISOString(), '2026-01-02T03:04:05.000Z')
    assert.equal(fields.nextUpdate?.toISOString(), '2026-02-01T00:00:00.000Z')
    const listed = revokedSerials(fields)
    assert.deepEqual([...listed].sort(), parsed.entries.map((entry) => entry.serialNumber).sort())
    assert.equal(listed.size, 5)
    assert.ok(listed.has(new (peculiarX509().X509Certificate)(revokedLeaf.cert).serialNumber), 'the revoked certificate, by its own serial number')
  })

  it('reads a GeneralizedTime (2050 and later) and a CRL that lists nobody', async () => {
    const pem = await createCrl(ca, [], { nextUpdate: new Date('2060-05-06T07:08:09Z') })
    const fields = readCrlFields(derOf(pem))
    assert.equal(fields.nextUpdate?.toISOString(), '2060-05-06T07:08:09.000Z')
    assert.equal(revokedSerials(fields).size, 0)
  })

  it('throws on DER that is cut short or uses an indefinite length', async () => {
    const der = derOf(await createCrl(ca, [revokedLeaf]))
    assert.throws(() => readCrlFields(der.subarray(0, 40)), /CRL/)
    const indefinite = Buffer.from(der)
    indefinite[1] = 0x80
    assert.throws(() => readCrlFields(indefinite), /length DER does not allow/)
    assert.throws(() => readCrlFields(Buffer.from('not a CRL')), /CRL/)
  })
})
