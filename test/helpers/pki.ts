/**
 * The test PKI: a zoo of certificates, each named for the edge case it exists for, made fresh by the
 * same generator as `portcullis certs` and written to a temp dir (config files need paths). Call once
 * per test file; nothing is cached across processes, so no test depends on another's leftovers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCA, createCrl, createSelfSignedNonCA, issueCert, type Issued } from '../../src/tls/pki.js'

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
  'cliA', 'cliA2', 'cliB', 'cliExpired', 'cliNotYetValid', 'cliServerEku', 'notCa', 'cliOfNotCa',
  'root', 'int', 'leaf', 'leafRevoked', 'caExpired', 'cliNoSubject', 'cliUnicode',
] as const
const CRL_NAMES = ['crlRootEmpty', 'crlIntEmpty', 'crlIntRevoked', 'crlIntRevokesLeaf', 'crlRootStale'] as const

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

const DAY = 24 * 3_600_000

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
    createCA({ commonName: 'Test Client CA A' }),
    createCA({ commonName: 'Test Client CA B' }),
    createCA({ commonName: 'Test Server CA' }),
    createCA({ commonName: 'Unrelated CA' }),
    createCA({ commonName: 'Test Root CA' }),
    createSelfSignedNonCA({ commonName: 'Not a CA' }),
  ])
  const int = await createCA({ commonName: 'Test Intermediate CA', issuer: root, pathLength: 0 })
  const caExpired = await createCA({ commonName: 'Expired CA', ...lastMonth })
  const issued: Record<(typeof CERT_NAMES)[number], Issued> = {
    caA, caB, caS, caOther, root, int, notCa, caExpired,
    srv: await issueCert(caS, {
      commonName: 'srv',
      dnsNames: ['a.test', 'b.test', 'open.test', '*.w.test', 'localhost'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    }),
    up: await issueCert(caS, { commonName: 'up.test', ...upNames, usage: 'server' }),
    upWrongName: await issueCert(caS, { commonName: 'wrong.test', dnsNames: ['wrong.test'], usage: 'server' }),
    upOtherCa: await issueCert(caOther, { commonName: 'up.test', ...upNames, usage: 'server' }),
    upExpired: await issueCert(caS, { commonName: 'up.test', ...upNames, ...lastMonth, usage: 'server' }),
    // No subjectAltName: named by its CN alone, as `openssl x509 -req` without -extfile makes one.
    upCnOnly: await issueCert(caS, { commonName: 'cn-only.test', usage: 'server' }),
    cliA: await issueCert(caA, {
      commonName: 'alice',
      organization: 'A',
      uris: ['spiffe://a/alice'],
      dnsNames: ['alice.a.test'],
      usage: 'client',
    }),
    cliA2: await issueCert(caA, { commonName: 'carol', usage: 'client' }),
    cliB: await issueCert(caB, { commonName: 'bob', usage: 'client' }),
    // An empty subject, as SPIFFE workload certificates have, and one that is not ASCII.
    cliNoSubject: await issueCert(caA, { commonName: '', subject: [], uris: ['spiffe://a/workload'], usage: 'client' }),
    cliUnicode: await issueCert(caA, { commonName: 'łukasz Müller 中文', usage: 'client' }),
    cliExpired: await issueCert(caA, { commonName: 'expired', ...lastMonth, usage: 'client' }),
    cliNotYetValid: await issueCert(caA, { commonName: 'not-yet-valid', ...nextMonth, usage: 'client' }),
    cliServerEku: await issueCert(caA, { commonName: 'server-eku', ...localhost, usage: 'server' }),
    cliOfNotCa: await issueCert(notCa, { commonName: 'client-of-not-ca', usage: 'client' }),
    leaf: await issueCert(int, { commonName: 'leaf', usage: 'client' }),
    leafRevoked: await issueCert(int, { commonName: 'revoked', usage: 'client' }),
  }
  const crls: Record<(typeof CRL_NAMES)[number], string> = {
    crlRootEmpty: await createCrl(root, []),
    crlIntEmpty: await createCrl(int, []),
    crlIntRevoked: await createCrl(int, [issued.leafRevoked]),
    crlIntRevokesLeaf: await createCrl(int, [issued.leafRevoked, issued.leaf]),
    // Issued an hour ago, its next update due half an hour ago: OpenSSL calls it expired.
    crlRootStale: await createCrl(root, [], { nextUpdate: new Date(now - 1_800_000) }),
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

async function writePair(dir: string, name: string, cert: string, key: string): Promise<CertFiles> {
  return { cert, key, certFile: await write(dir, `${name}.crt`, cert), keyFile: await write(dir, `${name}.key`, key) }
}

async function write(dir: string, name: string, data: string): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, data, { mode: 0o600 })
  return file
}
