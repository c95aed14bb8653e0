/**
 * The certificate generator of `portcullis certs` (tls/pki.ts) and of the tests' certificates, every
 * edge case of them (test/helpers/pki.ts): issue() and its parts, and the CA and leaves of the
 * development PKI. Made with @peculiar/x509 on WebCrypto, so that no openssl binary is needed. ECDSA
 * P-256 throughout: key generation takes about a millisecond, where RSA takes tens of milliseconds per key.
 */
// @peculiar/x509 2.x resolves its services through tsyringe, which throws at import time unless a
// Reflect metadata polyfill is loaded first (see the package's README). ESM evaluates imports in order.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'

/** The role a leaf plays in a TLS handshake; each maps to its extendedKeyUsage OID. */
export type Usage = 'server' | 'client'

/** A certificate and its key, as PEM for files and TLS options, and as objects for signing more. */
export interface Issued {
  /** The certificate, PEM, ending in a newline so that bundles can be concatenated. */
  readonly cert: string
  /** The private key, PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
  readonly key: string
  /** The subject DN as @peculiar/x509 prints it, for messages. */
  readonly subject: string
  /** Hexadecimal serial number, as CRLs list it. */
  readonly serialNumber: string
  readonly keys: CryptoKeyPair
  readonly x509: x509.X509Certificate
}

export interface Validity {
  /** Default: one hour ago, so a clock a little behind the signer's still accepts the cert. */
  readonly notBefore?: Date
  /** Default: 30 days from now. Pass past dates for an expired cert. */
  readonly notAfter?: Date
}

/** A certificate for issue() to make. */
export interface CertificateRequest extends Validity {
  readonly subject: x509.JsonName
  /** The CA that signs it; without one, it signs itself. */
  readonly issuer?: Issued
  /** Hexadecimal; default: random (see randomSerial). */
  readonly serialNumber?: string
  /** Beside the subjectKeyIdentifier every certificate gets, and the authorityKeyIdentifier of one with an issuer. */
  readonly extensions: readonly x509.Extension[]
  /** The key pair to certify: newKeyPair()'s, or one of any kind WebCrypto signs with. */
  readonly keys: CryptoKeyPair
}

export interface LeafOptions {
  readonly commonName: string
  readonly dnsNames?: readonly string[]
  readonly ipAddresses?: readonly string[]
  readonly usage: Usage
  readonly notAfter?: Date
}

const HOUR = 3_600_000
const DAY = 24 * HOUR
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const
const EKU: Record<Usage, string> = { server: x509.ExtendedKeyUsage.serverAuth, client: x509.ExtendedKeyUsage.clientAuth }

/** A root CA: a critical basicConstraints with cA, and keyUsage keyCertSign and cRLSign. */
export async function createCA(options: { readonly commonName: string; readonly notAfter?: Date }): Promise<Issued> {
  return issue({
    keys: await newKeyPair(),
    subject: [{ CN: [options.commonName] }],
    notAfter: options.notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  })
}

/** A leaf for TLS servers or clients, as `usage` says, named by its CN and, if given, its subjectAltName. */
export async function issueCert(issuer: Issued, options: LeafOptions): Promise<Issued> {
  const names: x509.JsonGeneralName[] = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ]
  return issue({
    keys: await newKeyPair(),
    issuer,
    subject: [{ CN: [options.commonName] }],
    notAfter: options.notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // An ECDSA key only signs (TLS exchanges keys by ECDHE), so keyEncipherment would mean nothing.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      extendedKeyUsage(options.usage),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
    ],
  })
}

/** An extendedKeyUsage extension of `usages`. */
export function extendedKeyUsage(...usages: Usage[]): x509.ExtendedKeyUsageExtension {
  return new x509.ExtendedKeyUsageExtension(usages.map((usage) => EKU[usage]))
}

/** An ECDSA P-256 key pair, extractable so that issue() can write its private key out. */
export function newKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])
}

/** The certificate `request` describes, signed by its issuer's key (or its own, for a root). */
export async function issue(request: CertificateRequest): Promise<Issued> {
  const { issuer, subject, keys } = request
  const signingKey = (issuer?.keys ?? keys).privateKey
  const now = Date.now()
  const subjectKeyId = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: request.serialNumber ?? randomSerial(),
    subject,
    // Copy the issuer's encoded name, so that name chaining compares identical bytes.
    issuer: issuer?.x509.subjectName ?? subject,
    notBefore: request.notBefore ?? new Date(now - HOUR),
    notAfter: request.notAfter ?? new Date(now + 30 * DAY),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: signingAlgorithmOf(signingKey),
    extensions: [...request.extensions, subjectKeyId, ...(issuer ? [authorityKeyId(issuer)] : [])],
  })
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey)
  return {
    cert: withNewline(cert.toString('pem')),
    key: withNewline(x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')),
    subject: cert.subject,
    serialNumber: cert.serialNumber,
    keys,
    x509: cert,
  }
}

/** How `signingKey` signs, whatever kind of key a request brought: with SHA-256. */
export function signingAlgorithmOf(signingKey: CryptoKey): { readonly name: string; readonly hash: string } {
  return { name: signingKey.algorithm.name, hash: 'SHA-256' }
}

/** The issuer's subjectKeyIdentifier, which OpenSSL matches when it builds a chain or picks a CRL. */
export function authorityKeyId(issuer: Issued): x509.AuthorityKeyIdentifierExtension {
  const ski = issuer.x509.getExtension(x509.SubjectKeyIdentifierExtension)
  if (!ski) throw new Error(`issuer ${issuer.subject} has no subjectKeyIdentifier`)
  return new x509.AuthorityKeyIdentifierExtension(ski.keyId)
}

/**
 * RFC 5280 4.1.2.2: a positive serial of at most 20 octets, unpredictable. Clearing the top bit keeps
 * the DER INTEGER positive; setting the next one keeps all 16 octets (no leading zero to strip).
 */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[0] = (bytes[0]! & 0x7f) | 0x40
  return Buffer.from(bytes).toString('hex')
}

/** A PEM block as node:tls and concatenated bundles want it: ending in a newline. */
export function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`
}
