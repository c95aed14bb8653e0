/**
 * Names compared as OpenSSL compares them (X509_NAME_cmp): a CRL is its CA's when it names the CA's
 * subject, and OpenSSL reads both in a canonical form (x509_name_canon and asn1_string_canon in
 * crypto/x509/x_name.c). A value of one of the seven string types below is made UTF-8, the ASCII white
 * space at its ends dropped and each run of it inside made one space, its ASCII letters lower-cased;
 * a value of another type is kept as it is; the attributes of one RDN are a set. So a CA's
 * `CN=Example CA` and a CRL's `CN=example  ca` in a UTF8String, as another tool may write the issuer,
 * are one name, and nothing else is folded (no Unicode case or normalisation), as OpenSSL folds
 * nothing else. OpenSSL parsed every name this reads (a certificate's, or a CRL's), and refuses one
 * whose strings it cannot make UTF-8, so each reads here as it did there.
 */
import { bytes, element, OBJECT_IDENTIFIER, reading, SEQUENCE, SET, type Element } from './der.js'

const latin1 = (content: Buffer) => content.toString('latin1')

/** The string types OpenSSL makes UTF-8 (ASN1_MASK_CANON), by tag, each read as OpenSSL reads it. */
const TEXT_OF_STRING = new Map<number, (content: Buffer) => string>([
  [0x0c, (content) => content.toString('utf8')], // UTF8String
  [0x13, latin1], // PrintableString
  [0x14, latin1], // T61String: a byte a character
  [0x16, latin1], // IA5String
  [0x1a, latin1], // VisibleString
  [0x1c, (content) => String.fromCodePoint(...Array.from({ length: content.length / 4 }, (_, i) => content.readUInt32BE(i * 4)))], // UniversalString
  [0x1e, (content) => Buffer.from(content).swap16().toString('utf16le')], // BMPString
])

/** ossl_isspace: tab, line feed, vertical tab, form feed, carriage return, space. */
const SPACES = '[\\t-\\r ]+'
const EDGE_SPACES = new RegExp(`^${SPACES}|${SPACES}$`, 'g')
const INNER_SPACES = new RegExp(SPACES, 'g')

/** A Name (its DER) in a form that is equal for two names exactly when OpenSSL holds them equal. */
export function canonicalName(name: Uint8Array): string {
  return reading('name', () => {
    const rdns: string[][] = []
    const sequence = element(name, 0, name.length, SEQUENCE)
    for (let at = sequence.start; at < sequence.end; ) {
      const rdn = element(name, at, sequence.end, SET)
      const attributes: string[] = []
      for (let next = rdn.start; next < rdn.end; ) {
        const attribute = element(name, next, rdn.end, SEQUENCE)
        const type = element(name, attribute.start, attribute.end, OBJECT_IDENTIFIER)
        attributes.push(`${bytes(name, type.start, type.end).toString('hex')} ${canonicalValue(name, element(name, type.end, attribute.end))}`)
        next = attribute.end
      }
      rdns.push(attributes.sort())
      at = rdn.end
    }
    return JSON.stringify(rdns)
  })
}

function canonicalValue(name: Uint8Array, value: Element): string {
  const content = bytes(name, value.start, value.end)
  const textOf = TEXT_OF_STRING.get(value.tag)
  if (!textOf) return `${value.tag.toString(16)}:${content.toString('hex')}`
  return `'${textOf(content).replace(EDGE_SPACES, '').replace(INNER_SPACES, ' ').replace(/[A-Z]+/g, (letters) => letters.toLowerCase())}`
}
