/**
 * The OCSP request and the reading of an answer (src/tls/ocsp.ts), against OpenSSL's own responder
 * (`openssl ocsp -index`, which reads the request and signs the answer): the CertID it finds, the
 * statuses, an answer signed by a delegated responder, and every answer that is no answer.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { AsnConvert } from '@peculiar/asn1-schema'
import { OCSPResponse, OCSPResponseStatus } from '@peculiar/asn1-ocsp'
import { OcspError, ocspQuestion, readOcspResponse, type OcspQuestion } from '../../src/tls/ocsp.js'
import { createTestCA, issueTestCert, type Issued } from '../helpers/pki.js'

const run = promisify(execFile)

describe('OCSP requests and answers, with openssl ocsp as the responder', () => {
  let dir: string
  let ca: Issued
  let otherCa: Issued
  const leaves: Record<'good' | 'revoked' | 'unlisted' | 'delegate' | 'notResponder' | 'otherDelegate', Issued> = {} as never
  let opensslMissing = false

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-ocsp-'))
    ca = await createTestCA({ commonName: 'OCSP Test CA' })
    otherCa = await createTestCA({ commonName: 'OCSP Other CA' })
    leaves.good = await issueTestCert(ca, { commonName: 'good', usage: 'client' })
    leaves.revoked = await issueTestCert(ca, { commonName: 'revoked', usage: 'client' })
    leaves.unlisted = await issueTestCert(ca, { commonName: 'unlisted', usage: 'client' })
    leaves.delegate = await issueTestCert(ca, { commonName: 'responder', usage: 'ocspSigning' })
    leaves.notResponder = await issueTestCert(ca, { commonName: 'not a responder', usage: 'client' })
    leaves.otherDelegate = await issueTestCert(otherCa, { commonName: 'responder of another CA', usage: 'ocspSigning' })
    for (const [name, issued] of Object.entries({ ca, ...leaves })) {
      await writeFile(join(dir, `${name}.crt`), issued.cert)
      await writeFile(join(dir, `${name}.key`), issued.key)
    }
    // openssl's index: V valid, R revoked; the serial in upper case, as `openssl ca` writes it.
    const expiry = '301231235959Z'
    const entry = (state: string, issued: Issued, revokedAt = '') => `${state}\t${expiry}\t${revokedAt}\t${issued.serialNumber.toUpperCase()}\tunknown\t/CN=${issued.subject}\n`
    await writeFile(join(dir, 'index.txt'), entry('V', leaves.good) + entry('R', leaves.revoked, '240101000000Z'))
    opensslMissing = await run('openssl', ['version']).then(
      () => false,
      () => true,
    )
  })
  after(() => rm(dir, { recursive: true, force: true }))

  /** openssl's answer to the question about `leaf`, signed by `signer` (default: the CA). */
  async function answered(leaf: Issued, signer = 'ca', extra: string[] = []): Promise<{ question: OcspQuestion; der: Buffer }> {
    const question = ocspQuestion(new X509Certificate(leaf.cert), new X509Certificate(ca.cert))
    const reqFile = join(dir, 'req.der')
    const respFile = join(dir, 'resp.der')
    await writeFile(reqFile, question.request)
    const files = (name: string) => join(dir, name)
    await run('openssl', ['ocsp', '-index', files('index.txt'), '-CA', files('ca.crt'), '-rsigner', files(`${signer}.crt`), '-rkey', files(`${signer}.key`), '-reqin', reqFile, '-respout', respFile, '-nmin', '60', ...extra])
    return { question, der: await readFile(respFile) }
  }

  const failure = (read: () => unknown) => {
    try {
      read()
    } catch (error) {
      assert.ok(error instanceof OcspError, String(error))
      return { code: error.code, message: error.message }
    }
    assert.fail('the answer was read as one')
  }

  it('asks what openssl finds: good, revoked, and unknown for a serial its index lacks, with nextUpdate', async (t) => {
    if (opensslMissing) return t.skip('openssl is not installed')
    for (const [leaf, status] of [[leaves.good, 'good'], [leaves.revoked, 'revoked'], [leaves.unlisted, 'unknown']] as const) {
      const { question, der } = await answered(leaf)
      const answer = readOcspResponse(der, question)
      assert.equal(answer.status, status, leaf.subject)
      assert.ok(answer.nextUpdate && Math.abs(answer.nextUpdate.getTime() - Date.now() - 3_600_000) < 120_000, 'an hour from now (-nmin 60)')
    }
  })

  it('takes an answer a delegated responder signed, one the CA made for OCSP signing', async (t) => {
    if (opensslMissing) return t.skip('openssl is not installed')
    const { question, der } = await answered(leaves.revoked, 'delegate')
    assert.equal(readOcspResponse(der, question).status, 'revoked')
  })

  it('refuses an answer signed by a certificate without OCSPSigning, or by a responder of another CA', async (t) => {
    if (opensslMissing) return t.skip('openssl is not installed')
    const notResponder = await answered(leaves.good, 'notResponder')
    assert.deepEqual(failure(() => readOcspResponse(notResponder.der, notResponder.question)), {
      code: 'OCSP_RESPONSE_INVALID',
      message: 'the OCSP responder certificate lacks the extended key usage OCSPSigning',
    })
    const other = await answered(leaves.good, 'otherDelegate')
    assert.deepEqual(failure(() => readOcspResponse(other.der, other.question)), {
      code: 'OCSP_RESPONSE_INVALID',
      message: 'the OCSP response is signed by a responder certificate the issuer did not sign',
    })
  })

  it('refuses an answer whose signature does not verify, one about another certificate, and one out of date', async (t) => {
    if (opensslMissing) return t.skip('openssl is not installed')
    // Without the signer's certificate (which openssl adds by default), the answer ends with its signature.
    const { question, der } = await answered(leaves.good, 'ca', ['-resp_no_certs'])
    const spoiled = Buffer.from(der)
    spoiled[spoiled.length - 1]! ^= 0x01
    assert.deepEqual(failure(() => readOcspResponse(spoiled, question)), { code: 'OCSP_RESPONSE_INVALID', message: "the OCSP response's signature does not verify" })
    const aboutRevoked = ocspQuestion(new X509Certificate(leaves.revoked.cert), new X509Certificate(ca.cert))
    assert.deepEqual(failure(() => readOcspResponse(der, aboutRevoked)), { code: 'OCSP_RESPONSE_INVALID', message: 'the OCSP response says nothing of this certificate' })
    const inTwoHours = new Date(Date.now() + 2 * 3_600_000)
    assert.deepEqual(failure(() => readOcspResponse(der, question, inTwoHours)), { code: 'OCSP_RESPONSE_INVALID', message: 'the OCSP response is out of date (nextUpdate)' })
  })

  it("says what a responder's refusal was (tryLater), and that bytes that are no answer are none", () => {
    const question = ocspQuestion(new X509Certificate(leaves.good.cert), new X509Certificate(ca.cert))
    const tryLater = Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: OCSPResponseStatus.tryLater })))
    assert.deepEqual(failure(() => readOcspResponse(tryLater, question)), { code: 'OCSP_RESPONDER_ERROR', message: 'the OCSP responder answered tryLater' })
    assert.equal(failure(() => readOcspResponse(Buffer.from('<html>not found</html>'), question)).code, 'OCSP_RESPONSE_INVALID')
  })
})
