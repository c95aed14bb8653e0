/**
 * The test PKI: a zoo of certificates, each named for the edge case it exists for, made fresh by the
 * same generator as `portcullis certs` (issue() of src/tls/certificate-generator.ts) and written to a temp dir (config
 * files need paths). Call makeTestPki once per test file; nothing is cached across processes, so no
 * test depends on another's leftovers. The certificates and CRLs of the edge cases are made here:
 * intermediates, other key usages, chosen serial numbers and subjects, self-signed leaves, CRLs.
 */
import { X509Certificate } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExtendedKeyUsageExtension, Extension, JsonGeneralName, JsonName, KeyUsageFlags, Name } from '@peculiar/x509'
import { authorityKeyId, extendedKeyUsage, issue, newKeyPair, signingAlgorithmOf, withNewline, type Issued, type Validity } from '../../src/tls/certificate-generator.js'
import { peculiarX509 } from '../../src/tls/peculiar.js'

export type { Issued }

const x509 = peculiarX509()

/**
 * How a refusal's log line names a certificate of these fixtures (tls/certificate-identity.ts), read
 * with node:crypto and @peculiar/x509, not with src/tls's DER reading: their subjects and issuers are
 * one RDN each, which Node prints as RFC 2253 does. The first certificate of `certPem`, which may have
 * its intermediates after it.
 */
export function certificateNamed(certPem: string): { subject: string; serialNumber: string; issuer: string; issuerKeyId?: string } {
  const certificate = new X509Certificate(certPem)
  const keyId = new x509.X509Certificate(certificate.raw).getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId
  return { subject: certificate.subject, serialNumber: certificate.serialNumber, issuer: certificate.issuer, ...(keyId && { issuerKeyId: opensslKeyId(keyId) }) }
}

/** A CA's subjectKeyIdentifier as `openssl x509 -noout -ext subjectKeyIdentifier` prints it. */
export function subjectKeyIdOf(ca: Issued): string {
  return opensslKeyId(ca.x509.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId)
}

/** Hexadecimal bytes, upper case, colon-separated. */
function opensslKeyId(hex: string): string {
  return hex.toUpperCase().match(/../g)!.join(':')
}

/** The role a certificate plays in a TLS handshake (or for an OCSP responder), each with its extendedKeyUsage. */
export type TestUsage = 'server' | 'client' | 'server+client' | 'ocspSigning'

/**
 * keyUsage bits; or, for the tests of what OpenSSL refuses, the value (extnValue: DER, in hexadecimal)
 * of each keyUsage extension to write as it is: none, a malformed one, or two.
 */
export type KeyUsageOption = KeyUsageFlags | readonly string[]

/**
 * The key a certificate is made for: ECDSA P-256 (newKeyPair()'s), ECDSA P-521 (`openssl ecparam -name
 * secp521r1`), RSA 2048 for the tests of what OpenSSL does otherwise with RSA signatures, or RSA 1024,
 * which Node takes and other TLS stacks refuse. A certificate or CRL is signed as its issuer's key signs.
 */
export type KeyType = 'ecdsa' | 'ecdsa-p521' | 'rsa' | 'rsa-1024'

export interface TestCAOptions extends Validity {
  readonly commonName: string
  /** Default: ecdsa. */
  readonly keyType?: KeyType
  readonly organization?: string
  /** Issuing CA for an intermediate; without it the CA is self-signed (a root). */
  readonly issuer?: Issued
  /** basicConstraints pathLenConstraint; default: none. */
  readonly pathLength?: number
  /**
   * What its basicConstraints say: `ca` (cA=true), `not-ca` (cA=false, as a leaf's), or `none` (no
   * such extension), for the tests of an issuer that is no CA; default: `ca`.
   */
  readonly basicConstraints?: 'ca' | 'not-ca' | 'none'
  /** An extended key usage, which OpenSSL holds a chain's CAs to as well; default: none. */
  readonly usage?: TestUsage
  /** keyUsage bits (see KeyUsageOption); default: keyCertSign and cRLSign. */
  readonly keyUsage?: KeyUsageOption
}

export interface TestLeafOptions extends Validity {
  readonly commonName: string
  /** Default: ecdsa. */
  readonly keyType?: KeyType
  readonly organization?: string
  /**
   * The whole subject instead of O and CN: empty (`[]`, as SPIFFE workload certificates have, with a
   * critical subjectAltName) or with a multi-valued RDN.
   */
  readonly subject?: JsonName
  readonly dnsNames?: readonly string[]
  readonly ipAddresses?: readonly string[]
  readonly uris?: readonly string[]
  readonly usage: TestUsage
  /** keyUsage bits (see KeyUsageOption); default: digitalSignature. */
  readonly keyUsage?: KeyUsageOption
  /** Hexadecimal; default: random. */
  readonly serialNumber?: string
  /** Another certificate's key pair, as a certificate renewed with its key kept has; default: a new one. */
  readonly keys?: CryptoKeyPair
  /** Where its issuer's certificate is published (authorityInfoAccess caIssuers), as a public CA's leaf says. */
  readonly caIssuers?: string
  /** Its CA's OCSP responder (authorityInfoAccess OCSP). */
  readonly ocsp?: string
}

export interface CrlOptions {
  /** Default: an hour ago. */
  readonly thisUpdate?: Date
  /** Default: 30 days from now. */
  readonly nextUpdate?: Date
  /** cRLNumber (RFC 5280 5.2.3); default: seconds since the epoch, so a later CRL has a larger number. */
  readonly crlNumber?: number
  /** The issuer's name as the CRL writes it; default: the issuer's subject, byte for byte. */
  readonly issuerName?: Name
  /**
   * false: no authorityKeyIdentifier, as `openssl ca -gencrl` writes a CRL without crl_extensions
   * (RFC 5280 5.2.1 asks for one); default: the issuer's subjectKeyIdentifier.
   */
  readonly authorityKeyIdentifier?: boolean
}

const HOUR = 3_600_000
const DAY = 24 * HOUR
const ID_CE_CRL_NUMBER = '2.5.29.20'
const ID_CE_KEY_USAGE = '2.5.29.15'
const RSA_KEYS = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }

async function keysOf(keyType: KeyType = 'ecdsa'): Promise<CryptoKeyPair> {
  if (keyType === 'ecdsa') return newKeyPair()
  if (keyType === 'ecdsa-p521') return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-521' }, true, ['sign', 'verify'])
  return crypto.subtle.generateKey({ ...RSA_KEYS, modulusLength: keyType === 'rsa' ? 2048 : 1024 }, true, ['sign', 'verify'])
}

export async function createTestCA(options: TestCAOptions): Promise<Issued> {
  const { issuer, notBefore, notAfter } = options
  return issue({
    keys: await keysOf(options.keyType),
    issuer,
    subject: subjectName(options.commonName, options.organization),
    notBefore,
    notAfter,
    extensions: [
      ...basicConstraintsExtensions(options.basicConstraints ?? 'ca', options.pathLength),
      ...keyUsageExtensions(options.keyUsage ?? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign),
      ...(options.usage ? [extendedKeyUsageOf(options.usage)] : []),
    ],
  })
}

/**
 * A self-signed certificate with cA=false: what a user gets wrong when they name a leaf as a CA. It
 * keeps keyCertSign by default, so that basicConstraints is the only thing that disqualifies it as an
 * issuer.
 */
export async function createSelfSignedNonCA(options: { commonName: string; keyUsage?: KeyUsageOption } & Validity): Promise<Issued> {
  return issue({
    keys: await newKeyPair(),
    subject: subjectName(options.commonName),
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      ...keyUsageExtensions(options.keyUsage ?? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign),
    ],
  })
}

export async function issueTestCert(issuer: Issued, options: TestLeafOptions): Promise<Issued> {
  const names: JsonGeneralName[] = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
  ]
  const subject = options.subject ?? subjectName(options.commonName, options.organization)
  const { serialNumber, notBefore, notAfter } = options
  return issue({
    keys: options.keys ?? (await keysOf(options.keyType)),
    issuer,
    subject,
    serialNumber,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      ...keyUsageExtensions(options.keyUsage ?? x509.KeyUsageFlags.digitalSignature),
      extendedKeyUsageOf(options.usage),
      // RFC 5280 4.2.1.6: critical when it is the only name.
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, subject.length === 0)] : []),
      ...(options.caIssuers || options.ocsp
        ? [
            new x509.AuthorityInfoAccessExtension({
              ...(options.caIssuers && { caIssuers: new x509.GeneralName('url', options.caIssuers) }),
              ...(options.ocsp && { ocsp: new x509.GeneralName('url', options.ocsp) }),
            }),
          ]
        : []),
    ],
  })
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
    signingAlgorithm: signingAlgorithmOf(issuer.keys.privateKey),
    signingKey: issuer.keys.privateKey,
    entries: revoked.map((cert) => ({ serialNumber: cert.serialNumber, revocationDate: new Date(now - HOUR) })),
    extensions: [
      ...(options.authorityKeyIdentifier === false ? [] : [authorityKeyId(issuer)]),
      new x509.Extension(ID_CE_CRL_NUMBER, false, derInteger(options.crlNumber ?? Math.floor(now / 1000))),
    ],
  })
  // X509Crl.toString('pem') labels the block "CRL"; OpenSSL and Node want RFC 7468's "X509 CRL".
  return withNewline(x509.PemConverter.encode(crl.rawData, 'X509 CRL'))
}

/** Most general attribute first, as CAs conventionally encode it (O=…, CN=…). */
function subjectName(commonName: string, organization?: string): JsonName {
  return [...(organization === undefined ? [] : [{ O: [organization] }]), { CN: [commonName] }]
}

function extendedKeyUsageOf(usage: TestUsage): ExtendedKeyUsageExtension {
  if (usage === 'ocspSigning') return new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.ocspSigning])
  return usage === 'server+client' ? extendedKeyUsage('server', 'client') : extendedKeyUsage(usage)
}

function basicConstraintsExtensions(kind: NonNullable<TestCAOptions['basicConstraints']>, pathLength: number | undefined): Extension[] {
  return kind === 'none' ? [] : [new x509.BasicConstraintsExtension(kind === 'ca', kind === 'ca' ? pathLength : undefined, true)]
}

/** keyUsage as KeyUsageOption says, critical as RFC 5280 4.2.1.3 wants it. */
function keyUsageExtensions(keyUsage: KeyUsageOption): Extension[] {
  if (typeof keyUsage === 'number') return [new x509.KeyUsagesExtension(keyUsage, true)]
  return keyUsage.map((value) => new x509.Extension(ID_CE_KEY_USAGE, true, Uint8Array.from(Buffer.from(value, 'hex'))))
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

export interface CertFiles {
  readonly cert: string
  readonly key: string
  readonly certFile: string
  readonly keyFile: string
}

export interface CrlFile {
  readonly pem: string
  readonly file: string
}

export interface BundleFile {
  readonly cert: string
  readonly certFile: string
}

const CERT_NAMES = [
  'caA', 'caB', 'caS', 'caOther', 'srv', 'up', 'upWrongName', 'upOtherCa', 'upExpired', 'upCnOnly',
  'cliA', 'cliA2', 'cliA3OnKeyOfA', 'cliB', 'cliExpired', 'cliNotYetValid', 'cliServerEku', 'cliP521', 'notCa', 'cliOfNotCa',
  'root', 'int', 'leaf', 'leafRevoked', 'caExpired', 'cliNoSubject', 'cliUnicode', 'cliOddSans', 'cliEvil', 'cliNl', 'weakRsa',
] as const
const CRL_NAMES = ['crlRootEmpty', 'crlRootRevokesInt', 'crlIntEmpty', 'crlIntRevoked', 'crlIntRevokesLeaf', 'crlRootStale', 'crlOther'] as const

export type TestPki = { readonly [name in (typeof CERT_NAMES)[number]]: CertFiles } & {
  readonly [name in (typeof CRL_NAMES)[number]]: CrlFile
} & {
  readonly dir: string
  /** caA and caB in one file, with no line break between them: a client CA bundle. */
  readonly caAB: BundleFile
  /** leaf then int, the chain a client sends when its trust store holds only root. */
  readonly leafChain: CertFiles
  cleanup(): Promise<void>
}

export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-pki-'))
  try {
    return await generate(dir)
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}

async function generate(dir: string): Promise<TestPki> {
  const now = Date.now()
  const lastMonth = { notBefore: new Date(now - 60 * DAY), notAfter: new Date(now - 30 * DAY) }
  const nextMonth = { notBefore: new Date(now + 30 * DAY), notAfter: new Date(now + 60 * DAY) }
  const localhost = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }
  const upNames = { dnsNames: ['up.test', 'localhost'], ipAddresses: ['127.0.0.1'] }

  const [caA, caB, caS, caOther, root, notCa] = await Promise.all([
    createTestCA({ commonName: 'Test Client CA A' }),
    createTestCA({ commonName: 'Test Client CA B' }),
    createTestCA({ commonName: 'Test Server CA' }),
    createTestCA({ commonName: 'Unrelated CA' }),
    createTestCA({ commonName: 'Test Root CA' }),
    createSelfSignedNonCA({ commonName: 'Not a CA' }),
  ])
  const int = await createTestCA({ commonName: 'Test Intermediate CA', issuer: root, pathLength: 0 })
  const caExpired = await createTestCA({ commonName: 'Expired CA', ...lastMonth })
  const cliA = await issueTestCert(caA, { commonName: 'alice', organization: 'A', uris: ['spiffe://a/alice'], dnsNames: ['alice.a.test'], usage: 'client' })
  const issued: Record<(typeof CERT_NAMES)[number], Issued> = {
    caA, caB, caS, caOther, root, int, notCa, caExpired,
    srv: await issueTestCert(caS, {
      commonName: 'srv',
      dnsNames: ['a.test', 'b.test', 'open.test', '*.w.test', 'localhost'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    }),
    up: await issueTestCert(caS, { commonName: 'up.test', ...upNames, usage: 'server' }),
    upWrongName: await issueTestCert(caS, { commonName: 'wrong.test', dnsNames: ['wrong.test'], usage: 'server' }),
    upOtherCa: await issueTestCert(caOther, { commonName: 'up.test', ...upNames, usage: 'server' }),
    upExpired: await issueTestCert(caS, { commonName: 'up.test', ...upNames, ...lastMonth, usage: 'server' }),
    // No subjectAltName: named by its CN alone, as `openssl x509 -req` without -extfile makes one.
    upCnOnly: await issueTestCert(caS, { commonName: 'cn-only.test', usage: 'server' }),
    cliA,
    cliA2: await issueTestCert(caA, { commonName: 'carol', usage: 'client' }),
    // Another identity on alice's key pair: a certificate reissued with its key kept.
    cliA3OnKeyOfA: await issueTestCert(caA, { commonName: 'dave', usage: 'client', keys: cliA.keys }),
    cliB: await issueTestCert(caB, { commonName: 'bob', usage: 'client' }),
    // An empty subject, as SPIFFE workload certificates have, and one that is not ASCII.
    cliNoSubject: await issueTestCert(caA, { commonName: '', subject: [], uris: ['spiffe://a/workload'], usage: 'client' }),
    cliUnicode: await issueTestCert(caA, { commonName: 'łukasz Müller 中文', usage: 'client' }),
    // subjectAltNames that Node's string of them quotes and escapes (CVE-2021-44532): one that would read
    // as a second name if split at ', ', and one with quotes.
    cliOddSans: await issueTestCert(caA, { commonName: 'odd', uris: ['spiffe://a/x, DNS:evil.test', 'spiffe://a/"q"', 'spiffe://a/line\r\n break'], dnsNames: ['ok.test'], usage: 'client' }),
    // Subjects that a naive printing turns into another identity or another header (catalogue HF-04, HF-05).
    cliEvil: await issueTestCert(caA, { commonName: 'evil, O=Admin', organization: 'A', usage: 'client' }),
    cliNl: await issueTestCert(caA, { commonName: 'evil\r\nX-Injected: 1', organization: 'A', usage: 'client' }),
    cliExpired: await issueTestCert(caA, { commonName: 'expired', ...lastMonth, usage: 'client' }),
    cliNotYetValid: await issueTestCert(caA, { commonName: 'not-yet-valid', ...nextMonth, usage: 'client' }),
    cliServerEku: await issueTestCert(caA, { commonName: 'server-eku', ...localhost, usage: 'server' }),
    cliP521: await issueTestCert(caA, { commonName: 'p521', usage: 'client', keyType: 'ecdsa-p521' }),
    cliOfNotCa: await issueTestCert(notCa, { commonName: 'client-of-not-ca', usage: 'client' }),
    leaf: await issueTestCert(int, { commonName: 'leaf', usage: 'client' }),
    leafRevoked: await issueTestCert(int, { commonName: 'revoked', usage: 'client' }),
    weakRsa: await issueTestCert(caS, { commonName: 'weak-rsa', dnsNames: ['a.test'], usage: 'server', keyType: 'rsa-1024' }),
  }
  const crls: Record<(typeof CRL_NAMES)[number], string> = {
    crlRootEmpty: await createCrl(root, []),
    crlRootRevokesInt: await createCrl(root, [int]),
    crlIntEmpty: await createCrl(int, []),
    crlIntRevoked: await createCrl(int, [issued.leafRevoked]),
    crlIntRevokesLeaf: await createCrl(int, [issued.leafRevoked, issued.leaf]),
    // Issued an hour ago, its next update due half an hour ago: OpenSSL calls it expired.
    crlRootStale: await createCrl(root, [], { nextUpdate: new Date(now - 1_800_000) }),
    // Of a CA no chain here runs through: a CRL file mixed up with another.
    crlOther: await createCrl(caOther, []),
  }

  const certs = {} as Record<(typeof CERT_NAMES)[number], CertFiles>
  for (const name of CERT_NAMES) certs[name] = await writePair(dir, name, issued[name].cert, issued[name].key)
  const crlFiles = {} as Record<(typeof CRL_NAMES)[number], CrlFile>
  for (const name of CRL_NAMES) crlFiles[name] = { pem: crls[name], file: await write(dir, `${name}.crl`, crls[name]) }
  // Joined as `cat caA.crt caB.crt` joins a first file without a final newline (Vault, `kubectl get
  // secret -o jsonpath`, some editors): one line reads `-----END CERTIFICATE----------BEGIN …`.
  const caAB = caA.cert.trimEnd() + caB.cert
  const leafChain = issued.leaf.cert + int.cert

  return {
    ...certs,
    ...crlFiles,
    dir,
    caAB: { cert: caAB, certFile: await write(dir, 'caAB.crt', caAB) },
    leafChain: { ...certs.leaf, cert: leafChain, certFile: await write(dir, 'leafChain.crt', leafChain) },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
}

/**
 * An RSA root, an intermediate and a client leaf of it, written beside `pki`'s, and the CRLs of both
 * CAs in one file, without authorityKeyIdentifier, as `openssl ca -gencrl` makes them by default.
 */
export interface RsaChain {
  readonly root: CertFiles
  readonly leaf: CertFiles
  readonly crls: string
  /** A server certificate for rsa-server.test, followed by the intermediate. */
  readonly server: CertFiles
}

const NO_AKI = { authorityKeyIdentifier: false }

/**
 * For what OpenSSL does otherwise with RSA signatures than with ECDSA ones; its keys take about a
 * tenth of a second, so only the test files that need it make it.
 */
export async function makeRsaChain(pki: Pick<TestPki, 'dir'>): Promise<RsaChain> {
  const root = await createTestCA({ commonName: 'Test RSA Root CA', keyType: 'rsa' })
  const int = await createTestCA({ commonName: 'Test RSA Intermediate CA', issuer: root, pathLength: 0, keyType: 'rsa' })
  const leaf = await issueTestCert(int, { commonName: 'rsa-leaf', usage: 'client', keyType: 'rsa' })
  const server = await issueTestCert(int, { commonName: 'rsa-server', dnsNames: ['rsa-server.test'], usage: 'server', keyType: 'rsa' })
  return {
    root: await writePair(pki.dir, 'rsaRoot', root.cert, root.key),
    leaf: await writePair(pki.dir, 'rsaLeaf', leaf.cert, leaf.key),
    crls: await write(pki.dir, 'rsaCrls.crl', (await createCrl(root, [], NO_AKI)) + (await createCrl(int, [], NO_AKI))),
    server: await writePair(pki.dir, 'rsaServer', server.cert + int.cert, server.key),
  }
}

async function writePair(dir: string, name: string, cert: string, key: string): Promise<CertFiles> {
  return { cert, key, certFile: await write(dir, `${name}.crt`, cert), keyFile: await write(dir, `${name}.key`, key) }
}

async function write(dir: string, name: string, data: string): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, data, { mode: 0o600 })
  return file
}
