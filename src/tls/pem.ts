/**
 * Reads certificate, key, CA bundle and CRL files. Every failure is a PortcullisError whose message names
 * the file, so the snapshot builder can turn it into a config issue at the key that named the file.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import { displayPath } from '../config/file-paths.js'
import { readFailure, readRegularFile } from '../config/regular-file.js'
import { ErrorCodes, PortcullisError } from '../errors.js'
import { isSelfSigned } from './cert-checks.js'
import { certificateFields } from './cert-der.js'
import { readCrlPem, type CrlFields } from './crl-der.js'
import { otherContentHint } from './other-content.js'
import { printedName } from './peculiar.js'
import { subjectRfc2253 } from './subject.js'

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g
const CRL_BLOCK = /-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g
/** PKCS#8, its encrypted form, and the older RSA, EC and OpenSSH key files. */
const PRIVATE_KEY_BEGIN = /-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----/

export interface CertificateFile {
  readonly file: string
  /** The certificates as PEM, one block each as OpenSSL writes them: what node:tls is given. */
  readonly pem: string
  readonly certificates: readonly X509Certificate[]
  /** A private key block beside the certificates: a combined file, as HAProxy's crt takes one. */
  readonly holdsPrivateKey: boolean
}

/** A file's bytes (binary ones say what they are: otherContentHint) and its text. */
function readFile(file: string): { bytes: Buffer; text: string } {
  try {
    const bytes = readRegularFile(file)
    return { bytes, text: bytes.toString('utf8') }
  } catch (error) {
    throw new PortcullisError(ErrorCodes.CERT_READ, `cannot read ${displayPath(file)}: ${readFailure(file, error)}`, {
      cause: error,
    })
  }
}

/** One or more concatenated PEM certificates (leaf first for a served chain). */
export function readCertificates(file: string): CertificateFile {
  const read = readFile(file)
  const { text } = read
  const blocks = text.match(CERT_BLOCK) ?? []
  // A file cut short (a copy or a paste that stopped early): the blocks before the cut would be read,
  // and a bundle would lose its last CA without a word.
  if (text.split('-----BEGIN CERTIFICATE-----').length - 1 > blocks.length) {
    throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(file)} holds a -----BEGIN CERTIFICATE----- line without its -----END CERTIFICATE----- line: the file is cut short`)
  }
  if (blocks.length === 0) {
    // A key file where the certificate belongs (cert and key swapped, or the key named for both), said without a byte of the key.
    if (PRIVATE_KEY_BEGIN.test(text)) throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(file)} holds a private key, not a certificate`)
    // A DER file (binary, no BEGIN line) is the usual one: Windows and Java tools export it.
    throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(file)} holds no PEM certificate${otherContentHint(file, read, 'certificate')}`)
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
  const pem = certificates.map((cert) => cert.toString()).join('')
  return { file, pem, certificates, holdsPrivateKey: PRIVATE_KEY_BEGIN.test(text) }
}

/** A CA bundle, and its roots: the self-signed CAs, at one of which every chain it verifies ends. */
export interface CaBundle extends CertificateFile {
  readonly roots: readonly X509Certificate[]
}

/**
 * The CAs of several bundles, each once, as one bundle: the handshake's of a host whose routes take
 * different client CAs. Its `file` names them all, for messages.
 */
export function caBundleUnion(bundles: readonly CaBundle[]): CaBundle {
  const once = (certificates: readonly X509Certificate[]) => [...new Map(certificates.map((cert) => [cert.fingerprint256, cert])).values()]
  const certificates = once(bundles.flatMap((bundle) => bundle.certificates))
  return {
    file: [...new Set(bundles.map(({ file }) => displayPath(file)))].join(' and '),
    pem: certificates.map((cert) => cert.toString()).join(''),
    certificates,
    roots: once(bundles.flatMap((bundle) => bundle.roots)),
    holdsPrivateKey: bundles.some((bundle) => bundle.holdsPrivateKey),
  }
}

/**
 * A bundle for clientCAs or upstream.ca: every entry must be a CA certificate (RFC 5280 4.2.1.9,
 * basicConstraints cA=true). OpenSSL would reject a leaf as an issuer later anyway, but only per
 * handshake and with an opaque reason; refusing it here names the file at load time.
 */
export function readCaBundle(file: string): CaBundle {
  const bundle = readCertificates(file)
  for (const cert of bundle.certificates) {
    if (!cert.ca) {
      throw new PortcullisError(
        ErrorCodes.CERT_NOT_CA,
        `${displayPath(file)} holds a certificate that is not a CA (${subjectRfc2253(cert)})${withoutBasicConstraints(cert)}`,
      )
    }
  }
  // One expired CA among current ones is a rotation in progress (a warning); a bundle of expired CAs
  // verifies nothing.
  const now = new Date()
  if (bundle.certificates.every((cert) => new Date(cert.validTo) < now)) {
    throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(file)} holds only expired CA certificates`)
  }
  // OpenSSL verifies a chain up to a self-signed root of the bundle (Node, like nginx, sets no
  // X509_V_FLAG_PARTIAL_CHAIN): a bundle of intermediates alone verifies nothing.
  const roots = bundle.certificates.filter(isSelfSigned)
  if (roots.length === 0) {
    throw new PortcullisError(
      ErrorCodes.CERT_READ,
      `${displayPath(file)} holds no root CA (a self-signed one), only intermediates: no chain verifies without its root; add the root CA to the file`,
    )
  }
  return { ...bundle, roots }
}

/**
 * How to make a CA of a certificate with no basicConstraints at all, which the refusal alone leaves a
 * mystery: a version 1 certificate, as `openssl x509 -req` signs without -extfile (`-signkey` for a
 * root), or `openssl req -x509` under a config with no v3_ca section. Reissued on the same key, the
 * certificates it signed still verify. Empty for a leaf (cA=false), and where cert-der.ts cannot read the DER.
 */
function withoutBasicConstraints(cert: X509Certificate): string {
  try {
    if (certificateFields(cert).basicConstraints) return ''
  } catch {
    return ''
  }
  return `: it has no basicConstraints extension, and a CA's must say cA=true (RFC 5280 4.2.1.9); issue it again on the same key with one, as openssl req -x509 -key … -addext "basicConstraints=critical,CA:TRUE" or openssl x509 -req … -extfile <(printf "basicConstraints=critical,CA:TRUE") writes it`
}

/**
 * The smallest RSA key the gateway serves or presents. OpenSSL at security level 2 refuses one under
 * 2048 bits (`ee key too small`): Node 24's default, and that of the clients and upstreams of Debian,
 * Ubuntu and RHEL (Debian's curl: `EE certificate key too weak`); Envoy will not load one. Node 20
 * would serve a 1024-bit key that most peers refuse, Node 24 refuses it with OpenSSL's code alone.
 */
const MIN_RSA_BITS = 2048

/** A private key file as read: unencrypted, and an RSA key of MIN_RSA_BITS or more. */
export interface PrivateKeyFile {
  readonly file: string
  readonly pem: string
  readonly key: KeyObject
}

/** The private key in `keyFile`, whatever certificate it is for: one that cannot serve is refused here. */
export function readPrivateKey(keyFile: string): PrivateKeyFile {
  const read = readFile(keyFile)
  const pem = read.text
  let key: KeyObject
  try {
    key = createPrivateKey(pem)
  } catch (error) {
    // A certificate file where the key belongs (cert and key swapped, or the certificate named for both).
    if (!PRIVATE_KEY_BEGIN.test(pem) && pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(keyFile)} holds a certificate, not a private key`, { cause: error })
    }
    // An encrypted key needs a passphrase, and a gateway that restarts unattended has no one to type it.
    const why = /ENCRYPTED/.test(pem)
      ? ` (it is encrypted; portcullis reads unencrypted keys only; to write one, which asks for the passphrase: openssl pkey -in ${displayPath(keyFile)} -out key.pem)`
      : otherContentHint(keyFile, read, 'key')
    throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(keyFile)} holds no readable private key${why}`, {
      cause: error,
    })
  }
  const bits = key.asymmetricKeyDetails?.modulusLength
  if ((key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') && bits !== undefined && bits < MIN_RSA_BITS) {
    throw new PortcullisError(
      ErrorCodes.CERT_READ,
      `${displayPath(keyFile)} is an RSA key of ${bits} bits, under ${MIN_RSA_BITS}: make a new key and certificate (openssl req -newkey rsa:${MIN_RSA_BITS} …, or an EC key)`,
    )
  }
  return { file: keyFile, pem, key }
}

/** The PEM of `key` once it is checked to be the private key of `cert`'s first certificate. */
export function keyOfCertificate(cert: CertificateFile, key: PrivateKeyFile): string {
  const [leaf, ...chain] = cert.certificates
  if (!leaf!.checkPrivateKey(key.key)) {
    // A chain written intermediate first: TLS sends the first certificate as the server's own.
    const position = chain.findIndex((certificate) => certificate.checkPrivateKey(key.key))
    const why =
      position < 0
        ? ': they are of different pairs; name the key the certificate was issued for'
        : ` (it is the key of certificate ${position + 2} in that file, ${subjectRfc2253(chain[position]!)}: put it first, then its intermediates)`
    throw new PortcullisError(ErrorCodes.KEY_MISMATCH, `${displayPath(key.file)} is not the private key of ${displayPath(cert.file)}${why}`)
  }
  return key.pem
}

export interface Crl {
  readonly pem: string
  /** As crl-der.ts reads it: issuer, dates, signature. Undefined where it cannot (BER that OpenSSL reads). */
  readonly fields: CrlFields | undefined
  /** The issuer's name as @peculiar/x509 prints it, for messages and labels; undefined as `fields` is. */
  readonly issuerName: string | undefined
}

/**
 * Every CRL of a file, one PEM block each: Node's `crl` option reads one CRL per entry, so a file of
 * several (`cat root.crl intermediate.crl`, as nginx's ssl_crl takes them) must be split.
 */
export function readCrl(file: string): Crl[] {
  const read = readFile(file)
  const blocks = read.text.match(CRL_BLOCK) ?? []
  if (blocks.length === 0) {
    // The CRL a CA's distribution point serves is DER (RFC 5280 4.2.1.13), as is the file fetched from it.
    throw new PortcullisError(ErrorCodes.CERT_READ, `${displayPath(file)} holds no PEM CRL${otherContentHint(file, read, 'crl')}`)
  }
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

/**
 * A CRL's fields, which warnings, a gauge and the check of its issuer need: undefined when unreadable.
 * Read from the DER (crl-der.ts), not parsed whole: this runs at every load of the config.
 */
function crlFields(pem: string): Pick<Crl, 'fields' | 'issuerName'> {
  try {
    const fields = readCrlPem(pem)
    return { fields, issuerName: printedName(fields.issuer) }
  } catch {
    return { fields: undefined, issuerName: undefined }
  }
}
