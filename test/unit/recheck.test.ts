/**
 * The re-check of a client chain against a TLS policy's client CAs and CRLs (tls/recheck.ts), as
 * OpenSSL checks it in the handshake: one case a row, the verdict and OpenSSL's code for it.
 */
import assert from 'node:assert/strict'
import { X509Certificate, webcrypto } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import tls from 'node:tls'
import { peculiarX509 } from '../../src/tls/peculiar.js'
import { ClientTrust, RECHECK_FAILED } from '../../src/tls/recheck.js'
import type { JsonAttributeObject } from '@peculiar/x509'
import { createTestCA, createCrl, createSelfSignedNonCA, issueTestCert, makeTestPki, type Issued, type KeyUsageOption, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const certificates = (...pems: string[]) => pems.map((pem) => new X509Certificate(pem))

describe('ClientTrust.check', () => {
  let pki: TestPki
  /** A CRL in the intermediate's name, signed by another key. */
  let forgedIntCrl: string
  /** Certificates of the rows below that the test PKI lacks: `root` issued the leaves and intermediates. */
  let more: Awaited<ReturnType<typeof makeMore>>

  const makeMore = async () => {
    const { KeyUsageFlags, Name } = peculiarX509()
    /** The root's name (a PrintableString in the test PKI) as a CRL may write it otherwise. */
    const rootNamed = (commonName: JsonAttributeObject) => ({ issuerName: new Name([{ CN: [commonName] }]) })
    const lastMonth = { notBefore: new Date(Date.now() - 60 * 86_400_000), notAfter: new Date(Date.now() - 30 * 86_400_000) }
    const root = await createTestCA({ commonName: 'More Root CA' })
    const expiredInt = await createTestCA({ commonName: 'Expired Intermediate CA', issuer: root, ...lastMonth })
    const leaf = (issuer: Issued, commonName: string, keyUsage?: KeyUsageOption) => issueTestCert(issuer, { commonName, usage: 'client', keyUsage })
    // A CA whose keyUsage lacks keyCertSign: cRLSign alone.
    const intNoCertSign = await createTestCA({ commonName: 'Intermediate CA without keyCertSign', issuer: root, keyUsage: KeyUsageFlags.cRLSign })
    const expiredIntNoCertSign = await createTestCA({ commonName: 'Expired Intermediate CA without keyCertSign', issuer: root, keyUsage: KeyUsageFlags.cRLSign, ...lastMonth })
    const caNoCertSign = await createTestCA({ commonName: 'CA without keyCertSign', keyUsage: KeyUsageFlags.cRLSign })
    const leafOfIntNoCertSign = await leaf(intNoCertSign, 'leaf of an intermediate without keyCertSign')
    const caNoCrlSign = await createTestCA({ commonName: 'CA without cRLSign', keyUsage: KeyUsageFlags.keyCertSign })
    const leafOfCaNoCrlSign = await leaf(caNoCrlSign, 'leaf of a CA without cRLSign')
    // keyUsage extensions (their extnValue) that OpenSSL holds invalid (see cert-der.ts).
    const intNoKeyUsageBit = await createTestCA({ commonName: 'Intermediate CA whose keyUsage has no bit set', issuer: root, keyUsage: ['030100'] })
    // Issuers that are no CA to X509_check_ca: cA=false, or no basicConstraints (with keyCertSign, or no keyUsage).
    const intNotCa = await createTestCA({ commonName: 'Intermediate whose basicConstraints say it is no CA', issuer: root, basicConstraints: 'not-ca' })
    const intNoBasicConstraints = await createTestCA({ commonName: 'Intermediate without basicConstraints', issuer: root, basicConstraints: 'none' })
    const intNoExtensions = await createTestCA({ commonName: 'Intermediate without basicConstraints or keyUsage', issuer: root, basicConstraints: 'none', keyUsage: [] })
    const serverOnly = await issueTestCert(root, { commonName: 'for TLS servers only', usage: 'server' })
    // Its serial number is 00 ff 01 in the DER.
    const signByteSerial = await issueTestCert(root, { commonName: 'serial number with a sign byte', usage: 'client', serialNumber: 'ff01' })
    return {
      root,
      expiredInt,
      leafOfExpiredInt: await leaf(expiredInt, 'leaf of an expired intermediate'),
      keyEncipherment: await leaf(root, 'keyEncipherment', KeyUsageFlags.keyEncipherment),
      keyAgreement: await leaf(root, 'keyAgreement', KeyUsageFlags.keyAgreement),
      selfSigned: await createSelfSignedNonCA({ commonName: 'self-signed, digitalSignature', keyUsage: KeyUsageFlags.digitalSignature }),
      intNoCertSign,
      leafOfIntNoCertSign,
      expiredIntNoCertSign,
      leafOfExpiredIntNoCertSign: await leaf(expiredIntNoCertSign, 'leaf of an expired intermediate without keyCertSign'),
      caNoCertSign,
      leafOfCaNoCertSign: await leaf(caNoCertSign, 'leaf of a CA without keyCertSign'),
      expiredLeafOfCaNoCertSign: await issueTestCert(caNoCertSign, { commonName: 'expired leaf of a CA without keyCertSign', usage: 'client', ...lastMonth }),
      caNoCrlSign,
      leafOfCaNoCrlSign,
      keyUsageNoBit: await leaf(root, 'keyUsage without a bit set', ['030100']),
      keyUsageNotBitString: await leaf(root, 'keyUsage that is no BIT STRING', ['040180']),
      keyUsageEightUnusedBits: await leaf(root, 'keyUsage of eight unused bits', ['03020880']),
      keyUsageTwice: await leaf(root, 'two keyUsage extensions', ['03020780', '03020780']),
      keyUsageOnlyUnusedBits: await leaf(root, 'keyUsage whose bits set are all unused ones', ['0302077f']),
      keyAgreementUnused: await leaf(root, 'keyUsage keyEncipherment, keyAgreement among the unused bits', ['03020428']),
      keyUsageAndMore: await leaf(root, 'keyUsage digitalSignature, then bytes OpenSSL does not read', ['030207800500']),
      keyAgreementDecipherOnly: await leaf(root, 'keyAgreement and decipherOnly', KeyUsageFlags.keyAgreement | KeyUsageFlags.decipherOnly),
      decipherOnly: await leaf(root, 'decipherOnly', KeyUsageFlags.decipherOnly),
      intNoKeyUsageBit,
      leafOfIntNoKeyUsageBit: await leaf(intNoKeyUsageBit, 'leaf of an intermediate whose keyUsage has no bit set'),
      intNotCa,
      leafOfIntNotCa: await leaf(intNotCa, 'leaf of an intermediate that is no CA'),
      intNoBasicConstraints,
      leafOfIntNoBasicConstraints: await leaf(intNoBasicConstraints, 'leaf of an intermediate without basicConstraints'),
      serverLeafOfIntNoBasicConstraints: await issueTestCert(intNoBasicConstraints, { commonName: 'server leaf of an intermediate without basicConstraints', usage: 'server' }),
      serverOnly,
      intNoExtensions,
      leafOfIntNoExtensions: await leaf(intNoExtensions, 'leaf of an intermediate without basicConstraints or keyUsage'),
      signByteSerial,
      crls: {
        root: await createCrl(root, []),
        intNoCertSignRevokesLeaf: await createCrl(intNoCertSign, [leafOfIntNoCertSign]),
        caNoCrlSign: await createCrl(caNoCrlSign, []),
        caNoCrlSignRevokesLeaf: await createCrl(caNoCrlSign, [leafOfCaNoCrlSign]),
        caNoCrlSignStale: await createCrl(caNoCrlSign, [], { nextUpdate: new Date(Date.now() - 1_800_000) }),
        rootRevokesServerOnly: await createCrl(root, [serverOnly]),
        rootRevokesSignByteSerial: await createCrl(root, [signByteSerial]),
        rootRevokesOtherSerials: await createCrl(root, ['ff', '01ff', 'ff0100', '7f01'].map((serialNumber) => ({ serialNumber }))),
        // The root's name, which the test PKI writes as a PrintableString, as a UTF8String.
        rootInUtf8RevokesSignByteSerial: await createCrl(root, [signByteSerial], rootNamed({ utf8String: 'More Root CA' })),
        rootInLowerCase: await createCrl(root, [], rootNamed({ printableString: 'more root ca' })),
        rootWithMoreSpaces: await createCrl(root, [], rootNamed({ printableString: '  More   Root CA ' })),
        rootInBmpUpperCase: await createCrl(root, [], rootNamed({ bmpString: 'MORE ROOT CA' })),
        rootInUniversalString: await createCrl(root, [], rootNamed({ universalString: 'More Root CA' })),
        // Issued two hours ago, before the one below (an hour ago, createCrl's default).
        rootEarlier: await createCrl(root, [], { thisUpdate: new Date(Date.now() - 7_200_000) }),
        rootInLowerCaseRevokesSignByteSerial: await createCrl(root, [signByteSerial], rootNamed({ printableString: 'more root ca' })),
        intNotCa: await createCrl(intNotCa, []),
      },
    }
  }

  before(async () => {
    pki = await makeTestPki()
    forgedIntCrl = await createCrl(await createTestCA({ commonName: 'Test Intermediate CA' }), [])
    more = await makeMore()
  })
  after(() => pki.cleanup())

  /**
   * What a real handshake under `bundle` and `crls` says of a client that sends `chain` (leaf first)
   * and holds `key`: OpenSSL's code, or 'pass'.
   */
  const handshakeSays = async (bundle: string[], key: string, chain: string[], crls: string[] = []): Promise<string> => {
    const server = tls.createServer({ key: pki.srv.key, cert: pki.srv.cert, ca: bundle, ...(crls.length > 0 && { crl: crls }), requestCert: true, rejectUnauthorized: false })
    const verdict = once(server, 'secureConnection').then((args) => {
      const socket = args[0] as tls.TLSSocket
      socket.destroy()
      return socket.authorized ? 'pass' : String(socket.authorizationError)
    })
    await listenOnLoopback(server)
    const port = (server.address() as AddressInfo).port
    const socket = tls.connect({ port, host: '127.0.0.1', key, cert: chain.join(''), rejectUnauthorized: false })
    socket.on('error', () => {})
    try {
      return await verdict
    } finally {
      socket.destroy()
      server.close()
    }
  }
  /** The re-check's word on the same: OpenSSL's code, or 'pass'. */
  const recheckSays = async (bundle: string[], chain: string[], crls: string[] = []): Promise<string> => {
    const verdict = await new ClientTrust(certificates(...bundle), crls).check(certificates(...chain))
    return verdict.pass ? 'pass' : verdict.detail
  }
  /** The key of a certificate of the test PKI. */
  const keyOf = (cert: string) => ([...Object.values(pki), ...Object.values(more)] as Partial<Issued>[]).find((issued) => issued?.cert === cert)!.key!

  // Each row's verdict is also the one a real handshake under the same CAs and CRLs gives.
  type Row = [what: string, chain: () => string[], cas: () => string[], crls: () => string[], expected: string | undefined]
  const rows: Row[] = [
    ['a leaf of a CA of the bundle', () => [pki.cliA.cert], () => [pki.caA.cert, pki.caB.cert], () => [], undefined],
    ['a leaf and the intermediate it sent', () => [pki.leaf.cert, pki.int.cert], () => [pki.root.cert], () => [], undefined],
    ['a CA no longer in the bundle', () => [pki.cliA.cert], () => [pki.caB.cert], () => [], 'unknown_ca UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['its old CA sent along does not count', () => [pki.cliA.cert, pki.caA.cert], () => [pki.caB.cert], () => [], 'unknown_ca SELF_SIGNED_CERT_IN_CHAIN'],
    ['a leaf without the intermediate it needs', () => [pki.leaf.cert], () => [pki.root.cert], () => [], 'unknown_ca UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['an intermediate in the bundle, without its root', () => [pki.leaf.cert], () => [pki.int.cert], () => [], 'unknown_ca UNABLE_TO_GET_ISSUER_CERT'],
    ['an intermediate it sent, whose root the bundle lacks', () => [pki.leaf.cert, pki.int.cert], () => [pki.caB.cert], () => [], 'unknown_ca UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
    // Where the chain stops, OpenSSL reads no dates: those of the leaf only, when it stops there.
    ['an expired intermediate in the bundle, without its root', () => [more.leafOfExpiredInt.cert], () => [more.expiredInt.cert], () => [], 'unknown_ca UNABLE_TO_GET_ISSUER_CERT'],
    ['an expired intermediate it sent, whose root the bundle lacks', () => [more.leafOfExpiredInt.cert, more.expiredInt.cert], () => [pki.caB.cert], () => [], 'unknown_ca UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
    ['CRLs that revoke someone else', () => [pki.leaf.cert, pki.int.cert], () => [pki.root.cert], () => [pki.crlRootEmpty.pem, pki.crlIntRevoked.pem], undefined],
    ['a revoked leaf', () => [pki.leafRevoked.cert, pki.int.cert], () => [pki.root.cert], () => [pki.crlRootEmpty.pem, pki.crlIntRevoked.pem], 'revoked CERT_REVOKED'],
    // X509_V_FLAG_CRL_CHECK_ALL: the root's CRL is needed too.
    ['no CRL of the root', () => [pki.leaf.cert, pki.int.cert], () => [pki.root.cert], () => [pki.crlIntEmpty.pem], 'other UNABLE_TO_GET_CRL'],
    ['a CRL past its nextUpdate', () => [pki.leaf.cert, pki.int.cert], () => [pki.root.cert], () => [pki.crlRootStale.pem, pki.crlIntEmpty.pem], 'other CRL_HAS_EXPIRED'],
    ['a CRL its issuer did not sign', () => [pki.leaf.cert, pki.int.cert], () => [pki.root.cert], () => [pki.crlRootEmpty.pem, forgedIntCrl], 'other UNABLE_TO_GET_CRL'],
    // A CRL's issuer whose keyUsage lacks cRLSign: KEYUSAGE_NO_CRL_SIGN, which Node calls UNSPECIFIED,
    // found before what the CRL lists; the CA's own CRL is checked after its leaf's.
    ['a CA whose keyUsage lacks cRLSign, with its CRL', () => [more.leafOfCaNoCrlSign.cert], () => [more.caNoCrlSign.cert], () => [more.crls.caNoCrlSign], 'other UNSPECIFIED'],
    ['a CA whose keyUsage lacks cRLSign, with its CRL that revokes the leaf', () => [more.leafOfCaNoCrlSign.cert], () => [more.caNoCrlSign.cert], () => [more.crls.caNoCrlSignRevokesLeaf], 'other UNSPECIFIED'],
    ['a chain that does not reach the bundle, with CRLs', () => [pki.leaf.cert], () => [pki.root.cert], () => [pki.crlRootEmpty.pem, pki.crlIntEmpty.pem], 'unknown_ca UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    // What a new handshake would find as well: the reload closes keep-alive connections into one.
    ['a leaf that has expired', () => [pki.cliExpired.cert], () => [pki.caA.cert], () => [], 'cert_expired CERT_HAS_EXPIRED'],
    ['a leaf not valid yet', () => [pki.cliNotYetValid.cert], () => [pki.caA.cert], () => [], 'cert_not_yet_valid CERT_NOT_YET_VALID'],
    ['a leaf for TLS servers only', () => [pki.cliServerEku.cert], () => [pki.caA.cert], () => [], 'bad_usage INVALID_PURPOSE'],
    // A TLS client's keyUsage, if it has one, needs digitalSignature or keyAgreement (check_purpose_ssl_client).
    ['a leaf whose keyUsage is keyEncipherment alone', () => [more.keyEncipherment.cert], () => [more.root.cert], () => [], 'bad_usage INVALID_PURPOSE'],
    ['a leaf whose keyUsage is keyAgreement alone', () => [more.keyAgreement.cert], () => [more.root.cert], () => [], undefined],
    // A CA's keyUsage, if it has one, needs keyCertSign. OpenSSL builds the chain through it, and then
    // reports KEYUSAGE_NO_CERTSIGN as it verifies what it signed, which Node calls UNSPECIFIED.
    ['an intermediate whose keyUsage lacks keyCertSign', () => [more.leafOfIntNoCertSign.cert, more.intNoCertSign.cert], () => [more.root.cert], () => [], 'other UNSPECIFIED'],
    ['a CA of the bundle whose keyUsage lacks keyCertSign', () => [more.leafOfCaNoCertSign.cert], () => [more.caNoCertSign.cert], () => [], 'other UNSPECIFIED'],
    ['an intermediate whose keyUsage lacks keyCertSign, whose root the bundle lacks', () => [more.leafOfIntNoCertSign.cert, more.intNoCertSign.cert], () => [pki.caB.cert], () => [], 'other UNSPECIFIED'],
    ['a revoked leaf of an intermediate whose keyUsage lacks keyCertSign', () => [more.leafOfIntNoCertSign.cert, more.intNoCertSign.cert], () => [more.root.cert], () => [more.crls.root, more.crls.intNoCertSignRevokesLeaf], 'other UNSPECIFIED'],
    ['an expired intermediate whose keyUsage lacks keyCertSign: its dates come before what it signed', () => [more.leafOfExpiredIntNoCertSign.cert, more.expiredIntNoCertSign.cert], () => [more.root.cert], () => [], 'other UNSPECIFIED'],
    // Self-signed whatever its keyUsage, as OpenSSL 3 reads it.
    ['a self-signed leaf whose keyUsage lacks keyCertSign', () => [more.selfSigned.cert], () => [more.root.cert], () => [], 'unknown_ca DEPTH_ZERO_SELF_SIGNED_CERT'],
    // Of several failures, the last OpenSSL finds: the dates come after the issuer and the purpose.
    ['an expired leaf of a CA not in the bundle', () => [pki.cliExpired.cert], () => [pki.caB.cert], () => [], 'cert_expired CERT_HAS_EXPIRED'],
    ['a leaf for TLS servers only, of a CA not in the bundle', () => [pki.cliServerEku.cert], () => [pki.caB.cert], () => [], 'unknown_ca UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    // The self-signed CA outside the bundle is found as the chain is built, before the purpose.
    ['a leaf for TLS servers only, that sent its CA not in the bundle', () => [pki.cliServerEku.cert, pki.caA.cert], () => [pki.caB.cert], () => [], 'bad_usage INVALID_PURPOSE'],
    // From the leaf up: the intermediate's INVALID_CA after the leaf's INVALID_PURPOSE.
    ['a leaf for TLS servers only, of an intermediate without basicConstraints', () => [more.serverLeafOfIntNoBasicConstraints.cert, more.intNoBasicConstraints.cert], () => [more.root.cert], () => [], 'bad_usage INVALID_CA'],
    // Revocation after the purpose; of one certificate, its issuer's keyCertSign before its own dates,
    // and its CRL issuer's cRLSign before that CRL's own dates.
    ['a revoked leaf for TLS servers only', () => [more.serverOnly.cert], () => [more.root.cert], () => [more.crls.rootRevokesServerOnly], 'revoked CERT_REVOKED'],
    ['an expired leaf of a CA whose keyUsage lacks keyCertSign', () => [more.expiredLeafOfCaNoCertSign.cert], () => [more.caNoCertSign.cert], () => [], 'cert_expired CERT_HAS_EXPIRED'],
    ['a CA whose keyUsage lacks cRLSign, with its CRL past its nextUpdate', () => [more.leafOfCaNoCrlSign.cert], () => [more.caNoCrlSign.cert], () => [more.crls.caNoCrlSignStale], 'other CRL_HAS_EXPIRED'],
    // A keyUsage OpenSSL holds invalid: X509_check_issued fails on its certificate, as the one issued
    // and as the issuer, so a chain stops there.
    ['a leaf whose keyUsage has no bit set', () => [more.keyUsageNoBit.cert], () => [more.root.cert], () => [], 'unknown_ca UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['a leaf whose keyUsage is no BIT STRING', () => [more.keyUsageNotBitString.cert], () => [more.root.cert], () => [], 'unknown_ca UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['a leaf whose keyUsage has eight unused bits', () => [more.keyUsageEightUnusedBits.cert], () => [more.root.cert], () => [], 'unknown_ca UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['a leaf with two keyUsage extensions', () => [more.keyUsageTwice.cert], () => [more.root.cert], () => [], 'unknown_ca UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['a leaf whose keyUsage bits set are all unused ones', () => [more.keyUsageOnlyUnusedBits.cert], () => [more.root.cert], () => [], 'unknown_ca UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['an intermediate whose keyUsage has no bit set', () => [more.leafOfIntNoKeyUsageBit.cert, more.intNoKeyUsageBit.cert], () => [more.root.cert], () => [], 'unknown_ca UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['an intermediate of the bundle whose keyUsage has no bit set', () => [more.leafOfIntNoKeyUsageBit.cert], () => [more.intNoKeyUsageBit.cert], () => [], 'unknown_ca UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    // The bits as OpenSSL reads them: unused ones cleared, the ninth in the second byte, what follows the BIT STRING ignored.
    ['a leaf whose keyAgreement bit stands among the unused bits', () => [more.keyAgreementUnused.cert], () => [more.root.cert], () => [], 'bad_usage INVALID_PURPOSE'],
    ['a leaf whose keyUsage is followed by bytes OpenSSL does not read', () => [more.keyUsageAndMore.cert], () => [more.root.cert], () => [], undefined],
    ['a leaf with keyAgreement and decipherOnly', () => [more.keyAgreementDecipherOnly.cert], () => [more.root.cert], () => [], undefined],
    ['a leaf with decipherOnly alone', () => [more.decipherOnly.cert], () => [more.root.cert], () => [], 'bad_usage INVALID_PURPOSE'],
    // A serial number DER writes with a sign byte (00 ff 01), which a CRL lists as a certificate has it.
    ['a revoked leaf whose serial number has a sign byte', () => [more.signByteSerial.cert], () => [more.root.cert], () => [more.crls.rootRevokesSignByteSerial], 'revoked CERT_REVOKED'],
    ['a leaf whose serial number has a sign byte, a CRL of serial numbers like it', () => [more.signByteSerial.cert], () => [more.root.cert], () => [more.crls.rootRevokesOtherSerials], undefined],
    // OpenSSL compares names in a canonical form: a CA's name in another string type is the CA's.
    ["a revoked leaf, in a CRL that writes its CA's name as a UTF8String", () => [more.signByteSerial.cert], () => [more.root.cert], () => [more.crls.rootInUtf8RevokesSignByteSerial], 'revoked CERT_REVOKED'],
    // ... and in another case, with other spaces: ASCII letters lower-cased, white space trimmed and collapsed.
    ["a CRL that writes its CA's name in lower case", () => [more.signByteSerial.cert], () => [more.root.cert], () => [more.crls.rootInLowerCase], undefined],
    ["a CRL that writes its CA's name with more spaces", () => [more.signByteSerial.cert], () => [more.root.cert], () => [more.crls.rootWithMoreSpaces], undefined],
    ["a CRL that writes its CA's name as a BMPString, in upper case", () => [more.signByteSerial.cert], () => [more.root.cert], () => [more.crls.rootInBmpUpperCase], undefined],
    ["a CRL that writes its CA's name as a UniversalString", () => [more.signByteSerial.cert], () => [more.root.cert], () => [more.crls.rootInUniversalString], undefined],
    ['a revoked leaf, in the newer of two CRLs of its CA, which writes its name in lower case', () => [more.signByteSerial.cert], () => [more.root.cert], () => [more.crls.rootEarlier, more.crls.rootInLowerCaseRevokesSignByteSerial], 'revoked CERT_REVOKED'],
    // An issuer that is no CA: OpenSSL builds the chain through it all the same, then finds INVALID_CA,
    // and INVALID_PURPOSE unless it has keyCertSign and no basicConstraints (check_ca's 4).
    ['an intermediate whose basicConstraints say it is no CA', () => [more.leafOfIntNotCa.cert, more.intNotCa.cert], () => [more.root.cert], () => [], 'bad_usage INVALID_PURPOSE'],
    ['an intermediate that is no CA, with CRLs of the chain', () => [more.leafOfIntNotCa.cert, more.intNotCa.cert], () => [more.root.cert], () => [more.crls.root, more.crls.intNotCa], 'bad_usage INVALID_PURPOSE'],
    ['an intermediate without basicConstraints, with keyCertSign', () => [more.leafOfIntNoBasicConstraints.cert, more.intNoBasicConstraints.cert], () => [more.root.cert], () => [], 'bad_usage INVALID_CA'],
    ['an intermediate without basicConstraints or keyUsage', () => [more.leafOfIntNoExtensions.cert, more.intNoExtensions.cert], () => [more.root.cert], () => [], 'bad_usage INVALID_PURPOSE'],
  ]
  for (const [what, chain, cas, crls, expected] of rows) {
    it(what, async () => {
      const verdict = await new ClientTrust(certificates(...cas()), crls()).check(certificates(...chain()))
      assert.equal(verdict.pass ? undefined : `${verdict.reason} ${verdict.detail}`, expected)
      assert.equal(await handshakeSays(cas(), keyOf(chain()[0]!), chain(), crls()), verdict.pass ? 'pass' : verdict.detail, 'as a handshake says')
    })
  }

  it('refuses a client without a certificate, where one is now asked for', async () => {
    const verdict = await new ClientTrust(certificates(pki.caA.cert), []).check([])
    assert.equal(verdict.pass ? undefined : `${verdict.reason} ${verdict.detail}`, 'no_client_cert ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE')
  })

  it('reports, of several failures, the one a handshake reports: the last OpenSSL finds', async () => {
    const ca = await createTestCA({ commonName: 'Purpose CA' })
    const lastMonth = { notBefore: new Date(Date.now() - 60 * 86_400_000), notAfter: new Date(Date.now() - 30 * 86_400_000) }
    // The purpose is checked first, the dates last.
    const expiredServerOnly = await issueTestCert(ca, { commonName: 'old server', usage: 'server', ...lastMonth })
    assert.equal(await recheckSays([ca.cert], [expiredServerOnly.cert]), 'CERT_HAS_EXPIRED')
    assert.equal(await handshakeSays([ca.cert], expiredServerOnly.key, [expiredServerOnly.cert]), 'CERT_HAS_EXPIRED')
  })

  it('holds every CA of the chain to clientAuth, as a handshake does', async () => {
    const root = await createTestCA({ commonName: 'EKU Root' })
    for (const [usage, expected] of [['server', 'INVALID_PURPOSE'], ['server+client', 'pass']] as const) {
      const intermediate = await createTestCA({ commonName: `EKU Intermediate, ${usage}`, issuer: root, usage })
      const leaf = await issueTestCert(intermediate, { commonName: 'client', usage: 'client' })
      assert.equal(await recheckSays([root.cert], [leaf.cert, intermediate.cert]), expected, usage)
      assert.equal(await handshakeSays([root.cert], leaf.key, [leaf.cert, intermediate.cert]), expected, `${usage}, in a handshake`)
    }
  })

  it('checks the leaf alone of a resumed session whose chain it does not know: its CRL, usage and dates', async () => {
    const check = (leaf: string, crls: string[]) => {
      const trust = new ClientTrust(certificates(pki.root.cert), crls)
      return trust.check(certificates(leaf), { resumed: true, verifiedUnder: trust })
    }
    assert.deepEqual(await check(pki.leaf.cert, [pki.crlIntEmpty.pem]), { pass: true })
    assert.equal((await check(pki.leafRevoked.cert, [pki.crlIntRevoked.pem])).pass ? '' : 'refused', 'refused')
    const expired = await check(pki.cliExpired.cert, [])
    assert.equal(expired.pass ? undefined : expired.detail, 'CERT_HAS_EXPIRED')
    // Revoked and for TLS servers only: the revocation, found after the purpose, as a full handshake reports it.
    const revokedServerOnly = await check(more.serverOnly.cert, [more.crls.rootRevokesServerOnly])
    const fullHandshake = await handshakeSays([more.root.cert], more.serverOnly.key, [more.serverOnly.cert], [more.crls.rootRevokesServerOnly])
    assert.equal(revokedServerOnly.pass ? 'pass' : revokedServerOnly.detail, fullHandshake)
    // A leaf whose keyUsage OpenSSL holds invalid has no issuer anywhere, whatever its chain.
    const invalid = await check(more.keyUsageNotBitString.cert, [])
    assert.equal(invalid.pass ? undefined : invalid.detail, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  })

  // The leaf alone passed whatever had changed above it: a root removed from the bundle, or a root's CRL
  // that revokes the intermediate, let resumed sessions of its clients run on after the reload.
  it('fails closed on a resumed session whose chain it does not know where the trust above its leaf got stricter', async () => {
    const root = await createTestCA({ commonName: 'Resumed Root CA' })
    const int = await createTestCA({ commonName: 'Resumed Intermediate CA', issuer: root })
    const leaf = await issueTestCert(int, { commonName: 'resumed client', usage: 'client' })
    const [rootCrl, rootCrlReissued, rootCrlRevokesInt, intCrl, intCrlRevokesLeaf] = await Promise.all([
      createCrl(root, [], { crlNumber: 1 }),
      createCrl(root, [], { crlNumber: 2 }),
      createCrl(root, [int], { crlNumber: 3 }),
      createCrl(int, [], { crlNumber: 1 }),
      createCrl(int, [leaf], { crlNumber: 2 }),
    ])
    const rootCrlStale = await createCrl(root, [], { crlNumber: 4, nextUpdate: new Date(Date.now() - 60_000) })
    const trust = (cas: string[], crls: string[]) => new ClientTrust(certificates(...cas), crls)
    const verifiedUnder = trust([root.cert], [rootCrl, intCrl])
    const resumedUnder = async (now: ClientTrust, options: { verifiedUnder?: ClientTrust } = { verifiedUnder }) => {
      const verdict = await now.check(certificates(leaf.cert), { resumed: true, ...options })
      return verdict.pass ? 'pass' : verdict.detail
    }
    // Nothing above the leaf stricter: the leaf alone decides, by its issuer's CRL.
    assert.equal(await resumedUnder(trust([root.cert], [rootCrlReissued, intCrl])), 'pass', "the root's CRL re-issued, nothing new revoked")
    assert.equal(await resumedUnder(trust([root.cert, pki.caA.cert], [rootCrl, intCrl])), 'pass', 'a CA added')
    assert.equal(await resumedUnder(trust([root.cert], [rootCrl, intCrlRevokesLeaf])), 'CERT_REVOKED')
    // What the leaf cannot show: the root's CRL now revokes the intermediate, or is out of date; the root left the bundle.
    assert.equal(await resumedUnder(trust([root.cert], [rootCrlRevokesInt, intCrl])), RECHECK_FAILED)
    assert.equal(await resumedUnder(trust([root.cert], [rootCrlStale, intCrl])), RECHECK_FAILED)
    assert.equal(await resumedUnder(trust([pki.caA.cert], [intCrl])), RECHECK_FAILED)
    // CRLs where there were none: the root's may revoke the intermediate, which the leaf cannot show.
    const verifiedWithoutCrls = { verifiedUnder: trust([root.cert], []) }
    assert.equal(await resumedUnder(trust([root.cert], [rootCrlRevokesInt, intCrl]), verifiedWithoutCrls), RECHECK_FAILED, 'CRLs added')
    assert.equal(await resumedUnder(trust([root.cert], [rootCrl, intCrl]), verifiedWithoutCrls), RECHECK_FAILED, 'CRLs added, none revoking')
    // The root's CRL was current at the client's handshake and is out of date by the reload: its
    // re-issue, which revokes the intermediate, is stricter than the CRL the client passed.
    const verifiedUnderLateCrl = { verifiedUnder: trust([root.cert], [rootCrlStale, intCrl]) }
    assert.equal(await resumedUnder(trust([root.cert], [rootCrlRevokesInt, intCrl]), verifiedUnderLateCrl), RECHECK_FAILED, 'late re-issue revoking')
    assert.equal(await resumedUnder(trust([root.cert], [rootCrlReissued, intCrl]), verifiedUnderLateCrl), 'pass', 'late re-issue')
    // Every CRL removed: no revocation is checked now.
    assert.equal(await resumedUnder(trust([root.cert], [])), 'pass', 'CRLs removed')
    // Nothing to compare with.
    assert.equal(await resumedUnder(verifiedUnder, {}), RECHECK_FAILED)
  })

  // A CA re-keyed under its name: the leaf alone does not tell which key's CRLs its chain is checked
  // against, and a newer CRL of the other key hid a revocation from the check.
  it('fails closed on a resumed session whose chain it does not know where CRLs of one name come from two keys', async () => {
    const hour = 3_600_000
    const at = (hoursAgo: number) => ({ thisUpdate: new Date(Date.now() - hoursAgo * hour) })
    const resumedSays = async (before: ClientTrust, now: ClientTrust, leaf: string) => {
      const verdict = await now.check(certificates(leaf), { resumed: true, verifiedUnder: before })
      return verdict.pass ? 'pass' : verdict.detail
    }
    // Two roots of one name; the intermediate is the old key's, whose CRL now revokes it, while the new
    // key's newer CRL revokes nothing.
    const rootOld = await createTestCA({ commonName: 'Rolled Root CA' })
    const rootNew = await createTestCA({ commonName: 'Rolled Root CA' })
    const int = await createTestCA({ commonName: 'Rolled Intermediate CA', issuer: rootOld })
    const leaf = await issueTestCert(int, { commonName: 'resumed client', usage: 'client' })
    const intCrl = await createCrl(int, [], { crlNumber: 1 })
    const crlsBefore = [await createCrl(rootOld, [], { crlNumber: 1, ...at(3) }), await createCrl(rootNew, [], { crlNumber: 1, ...at(3) }), intCrl]
    const crlsNow = [await createCrl(rootOld, [int], { crlNumber: 2, ...at(2) }), await createCrl(rootNew, [], { crlNumber: 2, ...at(1) }), intCrl]
    const roots = [rootOld.cert, rootNew.cert]
    assert.equal(await handshakeSays(roots, leaf.key, [leaf.cert, int.cert], crlsNow), 'CERT_REVOKED')
    assert.equal(await resumedSays(new ClientTrust(certificates(...roots), crlsBefore), new ClientTrust(certificates(...roots), crlsNow), leaf.cert), RECHECK_FAILED)
    // The leaf's issuer re-keyed: the old key's CRL revokes the leaf, the new key's newer one nothing.
    const root = await createTestCA({ commonName: 'Plain Root CA' })
    const [intOld, intNew] = [await createTestCA({ commonName: 'Rolled Int CA', issuer: root }), await createTestCA({ commonName: 'Rolled Int CA', issuer: root })]
    const leafOfOld = await issueTestCert(intOld, { commonName: 'client of the old key', usage: 'client' })
    const rootCrl = await createCrl(root, [], { crlNumber: 1 })
    const intCrlsNow = [rootCrl, await createCrl(intOld, [leafOfOld], { crlNumber: 2, ...at(2) }), await createCrl(intNew, [], { crlNumber: 2, ...at(1) })]
    assert.equal(await handshakeSays([root.cert], leafOfOld.key, [leafOfOld.cert, intOld.cert], intCrlsNow), 'CERT_REVOKED')
    const intBefore = new ClientTrust(certificates(root.cert), [rootCrl, await createCrl(intOld, [], { crlNumber: 1, ...at(3) })])
    assert.equal(await resumedSays(intBefore, new ClientTrust(certificates(root.cert), intCrlsNow), leafOfOld.cert), RECHECK_FAILED)
    // A root added under the name of one the bundle has: a chain without key identifiers may be built
    // through it. Another root added, of its own name, changes nothing.
    const rootCrlOld = await createCrl(rootOld, [], { crlNumber: 1 })
    const withOldRoot = (...cas: string[]) => new ClientTrust(certificates(...cas), [rootCrlOld, intCrl])
    assert.equal(await resumedSays(withOldRoot(rootOld.cert), withOldRoot(rootOld.cert, rootNew.cert), leaf.cert), RECHECK_FAILED)
    assert.equal(await resumedSays(withOldRoot(rootOld.cert), withOldRoot(rootOld.cert, root.cert), leaf.cert), 'pass')
  })

  it("refuses a resumed session's known chain through an intermediate that is no CA, as a handshake would", async () => {
    const verdict = await new ClientTrust(certificates(more.root.cert), []).check(certificates(more.leafOfIntNotCa.cert, more.intNotCa.cert), { resumed: true })
    assert.equal(verdict.pass ? 'pass' : verdict.detail, 'INVALID_PURPOSE')
  })

  it('takes, of two CAs of one name and key, the one within its dates: a rotation that kept the key', async () => {
    const x509 = peculiarX509()
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
    const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
    const day = 86_400_000
    const dates = (from: number, to: number) => ({ notBefore: new Date(Date.now() + from * day), notAfter: new Date(Date.now() + to * day) })
    const usage = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
    const root = async (serialNumber: string, validity: ReturnType<typeof dates>) =>
      (
        await x509.X509CertificateGenerator.createSelfSigned({
          serialNumber,
          name: 'CN=Rotated CA',
          keys,
          signingAlgorithm: algorithm,
          ...validity,
          extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(usage, true)],
        })
      ).toString('pem')
    const [expired, renewed] = [await root('01', dates(-60, -1)), await root('02', dates(-1, 60))]
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: '0a',
      subject: 'CN=leaf of the rotated CA',
      issuer: 'CN=Rotated CA',
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      signingAlgorithm: algorithm,
      ...dates(-1, 1),
    })
    const check = (...bundle: string[]) => new ClientTrust(certificates(...bundle), []).check(certificates(leaf.toString('pem')))
    assert.deepEqual(await check(expired, renewed), { pass: true })
    const alone = await check(expired)
    assert.equal(alone.pass ? undefined : alone.detail, 'CERT_HAS_EXPIRED')
  })

  it('throws on a CRL it cannot read, for the caller to fail closed', async () => {
    const garbled = '-----BEGIN X509 CRL-----\nMAMCAQA=\n-----END X509 CRL-----\n'
    await assert.rejects(new ClientTrust(certificates(pki.root.cert), [garbled]).check(certificates(pki.leaf.cert, pki.int.cert)), /^Error: CRL: DER has tag 0x2 where 0x30 belongs/)
  })

  const rsa = { modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }
  const algorithms: [what: string, algorithm: webcrypto.RsaHashedKeyGenParams & { saltLength?: number }][] = [
    ['RSA-PSS, which crl-der.ts checks', { name: 'RSA-PSS', ...rsa, hash: 'SHA-256', saltLength: 32 }],
    ['RSA with SHA-1, which crl-der.ts leaves to the library', { name: 'RSASSA-PKCS1-v1_5', ...rsa, hash: 'SHA-1' }],
  ]
  for (const [what, algorithm] of algorithms) {
    it(`checks a CRL signed with ${what}`, async () => {
      const x509 = peculiarX509()
      const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
      const validity = { notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 3_600_000) }
      const ca = await x509.X509CertificateGenerator.createSelfSigned({
        name: 'CN=Signer CA',
        keys,
        signingAlgorithm: algorithm,
        ...validity,
        extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
      })
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: '0a',
        subject: 'CN=Signer leaf',
        issuer: ca.subject,
        publicKey: keys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: algorithm,
        ...validity,
      })
      const crl = async (revoked: string[], signingKey = keys.privateKey) =>
        x509.PemConverter.encode(
          (await x509.X509CrlGenerator.create({ issuer: ca.subject, signingAlgorithm: algorithm, signingKey, entries: revoked.map((serialNumber) => ({ serialNumber, revocationDate: new Date() })) })).rawData,
          'X509 CRL',
        )
      const check = async (crlPem: string) => new ClientTrust(certificates(ca.toString('pem')), [crlPem]).check(certificates(leaf.toString('pem')))
      assert.deepEqual(await check(await crl([])), { pass: true })
      assert.equal((await check(await crl(['0a']))).pass ? 'pass' : 'refused', 'refused')
      const otherKeys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
      assert.equal((await check(await crl([], otherKeys.privateKey))).pass, false, 'a CRL in its name that another key signed')
    })
  }
})
