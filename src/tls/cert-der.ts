/**
 * What the re-check (recheck.ts, policy-crls.ts), the certificate checks (cert-checks.ts) and the
 * matching of CRLs to their CAs at load (crl-issuers.ts) need of a certificate that node:crypto does
 * not give: its issuer's and subject's Names as DER, its serial number as a CRL lists it, and its
 * keyUsage as OpenSSL reads it. Taken from the DER (X509Certificate.raw) where they lie (RFC 5280
 * 4.1), once per X509Certificate. @peculiar/x509 parses the whole certificate into objects, about
 * 1 ms, and every re-check has new X509Certificate objects of the client's chain.
 */
import type { X509Certificate } from 'node:crypto'
import { BIT_STRING, BOOLEAN, bytes, element, expectTag, OBJECT_IDENTIFIER, OCTET_STRING, reading, SEQUENCE, serialNumberHex, wholeElement, type Element } from './der.js'

/** tbsCertificate's [0] EXPLICIT version (absent in v1) and [3] EXPLICIT extensions. */
const VERSION = 0xa0
const EXTENSIONS = 0xa3
/** A BIT STRING in BER's constructed form, in pieces. */
const CONSTRUCTED_BIT_STRING = 0x23
/** id-ce-keyUsage (2.5.29.15) and id-ce-basicConstraints (2.5.29.19): their OIDs' DER content, in hexadecimal. */
const KEY_USAGE_OID = '551d0f'
const BASIC_CONSTRAINTS_OID = '551d13'
export const AUTHORITY_KEY_ID_OID = '551d23'
/** authorityKeyIdentifier's keyIdentifier: [0] IMPLICIT OCTET STRING. */
const KEY_IDENTIFIER = 0x80

/** keyUsage's named bits (RFC 5280 4.2.1.3), numbered from the first byte's most significant bit. */
export const KEY_USAGE_BITS = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const

export type KeyUsage = keyof typeof KEY_USAGE_BITS

/**
 * A certificate's keyUsage as OpenSSL reads it (ossl_x509v3_cache_extensions, crypto/x509/v3_purp.c):
 * undefined without one; the first two bytes of its BIT STRING as a number, the first byte high (the
 * two bytes OpenSSL keeps in ex_kusage, the first byte low there); or 'invalid', where OpenSSL marks
 * the certificate invalid (EXFLAG_INVALID): the extension twice, a value that is no BIT STRING, or one
 * with no bit set in those two bytes. A handshake chains such a certificate to nothing, neither as the
 * one issued nor as the issuer: X509_check_issued fails on it.
 */
export type KeyUsageField = number | undefined | 'invalid'

export interface CertificateFields {
  /** The issuer's Name, the whole DER element. */
  readonly issuer: Uint8Array
  /** The subject's Name, the whole DER element. */
  readonly subject: Uint8Array
  /** In hexadecimal, as revokedSerials (crl-der.ts) lists serial numbers. */
  readonly serialNumber: string
  readonly keyUsage: KeyUsageField
  /** Whether it has a basicConstraints extension, whatever it says (X509Certificate.ca tells a CA). */
  readonly basicConstraints: boolean
  /**
   * The keyIdentifier of its authorityKeyIdentifier, the issuer's subjectKeyIdentifier, as `openssl
   * x509 -text` prints both (`A1:B2:…`); undefined without one.
   */
  readonly authorityKeyId: string | undefined
}

const fieldsOfCertificate = new WeakMap<X509Certificate, CertificateFields>()

/**
 * The certificate's fields, read at the first call for this X509Certificate. Throws on DER it does not
 * read (OpenSSL has parsed the certificate before, so only what BER allows and DER does not).
 */
export function certificateFields(certificate: X509Certificate): CertificateFields {
  let fields = fieldsOfCertificate.get(certificate)
  if (!fields) fieldsOfCertificate.set(certificate, (fields = reading('certificate', () => fieldsOf(certificate.raw))))
  return fields
}

/** Whether keyUsage bits, as certificateFields reads them, include `usage`. */
export function hasKeyUsage(bits: number, usage: KeyUsage): boolean {
  return (bits & (0x8000 >>> KEY_USAGE_BITS[usage])) !== 0
}

/**
 * tbsCertificate: [0] version, serialNumber, signature, issuer, validity, subject,
 * subjectPublicKeyInfo, [1] issuerUniqueID, [2] subjectUniqueID, [3] extensions.
 */
function fieldsOf(der: Uint8Array): CertificateFields {
  const certificate = element(der, 0, der.length, SEQUENCE)
  const tbs = element(der, certificate.start, certificate.end, SEQUENCE)
  let serialNumber = element(der, tbs.start, tbs.end)
  if (serialNumber.tag === VERSION) serialNumber = element(der, serialNumber.end, tbs.end)
  const signature = element(der, serialNumber.end, tbs.end, SEQUENCE)
  const issuer = element(der, signature.end, tbs.end, SEQUENCE)
  const validity = element(der, issuer.end, tbs.end, SEQUENCE)
  const subject = element(der, validity.end, tbs.end, SEQUENCE)
  const publicKeyInfo = element(der, subject.end, tbs.end, SEQUENCE)
  let extensions: Element | undefined
  for (let at = publicKeyInfo.end; at < tbs.end; ) {
    const field = element(der, at, tbs.end)
    if (field.tag === EXTENSIONS) extensions = element(der, field.start, field.end, SEQUENCE)
    at = field.end
  }
  const values = extensions ? extensionValues(der, extensions) : new Map<string, Element[]>()
  return {
    issuer: wholeElement(der, issuer),
    subject: wholeElement(der, subject),
    serialNumber: serialNumberHex(der, serialNumber),
    keyUsage: keyUsageOf(der, values.get(KEY_USAGE_OID) ?? []),
    basicConstraints: values.has(BASIC_CONSTRAINTS_OID),
    authorityKeyId: authorityKeyIdOf(der, values.get(AUTHORITY_KEY_ID_OID) ?? []),
  }
}

/** AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] OPTIONAL, … } (RFC 5280 4.2.1.1), of a certificate or a CRL (5.2.1). */
export function authorityKeyIdOf(der: Uint8Array, values: readonly Element[]): string | undefined {
  const [value] = values
  if (!value) return undefined
  const sequence = element(der, value.start, value.end, SEQUENCE)
  if (sequence.start === sequence.end) return undefined
  const first = element(der, sequence.start, sequence.end)
  if (first.tag !== KEY_IDENTIFIER || first.start === first.end) return undefined
  return [...bytes(der, first.start, first.end)].map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join(':')
}

/** The Extensions (each { extnID, critical DEFAULT FALSE, extnValue }) of a certificate or a CRL: each extnValue, by extnID in hexadecimal. */
export function extensionValues(der: Uint8Array, extensions: Element): Map<string, Element[]> {
  const values = new Map<string, Element[]>()
  for (let at = extensions.start; at < extensions.end; ) {
    const extension = element(der, at, extensions.end, SEQUENCE)
    const oid = element(der, extension.start, extension.end, OBJECT_IDENTIFIER)
    let value = element(der, oid.end, extension.end)
    if (value.tag === BOOLEAN) value = element(der, value.end, extension.end)
    expectTag(value, OCTET_STRING)
    const id = bytes(der, oid.start, oid.end).toString('hex')
    values.set(id, [...(values.get(id) ?? []), value])
    at = extension.end
  }
  return values
}

/** keyUsage, of its extnValues (none, one, or more). */
function keyUsageOf(der: Uint8Array, values: readonly Element[]): KeyUsageField {
  // X509_get_ext_d2i finds no single keyUsage in a certificate that has two.
  if (values.length > 1) return 'invalid'
  return values.length === 0 ? undefined : keyUsageBits(der, values[0]!)
}

/**
 * The BIT STRING in keyUsage's extnValue, as OpenSSL decodes it (c2i_ASN1_BIT_STRING): the first content
 * byte counts the unused bits at the end of the last, which are cleared; bytes after the BIT STRING
 * are not read (X509V3_EXT_d2i).
 */
function keyUsageBits(der: Uint8Array, value: Element): KeyUsageField {
  const bitString = element(der, value.start, value.end)
  // BER's constructed form, which OpenSSL would put together: not read here, so the check fails closed.
  if (bitString.tag === CONSTRUCTED_BIT_STRING) throw new Error('keyUsage is a constructed BIT STRING')
  if (bitString.tag !== BIT_STRING || bitString.start === bitString.end || der[bitString.start]! > 7) return 'invalid'
  const bits = (bitStringByte(der, bitString, 0) << 8) | bitStringByte(der, bitString, 1)
  // RFC 5280 4.2.1.3: at least one bit set. OpenSSL 3 holds a keyUsage without one invalid.
  return bits === 0 ? 'invalid' : bits
}

/** Byte `i` of a BIT STRING's bits, the unused bits cleared if it is the last; 0 past the end. */
function bitStringByte(der: Uint8Array, bitString: Element, i: number): number {
  const at = bitString.start + 1 + i
  if (at >= bitString.end) return 0
  const unusedBits = at === bitString.end - 1 ? der[bitString.start]! : 0
  return der[at]! & (0xff << unusedBits)
}
