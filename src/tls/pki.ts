/**
 * The development PKI of `portcullis certs`: a CA, and the server and client certificates it issues,
 * made with @peculiar/x509 on WebCrypto, so that no openssl binary is needed. ECDSA P-256 throughout:
 * key generation takes about a millisecond, where RSA takes tens of milliseconds per key. The tests
 * make their certificates, every edge case of them, with issue() too (test/helpers/pki.ts).
 */
import { mkdir, open, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
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

export interface DevPkiResult {
  /** Every file of the dev PKI, whether written now or found in place. */
  readonly files: string[]
  /** Paths written by this call; empty when `unchanged`. */
  readonly written: string[]
  /** True when every file already existed and nothing was touched. */
  readonly unchanged: boolean
}

/** A year, so the demo keeps working long after `portcullis certs`; `--force` renews. */
const DEV_VALIDITY = 365 * DAY

/**
 * `portcullis certs`: a CA, the gateway's server cert (localhost, 127.0.0.1, ::1), a client cert for
 * curl, and the gateway's client identity towards upstreams (routes.yaml, the demo). Existing files are
 * kept unless `force`; a partial set is refused, since new certs beside an old CA would not verify.
 */
export async function writeDevPki(outDir: string, options: { force?: boolean } = {}): Promise<DevPkiResult> {
  const names = ['ca', 'server', 'client', 'gateway']
  const files = names.flatMap((name) => [join(outDir, `${name}.crt`), join(outDir, `${name}.key`)])
  const present = await Promise.all(files.map(exists))
  const existing = files.filter((_, index) => present[index])
  if (!options.force && existing.length === files.length) return { files, written: [], unchanged: true }
  if (!options.force && existing.length > 0) {
    const missing = files.filter((_, index) => !present[index]).map((file) => basename(file))
    throw new Error(`${outDir} lacks ${missing.join(', ')} of the set it holds: portcullis certs --force replaces the whole set`)
  }

  const notAfter = new Date(Date.now() + DEV_VALIDITY)
  const ca = await createCA({ commonName: 'portcullis development CA', notAfter })
  const issued: Record<string, Issued> = {
    ca,
    server: await issueCert(ca, {
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      usage: 'server',
      notAfter,
    }),
    client: await issueCert(ca, { commonName: 'portcullis-client', usage: 'client', notAfter }),
    gateway: await issueCert(ca, { commonName: 'portcullis-gateway', usage: 'client', notAfter }),
  }

  await makeDirectory(outDir)
  // 'wx' fails rather than overwrite a file that appeared since the check above.
  const flag = options.force ? 'w' : 'wx'
  for (const name of names) {
    const { cert, key } = issued[name]!
    await writeFile(join(outDir, `${name}.crt`), cert, { flag, mode: 0o644 })
    await writePrivateFile(join(outDir, `${name}.key`), key, flag)
  }
  return { files, written: files, unchanged: false }
}

/**
 * Writes `text` to a file only its owner can read. The mode of open() applies only to a file it creates:
 * one that --force overwrites keeps its own, and a key written before a chmod would sit in a
 * world-readable file until then, or for good if the process died in between.
 */
async function writePrivateFile(path: string, text: string, flag: string): Promise<void> {
  const file = await open(path, flag, 0o600)
  try {
    await file.chmod(0o600)
    await file.writeFile(text)
  } finally {
    await file.close()
  }
}

/**
 * `mkdir -p`, one level at a time. Node's recursive mkdir never returns for a folder under /proc
 * (Node 20 and 24): procfs answers ENOENT for a child it cannot hold, and Node takes that for a
 * missing parent, makes the parent (EEXIST) and tries again, for ever, at 100 % CPU.
 */
async function makeDirectory(dir: string): Promise<void> {
  const parent = dirname(dir)
  if (parent !== dir && !(await exists(parent))) await makeDirectory(parent)
  await mkdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error
  })
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
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
