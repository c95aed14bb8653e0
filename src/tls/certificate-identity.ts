/**
 * How a log line names a peer certificate that was refused, or whose connection was closed: what an
 * operator needs to find it and act (its subject, its serial number as `openssl x509 -serial` prints it
 * and a CRL lists it, its issuer), and, for a verdict of a CRL, the route's CRL files. Never the
 * certificate itself, nor a key.
 */
import type { X509Certificate } from 'node:crypto'
import { displayPath } from '../config/file-paths.js'
import type { CrlFile, RouteConfig } from '../config/types.js'
import { errorChain } from '../errors.js'
import { certificateFields } from './cert-der.js'
import { outsideValidity } from './cert-checks.js'
import { CRL_TROUBLES } from './reasons.js'
import { RECHECK_FAILED } from './recheck.js'
import { boundedForLog, issuerRfc2253, subjectRfc2253 } from './subject.js'

export interface CertificateIdentity {
  /** RFC 2253, as the expiry gauge's `subject` label (`CN=alice,O=A`). */
  readonly subject: string
  /** Hexadecimal, upper case, as `openssl x509 -serial` and `openssl crl -text` print it. */
  readonly serialNumber: string
  readonly issuer: string
  /**
   * Its authority key identifier, which tells apart two CAs of the same name (the subjectKeyIdentifier
   * `openssl x509 -noout -ext subjectKeyIdentifier` prints of the CA that issued it).
   */
  readonly issuerKeyId?: string
  /** The date it expired, where that is what refused it (ISO 8601). */
  readonly notAfter?: string
  /** The date it becomes valid, where that is what refused it (ISO 8601). */
  readonly notBefore?: string
}

export function certificateIdentity(certificate: X509Certificate): CertificateIdentity {
  const issuerKeyId = authorityKeyIdOf(certificate)
  return {
    subject: boundedForLog(subjectRfc2253(certificate)),
    serialNumber: boundedForLog(certificate.serialNumber),
    issuer: boundedForLog(issuerRfc2253(certificate)),
    ...(issuerKeyId && { issuerKeyId: boundedForLog(issuerKeyId) }),
  }
}

/** A refused certificate may hold DER that OpenSSL read and cert-der.ts does not: then it has none. */
function authorityKeyIdOf(certificate: X509Certificate): string | undefined {
  try {
    return certificateFields(certificate).authorityKeyId
  } catch {
    return undefined
  }
}

/** The verdicts (OpenSSL's, as Node names them) a route's CRLs may have given: the certificate listed, a CRL missing, out of date or unreadable. */
const CRL_VERDICTS: ReadonlySet<string> = new Set(['CERT_REVOKED', ...CRL_TROUBLES, RECHECK_FAILED])

/**
 * The fields a refusal's log line gets: `certificate`, the peer's own, when one came; `crl`, the route's
 * CRL files of that side (tls.crl or upstream.crl, as the user wrote them), when the verdict may be
 * theirs. Each file names its CRLs' issuers, and the certificate's issuer says which one to look in.
 */
export function refusalFields(
  certificate: X509Certificate | undefined,
  verdict: string | undefined,
  crlFiles: () => readonly CrlFile[],
): { certificate?: CertificateIdentity; crl?: string[] } {
  const crl = verdict !== undefined && CRL_VERDICTS.has(verdict) ? crlFiles().map((crl) => displayPath(crl.file)) : []
  return { ...(certificate && { certificate: { ...certificateIdentity(certificate), ...datesThatRefused(certificate, verdict) } }), ...(crl.length > 0 && { crl }) }
}

/** Its own date that gave `verdict`, if one did: a verdict of dates may be of a CA of its chain. */
function datesThatRefused(certificate: X509Certificate, verdict: string | undefined): Pick<CertificateIdentity, 'notAfter' | 'notBefore'> {
  if (verdict === undefined || outsideValidity(certificate, new Date()) !== verdict) return {}
  if (verdict === 'CERT_HAS_EXPIRED') return { notAfter: new Date(certificate.validTo).toISOString() }
  return { notBefore: new Date(certificate.validFrom).toISOString() }
}

/** A route's tls.crl files: what refuses its clients' certificates. */
export function ingressCrlFiles(route: RouteConfig | undefined): readonly CrlFile[] {
  return route?.tls && route.tls !== 'passthrough' ? route.tls.crl : []
}

/** A peer certificate a TLS connection refused, and what to change, where the refusal says it. */
export interface RefusedPeer {
  readonly certificate: X509Certificate
  readonly hint?: string
}

/**
 * The certificate a TLS connection refused, kept on the error that refusal raised: by the time the
 * error is logged, the connection, and its peer certificate with it, is gone. A symbol, not a field:
 * the error's own fields never carry it into a log line.
 */
const REFUSED_PEER = Symbol('refused peer')

export function withPeerCertificate(error: Error, certificate: X509Certificate, hint?: string): void {
  const refused: RefusedPeer = { certificate, ...(hint && { hint }) }
  Object.defineProperty(error, REFUSED_PEER, { value: refused })
}

/** The peer certificate that `error`, or one of its causes, refused, with its hint (withPeerCertificate). */
export function refusedPeerOf(error: unknown): RefusedPeer | undefined {
  for (const at of errorChain(error)) {
    const refused = (at as { [REFUSED_PEER]?: RefusedPeer })[REFUSED_PEER]
    if (refused) return refused
  }
  return undefined
}
