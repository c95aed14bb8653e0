/**
 * The re-check of a client chain against a TLS policy's client CAs and CRLs (tls/recheck.ts), as
 * OpenSSL checks it in the handshake: one case a row, the verdict and OpenSSL's code for it.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { createCA, createCrl } from '../../src/tls/pki.js'
import { ClientTrust } from '../../src/tls/recheck.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'

const certificates = (...pems: string[]) => pems.map((pem) => new X509Certificate(pem))

describe('ClientTrust.check', () => {
  let pki: TestPki
  /** A CRL in the intermediate's name, signed by another key. */
  let forgedIntCrl: string

  before(async () => {
    pki = await makeTestPki()
    forgedIntCrl = await createCrl(await createCA({ commonName: 'Test Intermediate CA' }), [])
  })
  after(() => pki.cleanup())

  type Row = [what: string, chain: () => string[], cas: () => string[], crls: () => string[], expected: string | undefined]
  const rows: Row[] = [
    ['a leaf of a CA of the bundle', () => [pki.cliA.cert], () => [pki.caA.cert, pki.caB.cert], () => [], undefined],
    ['a leaf and the intermediate it sent', () => [pki.leaf.cert, pki.int.cert], () => [pki.root.cert], () => [], undefined],
    ['no certificate, where one is now asked for', () => [], () => [pki.caA.cert], () => [], 'no_client_cert ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'],
    ['a CA no longer in the bundle', () => [pki.cliA.cert], () => [pki.caB.cert], () => [], 'unknown_ca UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
    ['its old CA sent along does not count', () => [pki.cliA.cert, pki.caA.cert], () => [pki.caB.cert], () => [], 'unknown_ca SELF_SIGNED_CERT_IN_CHAIN'],
    ['a leaf without the intermediate it needs', () => [pki.leaf.cert], () => [pki.root.cert], () => [], 'unknown_ca UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
    ['an intermediate in the bundle, without its root', () => [pki.leaf.cert], () => [pki.int.cert], () => [], 'unknown_ca UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
    ['CRLs that revoke someone else', () => [pki.leaf.cert, pki.int.cert], () => [pki.root.cert], () => [pki.crlRootEmpty.pem, pki.crlIntRevoked.pem], undefined],
    ['a revoked leaf', () => [pki.leafRevoked.cert, pki.int.cert], () => [pki.root.cert], () => [pki.crlRootEmpty.pem, pki.crlIntRevoked.pem], 'revoked CERT_REVOKED'],
    // X509_V_FLAG_CRL_CHECK_ALL: the root's CRL is needed too.
    ['no CRL of the root', () => [pki.leaf.cert, pki.int.cert], () => [pki.root.cert], () => [pki.crlIntEmpty.pem], 'other UNABLE_TO_GET_CRL'],
    ['a CRL past its nextUpdate', () => [pki.leaf.cert, pki.int.cert], () => [pki.root.cert], () => [pki.crlRootStale.pem, pki.crlIntEmpty.pem], 'other CRL_HAS_EXPIRED'],
    ['a CRL its issuer did not sign', () => [pki.leaf.cert, pki.int.cert], () => [pki.root.cert], () => [pki.crlRootEmpty.pem, forgedIntCrl], 'other UNABLE_TO_GET_CRL'],
  ]
  for (const [what, chain, cas, crls, expected] of rows) {
    it(what, async () => {
      const verdict = await new ClientTrust(certificates(...cas()), crls()).check(certificates(...chain()))
      assert.equal(verdict.pass ? undefined : `${verdict.reason} ${verdict.detail}`, expected)
    })
  }

  it('throws on a CRL it cannot read, for the caller to fail closed', async () => {
    const garbled = '-----BEGIN X509 CRL-----\nMAMCAQA=\n-----END X509 CRL-----\n'
    await assert.rejects(new ClientTrust(certificates(pki.root.cert), [garbled]).check(certificates(pki.leaf.cert, pki.int.cert)))
  })
})
