/**
 * The certificate, key, CA bundle and CRL files of one config, read for one snapshot build. Many
 * routes name the same files: each is read and parsed once (its error too, so each route that names a
 * bad file still gets its own issue at its own key path). Every problem becomes an issue at the key
 * that names the file, and every certificate and CRL read is recorded (the expiry gauge, warnings).
 */
import type { X509Certificate } from 'node:crypto'
import { issueAt, type ConfigIssue } from '../config/issues.js'
import { ErrorCodes, PortcullisError } from '../errors.js'
import type { Config, CrlFile, RouteConfig } from '../config/types.js'
import { casWithoutCrl, crlIssuerSubject, type CrlPeer } from '../tls/crl-issuers.js'
import { keyOfCertificate, readCaBundle, readCertificates, readCrl, readPrivateKey, type CaBundle, type CertificateFile } from '../tls/pem.js'

export type CertificateRole = 'server' | 'client' | 'ca'

export interface LoadedCertificate {
  readonly route: string
  /** The route's place in the config. */
  readonly routeIndex: number
  /** The key that names the file (`routes[2].tls.clientCAs`). */
  readonly path: string
  readonly role: CertificateRole
  readonly certificate: X509Certificate
  /** An intermediate sent after a server or client certificate (a fullchain file), not the leaf itself. */
  readonly intermediate: boolean
}

export interface LoadedCrl {
  readonly route: string
  readonly routeIndex: number
  /** The key that names the file (`routes[2].tls.crl[1]`, `routes[2].upstream.crl`). */
  readonly path: string
  readonly peer: CrlPeer
  readonly nextUpdate: Date | undefined
  /** RFC 2253, as the subject of the CA that signed it (see crlIssuerSubject). */
  readonly issuer: string
}

/** A CA of a route's bundle that none of its CRLs is of (see casWithoutCrl): chains through it are refused. */
export interface CaWithoutCrl {
  readonly routeIndex: number
  /** The key that names the CRLs (`routes[2].tls.crl`, `routes[2].upstream.crl`). */
  readonly path: string
  readonly peer: CrlPeer
  readonly certificate: X509Certificate
  /** Its place in the bundle (from 1), where another CA of the bundle has its name (the ngrok recipe's `ExampleCA`). */
  readonly namesakeAt?: number
}

export interface KeyPair {
  readonly cert: CertificateFile
  readonly keyPem: string
}

export class RouteFiles {
  readonly certificates: LoadedCertificate[] = []
  readonly crls: LoadedCrl[] = []
  readonly casWithoutCrl: CaWithoutCrl[] = []
  /** The keys (`routes[2].tls.clientCAs`) that name a CA bundle holding a private key too. */
  readonly caBundlesWithKey: string[] = []
  readonly issues: ConfigIssue[] = []
  private readonly outcomes = new Map<string, { value: unknown } | { error: unknown }>()

  constructor(private readonly config: Config) {}

  /**
   * `at`.cert and `at`.key (the route's tls, or its upstream's client certificate): a problem with the
   * key file is reported at `key`, one with the certificate at `cert`. A certificate without its key, or
   * a key without its certificate (a problem of the rules), is read alone.
   */
  keyPair(route: RouteConfig, at: string, files: { cert: string | undefined; key: string | undefined }, role: Exclude<CertificateRole, 'ca'>): KeyPair | undefined {
    const { cert: certFile, key: keyFile } = files
    const cert = certFile === undefined ? undefined : this.attempt(`${at}.cert`, this.readOnce(['cert', certFile], () => readCertificates(certFile)), certFile)
    // Read whatever became of the certificate, so that one run lists the problems of both.
    const key = keyFile === undefined ? undefined : this.attempt(`${at}.key`, this.readOnce(['key', keyFile], () => readPrivateKey(keyFile)), keyFile)
    const keyPem =
      cert && key ? this.attempt(`${at}.key`, this.readOnce(['key of', certFile, key.file], () => keyOfCertificate(cert, key)), key.file) : undefined
    // The intermediates too: one that expires first takes the whole chain with it.
    cert?.certificates.forEach((certificate, i) => this.recordCertificate(route, `${at}.cert`, role, certificate, i > 0))
    return cert && keyPem !== undefined ? { cert, keyPem } : undefined
  }

  caBundle(route: RouteConfig, path: string, file: string): CaBundle | undefined {
    const bundle = this.attempt(path, this.readOnce(['ca', file], () => readCaBundle(file)), file)
    bundle?.certificates.forEach((certificate) => this.recordCertificate(route, path, 'ca', certificate, false))
    if (bundle?.holdsPrivateKey) this.caBundlesWithKey.push(path)
    return bundle
  }

  /**
   * The PEM CRLs of `named` (the `crl` key at `at`), one per entry, that refuse `peer` certificates;
   * `cas` (the route's clientCAs or upstream.ca) name their issuers, and must each have one of them
   * (casWithoutCrl).
   */
  crlPems(route: RouteConfig, at: string, named: readonly CrlFile[], cas: CaBundle | undefined, peer: CrlPeer): string[] {
    const read = named.map(({ file, path }) => this.attempt(path, this.readOnce(['crl', file], () => readCrl(file)), file))
    // Once per CRL file and bundle: a thousand routes often share both.
    read.forEach((crls = [], i) => {
      const { file, path } = named[i]!
      const issuers = this.readOnce(['crl issuers', file, cas?.file], () => crls.map((crl) => crlIssuerSubject(crl, cas?.certificates ?? [])))()
      crls.forEach((crl, j) => this.crls.push({ route: route.name, routeIndex: route.index, path, peer, nextUpdate: crl.fields?.nextUpdate, issuer: issuers[j]! }))
    })
    const crls = read.flatMap((crlsOfFile) => crlsOfFile ?? [])
    // Not while a file is unread: it has an issue of its own, and may hold the missing CRL.
    if (cas && crls.length > 0 && read.every(Boolean)) {
      const files = named.map(({ file }) => file)
      const without = this.attempt(at, this.readOnce(['crl gaps', peer, files, cas.file], () => casWithoutCrl(cas, crls, files, peer)))
      for (const certificate of without ?? []) {
        const namesake = cas.certificates.some((other) => other !== certificate && other.subject === certificate.subject)
        const namesakeAt = namesake ? cas.certificates.indexOf(certificate) + 1 : undefined
        this.casWithoutCrl.push({ routeIndex: route.index, path: at, peer, certificate, ...(namesakeAt && { namesakeAt }) })
      }
    }
    return crls.map((crl) => crl.pem)
  }

  /** `create`'s result, or undefined with its error as an issue at `path`, about `file` where it reads one. */
  attempt<T>(path: string, create: () => T, file?: string): T | undefined {
    try {
      return create()
    } catch (error) {
      const issue = issueAt(this.config.file, this.config.positions, path, (error as Error).message)
      const keyMismatch = error instanceof PortcullisError && error.code === ErrorCodes.KEY_MISMATCH
      this.issues.push({ ...issue, ...(file !== undefined && { aboutFile: file }), ...(keyMismatch && { kind: 'key-mismatch' as const }) })
      return undefined
    }
  }

  /** A certificate read, for the warnings, the expiry gauges and the `certificate loaded` lines. */
  private recordCertificate(route: RouteConfig, path: string, role: CertificateRole, certificate: X509Certificate, intermediate: boolean): void {
    this.certificates.push({ route: route.name, routeIndex: route.index, path, role, certificate, intermediate })
  }

  /**
   * `read` once per load for the same `what`: what is read, and the files it reads (a list in JSON,
   * as a path may hold any character, a space or a newline included).
   */
  private readOnce<T>(what: readonly unknown[], read: () => T): () => T {
    const key = JSON.stringify(what)
    return () => {
      let outcome = this.outcomes.get(key)
      if (!outcome) {
        try {
          outcome = { value: read() }
        } catch (error) {
          outcome = { error }
        }
        this.outcomes.set(key, outcome)
      }
      if ('error' in outcome) throw outcome.error
      return outcome.value as T
    }
  }
}
