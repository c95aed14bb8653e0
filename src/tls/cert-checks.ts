/**
 * What OpenSSL holds a certificate to when it builds and verifies a chain (usages, issuer, signature,
 * validity dates), as the WebSocket re-check (recheck.ts), the config warnings (snapshot/warnings.ts)
 * and the load-time checks of CA bundles (pem.ts: their roots) and CRLs (crl-issuers.ts: the CAs in
 * their dates) need it.
 */
import type { X509Certificate } from 'node:crypto'
import { certificateFields, hasKeyUsage, type KeyUsage } from './cert-der.js'

/** Extended key usages (RFC 5280 4.2.1.12), as X509Certificate.keyUsage lists them. */
export const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
export const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

/** Whether the certificate has an extended key usage that leaves `usage` out: none allows every usage. */
export function extendedUsageLacks(certificate: X509Certificate, usage: typeof SERVER_AUTH | typeof CLIENT_AUTH): boolean {
  return certificate.keyUsage?.includes(usage) === false
}

/**
 * Whether the certificate's keyUsage allows one of `usages`, or it has none: OpenSSL's ku_reject
 * (crypto/x509/v3_purp.c), negated. node:crypto reads no keyUsage (its X509Certificate.keyUsage is the
 * extended key usage), so cert-der.ts does. A keyUsage OpenSSL holds invalid allows nothing: such a
 * certificate chains to nothing in a handshake (see signedBy), and this answer is never the last word.
 */
export function keyUsageAllows(certificate: X509Certificate, ...usages: KeyUsage[]): boolean {
  const { keyUsage } = certificateFields(certificate)
  if (keyUsage === 'invalid') return false
  return keyUsage === undefined || usages.some((usage) => hasKeyUsage(keyUsage, usage))
}

/**
 * Whether the certificate's keyUsage allows keyCertSign, or it has none. X509Certificate.ca
 * (X509_check_ca) is true only then, and spares reading it.
 */
export function allowsCertSign(certificate: X509Certificate): boolean {
  return certificate.ca || keyUsageAllows(certificate, 'keyCertSign')
}

/**
 * Whether `issuer` issued the certificate, as OpenSSL takes an issuer when it builds a chain
 * (check_issued in crypto/x509/x509_vfy.c): named as its issuer, and its key made the signature.
 * X509Certificate.checkIssued is X509_check_issued, which also says no to an issuer whose keyUsage
 * lacks keyCertSign; OpenSSL builds the chain through that issuer, and refuses it after
 * (KEYUSAGE_NO_CERTSIGN). Both say no where either certificate's keyUsage is invalid
 * (ossl_x509_likely_issued caches the extensions of both, and fails).
 */
export function signedBy(certificate: X509Certificate, issuer: X509Certificate): boolean {
  const named = certificate.checkIssued(issuer) || (certificate.issuer === issuer.subject && lacksOnlyCertSign(certificate, issuer))
  return named && certificate.verify(issuer.publicKey)
}

/** Whether X509_check_issued says no for the issuer's keyUsage alone: it lacks keyCertSign, and neither keyUsage is invalid. */
function lacksOnlyCertSign(certificate: X509Certificate, issuer: X509Certificate): boolean {
  const invalid = (of: X509Certificate) => certificateFields(of).keyUsage === 'invalid'
  return !allowsCertSign(issuer) && !invalid(issuer) && !invalid(certificate)
}

export type IssuerKind = 'ca' | 'tolerated' | 'none'

/**
 * What OpenSSL's check_ca (crypto/x509/v3_purp.c) makes of a certificate as an issuer: a CA, as
 * X509Certificate.ca says (1); one it tolerates, without basicConstraints but with a keyUsage that
 * allows keyCertSign (4); or none (0). A handshake refuses a chain through one above the leaf that is
 * not a CA (INVALID_CA), and through one that is none for TLS clients too (INVALID_PURPOSE). The
 * version 1 roots and Netscape CA types check_ca also tolerates are none here: a chain with one is
 * refused either way (it is no CA of a bundle, readCaBundle), at most for another of its reasons.
 */
export function issuerKind(certificate: X509Certificate): IssuerKind {
  if (certificate.ca) return 'ca'
  const { basicConstraints, keyUsage } = certificateFields(certificate)
  return !basicConstraints && keyUsage !== undefined && keyUsageAllows(certificate, 'keyCertSign') ? 'tolerated' : 'none'
}

/** A root CA's certificate, or a self-signed leaf: issued in its own name, and signed by its own key. */
export function isSelfSigned(certificate: X509Certificate): boolean {
  return signedBy(certificate, certificate)
}

/** OpenSSL's code when `now` is outside the certificate's validity dates. */
export function outsideValidity(certificate: X509Certificate, now: Date): 'CERT_HAS_EXPIRED' | 'CERT_NOT_YET_VALID' | undefined {
  if (new Date(certificate.validTo) < now) return 'CERT_HAS_EXPIRED'
  if (new Date(certificate.validFrom) > now) return 'CERT_NOT_YET_VALID'
  return undefined
}
