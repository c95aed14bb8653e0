/**
 * OCSP (RFC 6960) for a client certificate: the request that asks a responder about it, and the
 * reading of the responder's answer, verified as OpenSSL's OCSP_basic_verify and nginx's ssl_ocsp
 * verify it: signed by the certificate's issuer itself, or by a responder certificate the issuer
 * signed for OCSP signing (id-kp-OCSPSigning), current, and about this very certificate.
 * The CertID hashes with SHA-1, as RFC 5019 (the profile every responder serves) has it. No nonce: a
 * responder that caches its answers, as most do, sends none back, and the answer's dates bound replay.
 */
import { createHash, verify, X509Certificate } from 'node:crypto'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier, Certificate, Name, SubjectPublicKeyInfo } from '@peculiar/asn1-x509'
import {
  BasicOCSPResponse,
  CertID,
  id_kp_OCSPSigning,
  id_pkix_ocsp_basic,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  Request,
  TBSRequest,
  type ResponderID,
  type SingleResponse,
} from '@peculiar/asn1-ocsp'
import { outsideValidity } from './cert-checks.js'
import { certificateFields } from './cert-der.js'

/** What a responder says of a certificate. */
export type OcspStatus = 'good' | 'revoked' | 'unknown'

export interface OcspAnswer {
  readonly status: OcspStatus
  /** Until when the answer may be used: the responder's nextUpdate, where it gave one. */
  readonly nextUpdate?: Date
}

/**
 * Why no answer could be had: the responder's own refusal (tryLater, internalError…: its
 * responseStatus), or an answer that is not one (malformed, not signed by whom it must be, not about
 * this certificate, out of date).
 */
export type OcspFailure = 'OCSP_RESPONDER_ERROR' | 'OCSP_RESPONSE_INVALID'

export class OcspError extends Error {
  constructor(
    readonly code: OcspFailure,
    message: string,
  ) {
    super(message)
  }
}

/** The clock difference an answer's dates are allowed, as `openssl ocsp` allows it (-validity_period's default, 5 minutes). */
const CLOCK_SKEW_MS = 5 * 60_000

const SHA1 = '1.3.14.3.2.26'
/** The digests a CertID may hash with, by OID. */
const DIGEST_OF_OID: Readonly<Record<string, string>> = {
  [SHA1]: 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
}
/** The signature algorithms an answer may be signed with, by OID: the digest node:crypto's verify() takes (null for EdDSA). */
const SIGNATURE_DIGEST_OF_OID: Readonly<Record<string, string | null>> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
}

/** Which certificate an OCSP request asks about, and what identifies it in an answer. */
export interface OcspQuestion {
  readonly certificate: X509Certificate
  readonly issuer: X509Certificate
  /** The request's DER, to POST as application/ocsp-request. */
  readonly request: Buffer
}

/** The question of `certificate`, which `issuer` signed. */
export function ocspQuestion(certificate: X509Certificate, issuer: X509Certificate): OcspQuestion {
  const reqCert = certIdOf(certificate, issuer, SHA1)
  const request = new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: [new Request({ reqCert })] }) })
  return { certificate, issuer, request: Buffer.from(AsnConvert.serialize(request)) }
}

/**
 * The answer `der` gives to `question` at `now`; throws an OcspError where there is none. A
 * certificate the answer does not name is not answered: an answer about another one is no answer.
 */
export function readOcspResponse(der: Uint8Array, question: OcspQuestion, now = new Date()): OcspAnswer {
  const response = parsed('the OCSP response', () => AsnConvert.parse(der, OCSPResponse))
  if (response.responseStatus !== OCSPResponseStatus.successful) {
    throw new OcspError('OCSP_RESPONDER_ERROR', `the OCSP responder answered ${OCSPResponseStatus[response.responseStatus] ?? response.responseStatus}`)
  }
  if (response.responseBytes?.responseType !== id_pkix_ocsp_basic) throw invalid('the OCSP response is not a basic one (id-pkix-ocsp-basic)')
  const basic = parsed('the basic OCSP response', () => AsnConvert.parse(response.responseBytes!.response.buffer, BasicOCSPResponse))
  const signer = signerOf(basic, question.issuer, now)
  const digest = SIGNATURE_DIGEST_OF_OID[basic.signatureAlgorithm.algorithm]
  if (digest === undefined) throw invalid(`the OCSP response is signed with an algorithm not read here (${basic.signatureAlgorithm.algorithm})`)
  const signed = basic.tbsResponseDataRaw ?? AsnConvert.serialize(basic.tbsResponseData)
  if (!verify(digest, new Uint8Array(signed), signer.publicKey, new Uint8Array(basic.signature))) throw invalid('the OCSP response\'s signature does not verify')
  const single = basic.tbsResponseData.responses.find((candidate) => isAbout(candidate, question))
  if (!single) throw invalid('the OCSP response says nothing of this certificate')
  if (single.thisUpdate.getTime() > now.getTime() + CLOCK_SKEW_MS) throw invalid('the OCSP response is not valid yet (thisUpdate)')
  if (single.nextUpdate && single.nextUpdate.getTime() < now.getTime() - CLOCK_SKEW_MS) throw invalid('the OCSP response is out of date (nextUpdate)')
  const status: OcspStatus = single.certStatus.revoked ? 'revoked' : single.certStatus.unknown !== undefined ? 'unknown' : 'good'
  return { status, ...(single.nextUpdate && { nextUpdate: single.nextUpdate }) }
}

/**
 * Who signed the answer: the issuer itself, or a certificate the answer carries that the issuer signed
 * for OCSP signing, valid now (RFC 6960 4.2.2.2). Either must be the responderID the answer names.
 */
function signerOf(basic: BasicOCSPResponse, issuer: X509Certificate, now: Date): X509Certificate {
  const { responderID } = basic.tbsResponseData
  if (isResponder(responderID, issuer)) return issuer
  for (const carried of basic.certs ?? []) {
    const candidate = new X509Certificate(Buffer.from(AsnConvert.serialize(carried)))
    if (!isResponder(responderID, candidate)) continue
    if (!candidate.checkIssued(issuer) || !candidate.verify(issuer.publicKey)) throw invalid('the OCSP response is signed by a responder certificate the issuer did not sign')
    if (!(candidate.keyUsage ?? []).includes(id_kp_OCSPSigning)) throw invalid('the OCSP responder certificate lacks the extended key usage OCSPSigning')
    if (outsideValidity(candidate, now)) throw invalid('the OCSP responder certificate is outside its validity dates')
    return candidate
  }
  throw invalid('the OCSP response is signed neither by the certificate\'s issuer nor by a responder certificate it carries')
}

/** Whether `responderID` names `certificate`, by its subject or by the SHA-1 of its public key. */
function isResponder(responderID: ResponderID, certificate: X509Certificate): boolean {
  if (responderID.byKey) return Buffer.from(responderID.byKey.buffer).equals(publicKeyHash(certificate, 'sha1'))
  return responderID.byName !== undefined && Buffer.from(AsnConvert.serialize(responderID.byName)).equals(certificateFields(certificate).subject)
}

/** Whether a single response of an answer is about the question's certificate, with whatever digest its CertID hashes. */
function isAbout(single: SingleResponse, question: OcspQuestion): boolean {
  const digest = DIGEST_OF_OID[single.certID.hashAlgorithm.algorithm]
  if (!digest) return false
  const expected = certIdOf(question.certificate, question.issuer, single.certID.hashAlgorithm.algorithm)
  const same = (a: ArrayBuffer | OctetString, b: ArrayBuffer | OctetString) => Buffer.from(bufferOf(a)).equals(Buffer.from(bufferOf(b)))
  return (
    same(single.certID.serialNumber, expected.serialNumber) &&
    same(single.certID.issuerNameHash, expected.issuerNameHash) &&
    same(single.certID.issuerKeyHash, expected.issuerKeyHash)
  )
}

/** RFC 6960 4.1.1: the hashes of the issuer's name (as the certificate names it) and key, and the certificate's serial number. */
function certIdOf(certificate: X509Certificate, issuer: X509Certificate, digestOid: string): CertID {
  const digest = DIGEST_OF_OID[digestOid]!
  const { tbsCertificate } = AsnConvert.parse(certificate.raw, Certificate)
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: digestOid, parameters: null }),
    issuerNameHash: new OctetString(createHash(digest).update(new Uint8Array(AsnConvert.serialize(tbsCertificate.issuer as Name))).digest()),
    issuerKeyHash: new OctetString(publicKeyHash(issuer, digest)),
    serialNumber: tbsCertificate.serialNumber,
  })
}

/** The hash of a certificate's subjectPublicKey BIT STRING's value, as a CertID and a responderID byKey take it. */
function publicKeyHash(certificate: X509Certificate, digest: string): Buffer {
  const spki = AsnConvert.parse(certificate.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo)
  return createHash(digest).update(new Uint8Array(spki.subjectPublicKey)).digest()
}

function bufferOf(value: ArrayBuffer | OctetString): ArrayBuffer {
  return value instanceof OctetString ? value.buffer : value
}

function parsed<T>(what: string, parse: () => T): T {
  try {
    return parse()
  } catch (error) {
    throw invalid(`${what} is not DER that reads (${(error as Error).message})`)
  }
}

function invalid(message: string): OcspError {
  return new OcspError('OCSP_RESPONSE_INVALID', message)
}
