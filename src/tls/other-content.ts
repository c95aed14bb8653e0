/**
 * What a file named for a certificate, key or CRL holds when it holds no PEM block of that kind, and how
 * to get one from it: the message of each such file in pem.ts ends with this hint.
 */
import { displayPath } from '../config/file-paths.js'

const CSR_BEGIN = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----/
/** PKCS#12's PFX: a DER SEQUENCE whose first field is the version, 3 (RFC 7292 4). */
const PFX_VERSION = Buffer.from([0x02, 0x01, 0x03])
/** The OID of PKCS#7 data, which a PFX's authSafe is: 1.2.840.113549.1.7.1. */
const PKCS7_DATA = Buffer.from([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01])

/** Read by hand, not with der.ts: Windows' and Java's PFX files may be BER, of indefinite lengths (0x80). */
function isPkcs12(bytes: Buffer): boolean {
  if (bytes[0] !== 0x30) return false
  // The SEQUENCE's length takes one byte, or 0x8n and n more (none for 0x80).
  const lengthBytes = bytes[1]! & 0x80 ? 1 + (bytes[1]! & 0x7f) : 1
  const version = 1 + lengthBytes
  return bytes.subarray(version, version + 3).equals(PFX_VERSION) && bytes.subarray(0, 40).includes(PKCS7_DATA)
}

/** What each reader wants, and how to get it from a CSR or a DER file that was named instead. */
const FIXES = {
  certificate: { fromCsr: ': name the certificate the CA signed from it', fromDer: 'openssl x509 -inform DER -in FILE -out cert.pem' },
  key: { fromCsr: ': name the private key it was made with', fromDer: 'openssl pkey -inform DER -in FILE -out key.pem' },
  crl: { fromCsr: ', not a CRL', fromDer: 'openssl crl -inform DER -in FILE -out crl.pem' },
}

/** Text alone: printable ASCII and line breaks, which a DER file, of lengths and OIDs in binary, never is. */
const PLAIN_TEXT = /^[\t\n\r\x20-\x7e]*$/

/**
 * What a file without the PEM block it should hold holds instead, and how to get that block from it:
 * nothing (a file written empty, a Secret's key left blank), a certificate request (`openssl req -new`
 * writes server.csr beside the key, and the CA's server.crt lands beside it), a PKCS#12 bundle of a
 * certificate and its key (what Windows and Java tools export), or DER. Nothing for other PEM blocks,
 * nor for other text.
 */
export function otherContentHint(file: string, { bytes, text }: { bytes: Buffer; text: string }, wanted: keyof typeof FIXES): string {
  const path = displayPath(file)
  if (text.trim() === '') return '; the file is empty'
  if (CSR_BEGIN.test(text)) return `; it is a certificate signing request (CSR)${FIXES[wanted].fromCsr}`
  if (isPkcs12(bytes)) {
    const pkcs12 = `openssl pkcs12 -in ${path}`
    return (
      `; it is a PKCS#12 file (.p12, .pfx): write its certificate, then its intermediates, as PEM with ${pkcs12} -clcerts -nokeys -out cert.pem && ` +
      `${pkcs12} -cacerts -nokeys >> cert.pem, and its key with ${pkcs12} -nocerts -nodes -out key.pem (add -legacy for one of older Windows or Java tools)`
    )
  }
  return text.includes('-----BEGIN') || PLAIN_TEXT.test(text) ? '' : `; if it is DER, convert it: ${FIXES[wanted].fromDer.replace('FILE', path)}`
}
