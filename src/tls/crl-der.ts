/**
 * A CRL as portcullis reads it (RFC 5280 5.1): the issuer, the dates, the serial numbers listed and
 * the signature, taken from the DER where they lie, and the signature checked with node:crypto.
 * @peculiar/x509 decodes every entry into objects first: about 2 s, with a peak of 400 MB, for a CA's
 * CRL of 100,000 entries (3 MB), where OpenSSL reads it in 50 ms. Only DER is read (a CRL is DER, and
 * OpenSSL has parsed it before this runs); anything else throws.
 */
import { constants, verify, type KeyObject } from 'node:crypto'
import { AUTHORITY_KEY_ID_OID, authorityKeyIdOf, extensionValues } from './cert-der.js'
import { BIT_STRING, bytes, element, expectTag, INTEGER, OBJECT_IDENTIFIER, reading, SEQUENCE, serialNumberHex, wholeElement, type Element } from './der.js'

const UTC_TIME = 0x17
const GENERALIZED_TIME = 0x18
/** tbsCertList's [0] EXPLICIT crlExtensions. */
const CRL_EXTENSIONS = 0xa0

export interface CrlFields {
  /** The issuer's Name, the whole DER element. */
  readonly issuer: Uint8Array
  readonly thisUpdate: Date
  readonly nextUpdate: Date | undefined
  /**
   * The keyIdentifier of its authorityKeyIdentifier, the subjectKeyIdentifier of the key that signed it,
   * as cert-der.ts reads a certificate's (`A1:B2:…`); undefined without one.
   */
  readonly authorityKeyId: string | undefined
  /** The content of revokedCertificates; empty when the CRL lists none. */
  readonly revoked: Uint8Array
  /** What the signature covers: the whole tbsCertList element. */
  readonly tbs: Uint8Array
  /** The signature algorithm's OID, its DER content in hexadecimal. */
  readonly signatureAlgorithm: string
  /** The DER of the algorithm's parameters, if any: RSA-PSS has its hash and salt length there. */
  readonly signatureParameters: Uint8Array
  readonly signature: Uint8Array
}

/** One PEM block ("-----BEGIN X509 CRL-----"), as pem.ts splits a file. */
export function readCrlPem(pem: string): CrlFields {
  return readCrlFields(Buffer.from(pem.replace(/-----[^-]+-----/g, ''), 'base64'))
}

export function readCrlFields(der: Uint8Array): CrlFields {
  return reading('CRL', () => fieldsOf(der))
}

function fieldsOf(der: Uint8Array): CrlFields {
  const certificateList = element(der, 0, der.length, SEQUENCE)
  const tbs = element(der, certificateList.start, certificateList.end, SEQUENCE)
  const algorithm = element(der, tbs.end, certificateList.end, SEQUENCE)
  const oid = element(der, algorithm.start, algorithm.end, OBJECT_IDENTIFIER)
  const signature = element(der, algorithm.end, certificateList.end, BIT_STRING)
  // The first content byte of a BIT STRING counts the unused bits of the last: none in a signature.
  if (signature.end === signature.start || der[signature.start] !== 0) throw new Error('its signature is not whole bytes')
  let field = element(der, tbs.start, tbs.end)
  if (field.tag === INTEGER) field = element(der, field.end, tbs.end) // version, v2 only
  expectTag(field, SEQUENCE) // the signature algorithm
  const issuer = element(der, field.end, tbs.end, SEQUENCE)
  const thisUpdate = element(der, issuer.end, tbs.end)
  let nextUpdate: Date | undefined
  let revoked: Uint8Array = new Uint8Array(0)
  let authorityKeyId: string | undefined
  for (let at = thisUpdate.end; at < tbs.end; ) {
    field = element(der, at, tbs.end)
    if (isTime(field) && at === thisUpdate.end) nextUpdate = time(der, field)
    else if (field.tag === SEQUENCE) revoked = der.subarray(field.start, field.end)
    else if (field.tag === CRL_EXTENSIONS) {
      const extensions = extensionValues(der, element(der, field.start, field.end, SEQUENCE))
      authorityKeyId = authorityKeyIdOf(der, extensions.get(AUTHORITY_KEY_ID_OID) ?? [])
    }
    at = field.end
  }
  return {
    issuer: wholeElement(der, issuer),
    thisUpdate: time(der, thisUpdate),
    nextUpdate,
    authorityKeyId,
    revoked,
    tbs: wholeElement(der, tbs),
    signatureAlgorithm: bytes(der, oid.start, oid.end).toString('hex'),
    signatureParameters: der.subarray(oid.end, algorithm.end),
    signature: der.subarray(signature.start + 1, signature.end),
  }
}

/**
 * The signature algorithms checked here, by OID: the key type each needs, and its hash (none for EdDSA,
 * which hashes by itself). These, and RSA-PSS below, are what CAs sign CRLs with; any other is
 * undefined below.
 */
const SIGNATURE_ALGORITHMS = new Map<string, { readonly keyType: string; readonly hash: string | null }>([
  ['2a8648ce3d040302', { keyType: 'ec', hash: 'sha256' }], // ecdsa-with-SHA256
  ['2a8648ce3d040303', { keyType: 'ec', hash: 'sha384' }],
  ['2a8648ce3d040304', { keyType: 'ec', hash: 'sha512' }],
  ['2a864886f70d01010b', { keyType: 'rsa', hash: 'sha256' }], // sha256WithRSAEncryption
  ['2a864886f70d01010c', { keyType: 'rsa', hash: 'sha384' }],
  ['2a864886f70d01010d', { keyType: 'rsa', hash: 'sha512' }],
  ['2b6570', { keyType: 'ed25519', hash: null }],
  ['2b6571', { keyType: 'ed448', hash: null }],
])

const RSASSA_PSS = '2a864886f70d01010a'
const MGF1 = '2a864886f70d010108'
const PSS_HASHES = new Map([
  ['608648016503040201', 'sha256'],
  ['608648016503040202', 'sha384'],
  ['608648016503040203', 'sha512'],
])

/** Whether `publicKey` made the CRL's signature; undefined for an algorithm not checked here. */
export function crlSignedBy(fields: CrlFields, publicKey: KeyObject): boolean | undefined {
  if (fields.signatureAlgorithm === RSASSA_PSS) return pssSignedBy(fields, publicKey)
  const algorithm = SIGNATURE_ALGORITHMS.get(fields.signatureAlgorithm)
  if (!algorithm) return undefined
  if (publicKey.asymmetricKeyType !== algorithm.keyType) return false
  return verify(algorithm.hash, fields.tbs, publicKey, fields.signature)
}

/** RSA-PSS with SHA-2, as node:crypto verifies it: MGF1 with the same hash; undefined for any other. */
function pssSignedBy(fields: CrlFields, publicKey: KeyObject): boolean | undefined {
  const parameters = pssParameters(fields.signatureParameters)
  if (!parameters) return undefined
  if (publicKey.asymmetricKeyType !== 'rsa' && publicKey.asymmetricKeyType !== 'rsa-pss') return false
  const key = { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: parameters.saltLength }
  return verify(parameters.hash, fields.tbs, key, fields.signature)
}

/**
 * RSASSA-PSS-params (RFC 4055 3.1): the hash and the salt length, when MGF1 uses that same hash and
 * the trailer is the one defined. The hash's default, SHA-1, is not among PSS_HASHES: undefined.
 */
function pssParameters(der: Uint8Array): { hash: string; saltLength: number } | undefined {
  const byTag = new Map<number, Element>()
  const sequence = element(der, 0, der.length, SEQUENCE)
  for (let at = sequence.start; at < sequence.end; ) {
    const field = element(der, at, sequence.end)
    byTag.set(field.tag, element(der, field.start, field.end)) // [n] EXPLICIT: the value inside
    at = field.end
  }
  const [hash, mgf, salt, trailer] = [0xa0, 0xa1, 0xa2, 0xa3].map((tag) => byTag.get(tag))
  if (!hash || !mgf || algorithmOid(der, mgf) !== MGF1 || (trailer && integer(der, trailer) !== 1)) return undefined
  const hashOid = algorithmOid(der, hash)
  const mgfHash = element(der, element(der, mgf.start, mgf.end, OBJECT_IDENTIFIER).end, mgf.end)
  const hashName = PSS_HASHES.get(hashOid)
  if (!hashName || algorithmOid(der, mgfHash) !== hashOid) return undefined
  return { hash: hashName, saltLength: salt ? integer(der, salt) : 20 }
}

/** The OID of an AlgorithmIdentifier, in hexadecimal. */
function algorithmOid(der: Uint8Array, algorithm: Element): string {
  expectTag(algorithm, SEQUENCE)
  const oid = element(der, algorithm.start, algorithm.end, OBJECT_IDENTIFIER)
  return bytes(der, oid.start, oid.end).toString('hex')
}

/** A small non-negative INTEGER, as a salt length or trailer field is. */
function integer(der: Uint8Array, found: Element): number {
  expectTag(found, INTEGER)
  if (found.end - found.start > 4) throw new Error('CRL has an integer too large for its field')
  let value = 0
  for (let at = found.start; at < found.end; at++) value = value * 256 + der[at]!
  return value
}

/** The serial numbers a CRL lists, in hexadecimal as serialNumberHex writes a certificate's. */
export function revokedSerials(fields: CrlFields): Set<string> {
  const { revoked } = fields
  return reading('CRL', () => {
    const serials = new Set<string>()
    for (let at = 0; at < revoked.length; ) {
      const entry = element(revoked, at, revoked.length, SEQUENCE)
      serials.add(serialNumberHex(revoked, element(revoked, entry.start, entry.end)))
      at = entry.end
    }
    return serials
  })
}

function isTime(found: Element): boolean {
  return found.tag === UTC_TIME || found.tag === GENERALIZED_TIME
}

/** RFC 5280 4.1.2.5: YYMMDDHHMMSSZ (years 50 to 99 are 19xx) or YYYYMMDDHHMMSSZ, in UTC. */
function time(der: Uint8Array, found: Element): Date {
  if (!isTime(found)) throw new Error(`tag 0x${found.tag.toString(16)} where a time belongs`)
  const text = bytes(der, found.start, found.end).toString('latin1')
  const match = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  const yearDigits = found.tag === UTC_TIME ? 2 : 4
  if (!match || match[1]!.length !== yearDigits) throw new Error(`a time RFC 5280 does not allow: ${text}`)
  const [year, month, day, hours, minutes, seconds] = match.slice(1).map(Number) as [number, number, number, number, number, number]
  const fullYear = yearDigits === 4 ? year : year >= 50 ? 1900 + year : 2000 + year
  return new Date(Date.UTC(fullYear, month - 1, day, hours, minutes, seconds))
}
