/**
 * An OCSP responder (RFC 6960) for the tests, on a loopback port: it answers POSTed requests about
 * the certificates one CA issued, with the status each serial number is given, signed by that CA or by
 * a delegated responder certificate; and, for the tests of what the gateway refuses, with answers that
 * are not valid, late or never.
 */
import { createHash, KeyObject, sign, X509Certificate } from 'node:crypto'
import http from 'node:http'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier, Certificate, SubjectPublicKeyInfo } from '@peculiar/asn1-x509'
import {
  BasicOCSPResponse,
  CertStatus,
  id_pkix_ocsp_basic,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
} from '@peculiar/asn1-ocsp'
import type { Issued } from './pki.js'
import { listenOnLoopback } from './upstream.js'

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2'

export type TestOcspStatus = 'good' | 'revoked' | 'unknown'

/** How the responder answers; change it between requests. */
export interface OcspAnswering {
  /** Signs the answers; default: the CA itself. */
  signer?: Issued
  /** Certificates carried in the answer (a delegated signer's); default: the signer's, where it is not the CA. */
  carried?: Issued[]
  /** Default: an hour from now; null: none. */
  nextUpdate?: Date | null
  /** A responseStatus other than successful (tryLater, internalError…), with no answer. */
  refusal?: OCSPResponseStatus
  /** The answers' signatures are spoiled. */
  badSignature?: boolean
  /** Answers only after this long. */
  delayMs?: number
  /** HTTP status other than 200, with no body. */
  httpStatus?: number
}

export interface OcspResponder {
  readonly url: string
  /** The requests it has had. */
  readonly requests: number
  /** From now on, what it says of the certificate `certPem` (each is `good` until then). */
  say(certPem: string, status: TestOcspStatus): void
  answering: OcspAnswering
  close(): Promise<void>
}

/** A responder for the certificates `ca` issued. */
export async function startOcspResponder(ca: Issued): Promise<OcspResponder> {
  const statuses = new Map<string, TestOcspStatus>()
  let requests = 0
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      requests += 1
      const { answering } = responder
      const send = () => {
        if (answering.httpStatus) return res.writeHead(answering.httpStatus).end()
        const der = answer(Buffer.concat(chunks), ca, statuses, answering)
        res.writeHead(200, { 'content-type': 'application/ocsp-response' }).end(der)
      }
      if (answering.delayMs) setTimeout(send, answering.delayMs).unref()
      else send()
    })
  })
  const port = await listenOnLoopback(server)
  const responder: OcspResponder = {
    url: `http://127.0.0.1:${port}/`,
    get requests() {
      return requests
    },
    say: (certPem, status) => statuses.set(serialKey(new X509Certificate(certPem).serialNumber), status),
    answering: {},
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
  return responder
}

/** The DER answer to the request `der`. */
function answer(der: Buffer, ca: Issued, statuses: ReadonlyMap<string, TestOcspStatus>, answering: OcspAnswering): Buffer {
  if (answering.refusal !== undefined) return Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: answering.refusal })))
  const request = AsnConvert.parse(der, OCSPRequest)
  const now = new Date()
  const nextUpdate = answering.nextUpdate === undefined ? new Date(now.getTime() + 3_600_000) : answering.nextUpdate
  const responses = request.tbsRequest.requestList.map(({ reqCert }) => {
    const status = statuses.get(serialKey(Buffer.from(reqCert.serialNumber).toString('hex'))) ?? 'good'
    const certStatus =
      status === 'revoked' ? new CertStatus({ revoked: new RevokedInfo({ revocationTime: new Date(now.getTime() - 60_000) }) }) : new CertStatus(status === 'good' ? { good: null } : { unknown: null })
    return new SingleResponse({ certID: reqCert, certStatus, thisUpdate: new Date(now.getTime() - 60_000), ...(nextUpdate && { nextUpdate }) })
  })
  const signer = answering.signer ?? ca
  const tbsResponseData = new ResponseData({ responderID: new ResponderID({ byKey: new OctetString(keyHash(signer)) }), producedAt: now, responses })
  const signature = sign('sha256', new Uint8Array(AsnConvert.serialize(tbsResponseData)), { key: KeyObject.from(signer.keys.privateKey), dsaEncoding: 'der' })
  if (answering.badSignature) signature[signature.length - 1]! ^= 0xff
  const carried = answering.carried ?? (signer === ca ? [] : [signer])
  const basic = new BasicOCSPResponse({
    tbsResponseData,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 }),
    signature: new Uint8Array(signature).buffer,
    ...(carried.length > 0 && { certs: carried.map(({ cert }) => AsnConvert.parse(new X509Certificate(cert).raw, Certificate)) }),
  })
  const response = new OCSPResponse({
    responseStatus: OCSPResponseStatus.successful,
    responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
  })
  return Buffer.from(AsnConvert.serialize(response))
}

/** A serial number in hexadecimal, as the statuses are keyed: upper case, without leading zeros. */
function serialKey(hex: string): string {
  return hex.toUpperCase().replace(/^(00)+/, '')
}

/** The SHA-1 of the certificate's public key bits: a responderID byKey. */
function keyHash(certificate: Issued): Buffer {
  const spki = AsnConvert.parse(new X509Certificate(certificate.cert).publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo)
  return createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest()
}
