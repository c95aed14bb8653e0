/**
 * Reads certificate, key, CA bundle and CRL files. Every failure is a PortcullisError whose message names
 * the file, so the snapshot builder can turn it into a config issue at the key that named the file.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { createRequire } from 'node:module'
import { createSecureContext } from 'node:tls'
import { relative } from 'node:path'
import { readRegularFile } from '../config/regular-file.js'
import { ErrorCodes, PortcullisError } from '../errors.js'
import { certificateFields, hasKeyUsage, type KeyUsage } from './cert-der.js'
import { readCrlPem } from './crl-der.js'
import { subjectRfc2253 } from './subject.js'

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g
const CRL_BLOCK = /-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g

export interface CertificateFile {
  readonly file: string
  /** The certificates as PEM, one block each as OpenSSL writes them: what node:tls is given. */
  readonly pem: string
  readonly certificates: readonly X509Certificate[]
}

/** A file name as users wrote it: relative to the working directory when shorter. */
function displayPath(file: string): string {
  const rel = relative(process.cwd(), file)
  return rel.length < file.length && !rel.startsWith('..') ? rel : file
}

function readText(file: string): string {
  try {
    return readRegularFile(file).toString('utf8')
  } catch (error) {
    throw new PortcullisError(ErrorCodes.CERT_READ, `cannot read ${displayPath(file)}: ${(error as Error).message}`, {
      cause: error,
    })
  }
}

/** One or more concatenated PEM certificates (leaf first for a served chain). */
export function readCertificates(file: string): CertificateFile {
  const text = readText(file)
  const blocks = text.match(CERT_BLOCK) ?? []
  if (blocks.length === 0) {
    // A DER file (binary, no BEGIN line) is the usual one: Windows and Java tools export it.
    const hint = text.includes('-----BEGIN') ? '' : `; if it is DER, convert it: openssl x509 -inform DER -in ${displayPath(file)} -out cert.pem`
    throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(file)} holds no PEM certificate${hint}`)
  }
  const certificates = blocks.map((block, i) => {
    try {
      return new X509Certificate(block)
    } catch (error) {
      throw new PortcullisError(
        ErrorCodes.CERT_READ,
        `${displayPath(file)}: certificate #${i + 1} is not valid PEM/DER (${(error as Error).message})`,
        { cause: error },
      )
    }
  })
  // Not the text as read: OpenSSL's PEM reader refuses a line such as `-----END CERTIFICATE-----
  // -----BEGIN CERTIFICATE-----` (two files joined, the first without a final newline), and a `ca`
  // option then holds no CA at all, without an error. Re-encoded, node:tls gets what was checked.
  return { file, pem: certificates.map((cert) => cert.toString()).join(''), certificates }
}

/**
 * A bundle for clientCAs or upstream.ca: every entry must be a CA certificate (RFC 5280 4.2.1.9,
 * basicConstraints cA=true). OpenSSL would reject a leaf as an issuer later anyway, but only per
 * handshake and with an opaque reason; refusing it here names the file at load time.
 */
export function readCaBundle(file: string): CertificateFile {
  const bundle = readCertificates(file)
  for (const cert of bundle.certificates) {
    if (!cert.ca) {
      throw new PortcullisError(
        ErrorCodes.CERT_NOT_CA,
        `${displayPath(file)} holds a certificate that is not a CA (${subjectRfc2253(cert)})`,
      )
    }
  }
  // One expired CA among current ones is a rotation in progress (a warning); a bundle of expired CAs
  // verifies nothing.
  const now = new Date()
  if (bundle.certificates.every((cert) => new Date(cert.validTo) < now)) {
    throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(file)} holds only expired CA certificates`)
  }
  return bundle
}

/** Extended key usages (RFC 5280 4.2.1.12), as X509Certificate.keyUsage lists them. */
export const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
export const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

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

/** The private key of a certificate (read by readCertificates), checked to belong to it. */
export function readPrivateKeyOf(cert: CertificateFile, certFile: string, keyFile: string): string {
  const keyPem = readText(keyFile)
  let key: KeyObject
  try {
    key = createPrivateKey(keyPem)
  } catch (error) {
    // An encrypted key needs a passphrase, and a gateway that restarts unattended has no one to type it.
    const why = /ENCRYPTED/.test(keyPem) ? ' (it is encrypted; portcullis reads unencrypted keys only)' : ''
    throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(keyFile)} holds no readable private key${why}`, {
      cause: error,
    })
  }
  const [leaf, ...chain] = cert.certificates
  if (!leaf!.checkPrivateKey(key)) {
    // A chain written intermediate first: TLS sends the first certificate as the server's own.
    const position = chain.findIndex((certificate) => certificate.checkPrivateKey(key))
    const why =
      position < 0
        ? ''
        : ` (it is the key of certificate ${position + 2} in that file, ${subjectRfc2253(chain[position]!)}: put it first, then its intermediates)`
    throw new PortcullisError(
      ErrorCodes.KEY_MISMATCH,
      `${displayPath(keyFile)} is not the private key of ${displayPath(certFile)}${why}`,
    )
  }
  return keyPem
}

export interface Crl {
  readonly pem: string
  /** When the issuer promises the next CRL; after it, OpenSSL refuses every certificate it covers. */
  readonly nextUpdate: Date | undefined
  /** The issuer's name as @peculiar/x509 prints it (see crlIssuerSubject); undefined when unreadable. */
  readonly issuerName: string | undefined
}

/**
 * Every CRL of a file, one PEM block each: Node's `crl` option reads one CRL per entry, so a file of
 * several (`cat root.crl intermediate.crl`, as nginx's ssl_crl takes them) must be split.
 */
export function readCrl(file: string): Crl[] {
  const blocks = readText(file).match(CRL_BLOCK) ?? []
  if (blocks.length === 0) throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(file)} holds no PEM CRL`)
  return blocks.map((pem, i) => {
    // node:crypto has no CRL parser; OpenSSL parses each here as it will for the TLS policy.
    try {
      createSecureContext({ crl: pem })
    } catch (error) {
      const which = blocks.length > 1 ? `CRL ${i + 1} of ${blocks.length}` : 'a CRL'
      throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(file)} holds ${which} that cannot be parsed`, { cause: error })
    }
    return { pem, ...crlFields(pem) }
  })
}

const require = createRequire(import.meta.url)

/**
 * @peculiar/x509, for what node:crypto cannot read and crl-der.ts does not: a CRL's issuer as a name
 * is printed, and a CRL signed with an algorithm crl-der.ts does not check. It (and the Reflect
 * polyfill it needs first, see tls/pki.ts) is loaded at the first CRL read, so a gateway without CRLs
 * never loads it.
 */
export function peculiarX509(): typeof import('@peculiar/x509') {
  // Kept: require() resolves the name again at each call, about 20 µs.
  if (!peculiar) {
    require('reflect-metadata')
    peculiar = require('@peculiar/x509') as typeof import('@peculiar/x509')
  }
  return peculiar
}

let peculiar: typeof import('@peculiar/x509') | undefined

const peculiarCertificates = new WeakMap<X509Certificate, import('@peculiar/x509').X509Certificate>()

/**
 * The certificate as @peculiar/x509 reads it, parsed once per X509Certificate: about 1 ms, with its
 * extensions. Only to verify a CRL signed with an algorithm crl-der.ts does not check.
 */
export function peculiarCertificate(certificate: X509Certificate): import('@peculiar/x509').X509Certificate {
  let parsed = peculiarCertificates.get(certificate)
  if (!parsed) peculiarCertificates.set(certificate, (parsed = new (peculiarX509().X509Certificate)(certificate.raw)))
  return parsed
}

/**
 * A PEM CRL parsed whole. asn1js, under @peculiar/x509, refuses more than 10,000 BER nodes (about 2,450
 * entries) or 16 MiB by default; OpenSSL reads such a CRL, so it is read whole here too: the PEM's
 * length bounds both its nodes and its content.
 */
export function parseCrl(pem: string): import('@peculiar/x509').X509Crl {
  return new (peculiarX509().X509Crl)(pem, { berOptions: { maxNodes: pem.length, maxContentLength: pem.length } })
}

/**
 * A CRL's nextUpdate and issuer, which only warnings and a gauge need: undefined when unreadable. Read
 * from the DER (crl-der.ts), not parsed whole: this runs at every load of the config.
 */
function crlFields(pem: string): Pick<Crl, 'nextUpdate' | 'issuerName'> {
  try {
    const fields = readCrlPem(pem)
    return { nextUpdate: fields.nextUpdate, issuerName: printedName(fields.issuer) }
  } catch {
    return { nextUpdate: undefined, issuerName: undefined }
  }
}

/** A Name (its DER), such as a CRL's issuer, as @peculiar/x509 prints a name, as it prints a certificate's subject. */
export function printedName(name: Uint8Array): string {
  return new (peculiarX509().Name)(new Uint8Array(name)).toString()
}

/**
 * The CRL's issuer as the RFC 2253 subject of the CA in `cas` that has its name, as the expiry gauge
 * names that CA; the library's own spelling when no CA there has it (OpenSSL then never uses the CRL).
 */
export function crlIssuerSubject(crl: Crl, cas: readonly X509Certificate[]): string {
  if (crl.issuerName === undefined) return ''
  const { X509Certificate: PeculiarCertificate } = peculiarX509()
  const peculiarSubject = (certificate: X509Certificate) => {
    try {
      return new PeculiarCertificate(certificate.raw).subject
    } catch {
      // One node:crypto reads and the library does not: it names no CRL here, and fails nothing.
      return undefined
    }
  }
  const ca = cas.find((certificate) => peculiarSubject(certificate) === crl.issuerName)
  return ca ? subjectRfc2253(ca) : crl.issuerName
}
