/**
 * Which CA of a route's CA bundle (tls.clientCAs, upstream.ca) issued each CRL that goes with it, as
 * OpenSSL finds a CRL for a certificate (get_crl_sk in crypto/x509/x509_vfy.c): in its issuer's name,
 * as OpenSSL compares names, and signed by its key. With CRLs, OpenSSL checks the CRL of every CA of a
 * peer's chain, the root at its end included (Node's `crl` option sets X509_V_FLAG_CRL_CHECK_ALL, as
 * nginx's ssl_crl and proxy_ssl_crl, HAProxy's crl-file and Envoy's crl do): a chain through a CA
 * without one is refused (UNABLE_TO_GET_CRL).
 */
import type { X509Certificate } from 'node:crypto'
import { displayPath } from '../config/file-paths.js'
import { ErrorCodes, PortcullisError } from '../errors.js'
import { canonicalName } from './canonical-name.js'
import { certificateFields } from './cert-der.js'
import { outsideValidity } from './cert-checks.js'
import { crlSignedBy } from './crl-der.js'
import type { CaBundle, Crl } from './pem.js'
import { subjectRfc2253 } from './subject.js'

/** Whose certificates a route's CRLs refuse: its clients' (tls.crl) or its upstream's (upstream.crl). */
export type CrlPeer = 'client' | 'upstream'

/**
 * Whether `ca` issued `crl`: a CA of its issuer's name whose key made its signature. True where that
 * cannot be told here (DER that crl-der.ts or cert-der.ts does not read, a signature algorithm it does
 * not check): a config is never refused on a guess.
 */
function crlIssuedBy(crl: Crl, ca: X509Certificate): boolean {
  if (!crl.fields) return true
  try {
    return inNameOf(crl.fields, ca) && crlSignedBy(crl.fields, ca.publicKey) !== false
  } catch {
    return true
  }
}

/** Whether a CRL's issuer is `ca`'s name, as OpenSSL compares names. */
function inNameOf(fields: NonNullable<Crl['fields']>, ca: X509Certificate): boolean {
  return canonicalName(fields.issuer) === canonicalName(certificateFields(ca).subject)
}

/**
 * The CRL's issuer as the RFC 2253 subject of the CA in `cas` that issued it, as the expiry gauge names
 * that CA; the library's own spelling of its issuer's name when none did (an intermediate's CRL, of a
 * CA the peer sends).
 */
export function crlIssuerSubject(crl: Crl, cas: readonly X509Certificate[]): string {
  if (crl.issuerName === undefined) return ''
  const ca = cas.find((certificate) => crlIssuedBy(crl, certificate))
  return ca ? subjectRfc2253(ca) : crl.issuerName
}

/**
 * The CAs of `bundle`, within their dates, that no CRL of `crls` (read from `files`) is of: a `peer`
 * certificate whose chain runs through one of them is refused. Every chain ends at a root of the bundle
 * (Node sets no X509_V_FLAG_PARTIAL_CHAIN), so when no root has a CRL every one would be: that throws.
 */
export function casWithoutCrl(bundle: CaBundle, crls: readonly Crl[], files: readonly string[], peer: CrlPeer): X509Certificate[] {
  const now = new Date()
  const current = bundle.certificates.filter((ca) => outsideValidity(ca, now) === undefined)
  const without = current.filter((ca) => !crls.some((crl) => crlIssuedBy(crl, ca)))
  const roots = bundle.roots.filter((root) => current.includes(root))
  if (roots.length > 0 && roots.every((root) => without.includes(root))) {
    const issuers = [...new Set(crls.map((crl) => issuerOfCrl(crl, roots)))]
    throw new PortcullisError(
      ErrorCodes.CERT_READ,
      `${files.map(displayPath).join(', ')} ${files.length === 1 ? 'holds' : 'hold'} no CRL of a root CA of ${displayPath(bundle.file)} ` +
        `(${roots.map(subjectRfc2253).join('; ')}), in its name and signed by its key, only CRLs of ${issuers.join('; ')}: ` +
        `OpenSSL checks the CRL of every CA of a chain, its root's too, so every ${peer} certificate would be refused; add the root CA's CRL`,
    )
  }
  return without
}

/**
 * Who issued `crl`, for the message above: a root's name where the CRL is in it but another key signed
 * it (another CA of the same name: the ngrok recipe names every CA it makes `ExampleCA`).
 */
function issuerOfCrl(crl: Crl, roots: readonly X509Certificate[]): string {
  const { fields } = crl
  if (!fields) return 'an issuer it cannot read'
  const namesake = roots.find((root) => inNameOf(fields, root))
  return namesake ? `${subjectRfc2253(namesake)} signed by another key than that CA's` : crl.issuerName!
}
