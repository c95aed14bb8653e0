/**
 * The CRL fields read from the DER (tls/crl-der.ts) against @peculiar/x509's full parse of the same CRL,
 * and what happens to DER that is not a CRL.
 */
import assert from 'node:assert/strict'
import { KeyObject, webcrypto } from 'node:crypto'
import { before, describe, it } from 'node:test'
import { crlSignedBy, readCrlFields, readCrlPem, revokedSerials } from '../../src/tls/crl-der.js'
import { parseCrl, peculiarX509 } from '../../src/tls/peculiar.js'
import { createTestCA, createCrl, issueTestCert, type Issued } from '../helpers/pki.js'

const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, ''), 'base64')
const RSA = { modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }

describe('readCrlFields and revokedSerials', () => {
  let ca: Issued
  let revokedLeaf: Issued
  before(async () => {
    ca = await createTestCA({ commonName: 'CRL Test CA', organization: 'Portcullis, Tests' })
    revokedLeaf = await issueTestCert(ca, { commonName: 'revoked', usage: 'client' })
  })

  it('reads the issuer, the dates and the serial numbers as the full parse does', async () => {
    // ff01 and 80 need DER's sign byte (00 ff 01, 00 80); 0a and 7f do not.
    const serials = ['ff01', '80', '0a', '7f'].map((serialNumber) => ({ serialNumber }))
    const pem = await createCrl(ca, [revokedLeaf, ...serials], { thisUpdate: new Date('2026-01-02T03:04:05Z'), nextUpdate: new Date('2026-02-01T00:00:00Z') })
    const parsed = parseCrl(pem)
    const fields = readCrlPem(pem)
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

  it('verifies ECDSA, RSA PKCS#1 v1.5, RSA-PSS and Ed25519 signatures itself, and leaves any other algorithm to the library', async () => {
    type Case = [string, webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | webcrypto.Algorithm, object, boolean | undefined]
    const cases: Case[] = [
      ['ECDSA P-384', { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' } as webcrypto.EcKeyGenParams, {}, true],
      ['RSA PKCS#1 v1.5', { name: 'RSASSA-PKCS1-v1_5', ...RSA }, {}, true],
      ['RSA-PSS SHA-256, salt 32', { name: 'RSA-PSS', ...RSA }, { saltLength: 32 }, true],
      ['RSA-PSS SHA-384, salt 0', { name: 'RSA-PSS', ...RSA, hash: 'SHA-384' }, { saltLength: 0 }, true],
      ['Ed25519', { name: 'Ed25519' }, {}, true],
      ['RSA PKCS#1 v1.5 with SHA-1', { name: 'RSASSA-PKCS1-v1_5', ...RSA, hash: 'SHA-1' }, {}, undefined],
      ['RSA-PSS with SHA-1', { name: 'RSA-PSS', ...RSA, hash: 'SHA-1' }, { saltLength: 20 }, undefined],
    ]
    const ed25519 = KeyObject.from(((await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair).publicKey)
    for (const [what, algorithm, signing, verified] of cases) {
      const generate = async () => (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
      const [signer, other] = [await generate(), await generate()]
      const signingAlgorithm = { ...algorithm, ...signing }
      const crl = await peculiarX509().X509CrlGenerator.create({ issuer: 'CN=Signer', signingAlgorithm, signingKey: signer.privateKey, thisUpdate: new Date() })
      const fields = readCrlFields(new Uint8Array(crl.rawData))
      assert.equal(crlSignedBy(fields, KeyObject.from(signer.publicKey)), verified, `${what}: by its signer`)
      if (verified === undefined) continue
      assert.equal(crlSignedBy(fields, KeyObject.from(other.publicKey)), false, `${what}: by another key`)
      if (algorithm.name !== 'Ed25519') assert.equal(crlSignedBy(fields, ed25519), false, `${what}: by a key of another type`)
    }
  })

  it('leaves RSA-PSS to the library when MGF1 hashes otherwise than the signature', async () => {
    const signingAlgorithm = { name: 'RSA-PSS', ...RSA, saltLength: 32 }
    const keys = (await webcrypto.subtle.generateKey(signingAlgorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
    const crl = await peculiarX509().X509CrlGenerator.create({ issuer: 'CN=Signer', signingAlgorithm, signingKey: keys.privateKey })
    const der = Buffer.from(crl.rawData)
    // The last SHA-256 OID is MGF1's in the outer signatureAlgorithm, which the signature does not
    // cover; make it SHA-384's.
    const sha256 = Buffer.from('0609608648016503040201', 'hex')
    const mgfHash = der.lastIndexOf(sha256)
    assert.ok(mgfHash > der.length - 300)
    der[mgfHash + sha256.length - 1] = 0x02
    assert.equal(crlSignedBy(readCrlFields(der), KeyObject.from(keys.publicKey)), undefined)
  })
})
