/**
 * Development and test PKI: CAs, leaf certificates and CRLs made with @peculiar/x509 on WebCrypto, so
 * `portcullis certs` and the tests need no openssl binary. ECDSA P-256 throughout: key generation
 * takes about a millisecond, where RSA takes tens of milliseconds per key.
 */
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
// @peculiar/x509 2.x resolves its services through tsyringe, which throws at import time unless a
// Reflect metadata polyfill is loaded first (see the package's README). ESM evaluates imports in order.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'

/** The role a leaf plays in a TLS handshake; each maps to its extendedKeyUsage OIDs. */
export type Usage = 'server' | 'client' | 'server+client'

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

export interface CAOptions extends Validity {
  readonly commonName: string
  readonly organization?: string
  /** Issuing CA for an intermediate; without it the CA is self-signed (a root). */
  readonly issuer?: Issued
  /** basicConstraints pathLenConstraint; default: none. */
  readonly pathLength?: number
  /** An extended key usage, which OpenSSL holds a chain's CAs to as well; default: none. */
  readonly usage?: Usage
  /** keyUsage bits (see KeyUsageOption); default: keyCertSign and cRLSign. */
  readonly keyUsage?: KeyUsageOption
}

export interface LeafOptions extends Validity {
  readonly commonName: string
  readonly organization?: string
  /**
   * The whole subject instead of O and CN: empty (`[]`, as SPIFFE workload certificates have, with a
   * critical subjectAltName) or with a multi-valued RDN.
   */
  readonly subject?: x509.JsonName
  readonly dnsNames?: readonly string[]
  readonly ipAddresses?: readonly string[]
  readonly uris?: readonly string[]
  readonly usage: Usage
  /** keyUsage bits (see KeyUsageOption); default: digitalSignature. */
  readonly keyUsage?: KeyUsageOption
  /** Hexadecimal; default: random (see randomSerial). */
  readonly serialNumber?: string
}

/**
 * keyUsage bits; or, for the tests of what OpenSSL refuses, the value (extnValue: DER, in hexadecimal)
 * of each keyUsage extension to write as it is: none, a malformed one, or two.
 */
export type KeyUsageOption = x509.KeyUsageFlags | readonly string[]

export interface CrlOptions {
  /** Default: an hour ago. */
  readonly thisUpdate?: Date
  /** Default: 30 days from now. */
  readonly nextUpdate?: Date
  /** cRLNumber (RFC 5280 5.2.3); default: seconds since the epoch, so a later CRL has a larger number. */
  readonly crlNumber?: number
  /** The issuer's name as the CRL writes it; default: the issuer's subject, byte for byte. */
  readonly issuerName?: x509.Name
}

const HOUR = 3_600_000
const DAY = 24 * HOUR
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const EKU: Record<Usage, string[]> = {
  server: [x509.ExtendedKeyUsage.serverAuth],
  client: [x509.ExtendedKeyUsage.clientAuth],
  'server+client': [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
}
const ID_CE_CRL_NUMBER = '2.5.29.20'
const ID_CE_KEY_USAGE = '2.5.29.15'

export async function createCA(options: CAOptions): Promise<Issued> {
  const keys = await generateKeys()
  return sign(options.issuer, subjectName(options.commonName, options.organization), keys, options, [
    new x509.BasicConstraintsExtension(true, options.pathLength, true),
    ...keyUsageExtensions(options.keyUsage ?? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign),
    ...(options.usage ? [new x509.ExtendedKeyUsageExtension(EKU[options.usage])] : []),
  ])
}

/**
 * A self-signed certificate with cA=false: what a user gets wrong when they name a leaf as a CA. It
 * keeps keyCertSign by default, so that basicConstraints is the only thing that disqualifies it as an
 * issuer.
 */
export async function createSelfSignedNonCA(options: { commonName: string; keyUsage?: KeyUsageOption } & Validity): Promise<Issued> {
  const keys = await generateKeys()
  return sign(undefined, subjectName(options.commonName), keys, options, [
    new x509.BasicConstraintsExtension(false, undefined, true),
    ...keyUsageExtensions(options.keyUsage ?? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign),
  ])
}

export async function issueCert(issuer: Issued, options: LeafOptions): Promise<Issued> {
  const keys = await generateKeys()
  const names: x509.JsonGeneralName[] = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
  ]
  const subject = options.subject ?? subjectName(options.commonName, options.organization)
  return sign(issuer, subject, keys, options, [
    new x509.BasicConstraintsExtension(false, undefined, true),
    // An ECDSA key only signs (TLS exchanges keys by ECDHE), so keyEncipherment would mean nothing.
    ...keyUsageExtensions(options.keyUsage ?? x509.KeyUsageFlags.digitalSignature),
    new x509.ExtendedKeyUsageExtension(EKU[options.usage]),
    // RFC 5280 4.2.1.6: critical when it is the only name.
    ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, subject.length === 0)] : []),
  ])
}

/**
 * A CRL signed by `issuer` listing `revoked` (certificates, or only their serial numbers); an empty list
 * gives the "nothing revoked" CRL.
 */
export async function createCrl(issuer: Issued, revoked: readonly Pick<Issued, 'serialNumber'>[], options: CrlOptions = {}): Promise<string> {
  const now = Date.now()
  const crl = await x509.X509CrlGenerator.create({
    issuer: options.issuerName ?? issuer.x509.subjectName,
    thisUpdate: options.thisUpdate ?? new Date(now - HOUR),
    nextUpdate: options.nextUpdate ?? new Date(now + 30 * DAY),
    signingAlgorithm: ALGORITHM,
    signingKey: issuer.keys.privateKey,
    entries: revoked.map((cert) => ({ serialNumber: cert.serialNumber, revocationDate: new Date(now - HOUR) })),
    extensions: [
      authorityKeyId(issuer),
      new x509.Extension(ID_CE_CRL_NUMBER, false, derInteger(options.crlNumber ?? Math.floor(now / 1000))),
    ],
  })
  // X509Crl.toString('pem') labels the block "CRL"; OpenSSL and Node want RFC 7468's "X509 CRL".
  return withNewline(x509.PemConverter.encode(crl.rawData, 'X509 CRL'))
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
    throw new Error(`refusing to mix a new set with existing ${existing.join(', ')}; pass --force to replace them all`)
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
    await writeFile(join(outDir, `${name}.key`), key, { flag, mode: 0o600 })
    // writeFile's mode applies only when it creates the file, not when --force overwrites one.
    await chmod(join(outDir, `${name}.key`), 0o600)
  }
  return { files, written: files, unchanged: false }
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

async function generateKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])
}

/** Most general attribute first, as CAs conventionally encode it (O=…, CN=…). */
function subjectName(commonName: string, organization?: string): x509.JsonName {
  return [...(organization === undefined ? [] : [{ O: [organization] }]), { CN: [commonName] }]
}

async function sign(
  issuer: Issued | undefined,
  subject: x509.JsonName,
  keys: CryptoKeyPair,
  options: Validity & { readonly serialNumber?: string },
  extensions: x509.Extension[],
): Promise<Issued> {
  const now = Date.now()
  const subjectKeyId = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: options.serialNumber ?? randomSerial(),
    subject,
    // Copy the issuer's encoded name, so that name chaining compares identical bytes.
    issuer: issuer?.x509.subjectName ?? subject,
    notBefore: options.notBefore ?? new Date(now - HOUR),
    notAfter: options.notAfter ?? new Date(now + 30 * DAY),
    publicKey: keys.publicKey,
    signingKey: (issuer?.keys ?? keys).privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [...extensions, subjectKeyId, ...(issuer ? [authorityKeyId(issuer)] : [])],
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

/** keyUsage as KeyUsageOption says, critical as RFC 5280 4.2.1.3 wants it. */
function keyUsageExtensions(keyUsage: KeyUsageOption): x509.Extension[] {
  if (typeof keyUsage === 'number') return [new x509.KeyUsagesExtension(keyUsage, true)]
  return keyUsage.map((value) => new x509.Extension(ID_CE_KEY_USAGE, true, Uint8Array.from(Buffer.from(value, 'hex'))))
}

/** The issuer's subjectKeyIdentifier, which OpenSSL matches when it builds a chain or picks a CRL. */
function authorityKeyId(issuer: Issued): x509.AuthorityKeyIdentifierExtension {
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

/**
 * DER INTEGER (X.690 8.3) of a non-negative number, for the cRLNumber extension, which
 * @peculiar/x509 has no class for. A leading zero octet keeps a value with its top bit set positive.
 */
function derInteger(value: number): BufferSource {
  let hex = BigInt(value).toString(16)
  if (hex.length % 2 === 1) hex = `0${hex}`
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`
  const content = Buffer.from(hex, 'hex')
  return Uint8Array.from([0x02, content.length, ...content])
}

function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`
}
