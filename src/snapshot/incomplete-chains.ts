/**
 * A certificate file that leaves out an intermediate: a server certificate served without the CA that
 * issued it (certbot's cert.pem named where its fullchain.pem belongs), which browsers may fetch and
 * curl, Go, Java and Node clients refuse (`unable to get local issuer certificate`); or an upstream
 * client certificate the same way. nginx and Envoy serve such a file without a word; a warning says so
 * where it can be known: the issuer is an intermediate of the config's own files, or it is named by
 * the certificate's caIssuers (as a public CA's are) and is no root of Node's trust store.
 */
import { X509Certificate } from 'node:crypto'
import { rootCertificates } from 'node:tls'
import { isSelfSigned, signedBy } from '../tls/cert-checks.js'
import { issuerRfc2253, subjectRfc2253 } from '../tls/subject.js'
import type { LoadedCertificate } from './route-files.js'

/** Node's copy of Mozilla's roots, what most clients trust: parsed at the first chain that needs them. */
let mozillaRoots: readonly X509Certificate[] | undefined

function trustedRoots(): readonly X509Certificate[] {
  mozillaRoots ??= rootCertificates.map((pem) => new X509Certificate(pem))
  return mozillaRoots
}

/**
 * The warning of each served chain (tls.cert, upstream.cert) that leaves out the issuer of its last
 * certificate, by the key that names it. `certificates`: all the config loaded, in file order.
 */
export function incompleteChains(certificates: readonly LoadedCertificate[]): { path: string; message: string }[] {
  const configCas = certificates.filter(({ role, intermediate }) => role === 'ca' || intermediate).map(({ certificate }) => certificate)
  // The last certificate of each served file, in file order: where its chain, as sent, stops.
  const topOfFile = new Map<string, LoadedCertificate>()
  for (const loaded of certificates) if (loaded.role !== 'ca') topOfFile.set(loaded.path, loaded)
  // A thousand routes may serve one file: each chain's top is looked into once.
  const problemOfTop = new Map<string, string | undefined>()
  return [...topOfFile].flatMap(([path, top]) => {
    const peers = top.role === 'server' ? 'clients' : 'upstreams'
    const key = `${peers} ${top.certificate.fingerprint256}`
    if (!problemOfTop.has(key)) problemOfTop.set(key, missingIssuer(top.certificate, configCas, peers))
    const message = problemOfTop.get(key)
    return message ? [{ path, message }] : []
  })
}

/**
 * Why `top` leaves its chain short, where that can be known. Node's roots are read only once a warning
 * is in sight, not at every start: most chains end at a CA of the config's own files.
 */
function missingIssuer(top: X509Certificate, configCas: readonly X509Certificate[], peers: 'clients' | 'upstreams'): string | undefined {
  try {
    if (isSelfSigned(top)) return undefined
    const issuedTop = (ca: X509Certificate) => signedBy(top, ca)
    const ofConfig = configCas.find(issuedTop)
    if (ofConfig ? isSelfSigned(ofConfig) : !top.infoAccess?.includes('CA Issuers')) return undefined
    // A cross-signed copy of a root (Sectigo's USERTrust under AAA Certificate Services): a client that
    // trusts the root of that name and key stops there (OpenSSL's default X509_V_FLAG_TRUSTED_FIRST, Go,
    // Java), and needs nothing above it.
    const copyOfTop = (root: X509Certificate) => root.subject === top.subject && root.publicKey.equals(top.publicKey)
    if (trustedRoots().some(copyOfTop) || configCas.some((ca) => copyOfTop(ca) && isSelfSigned(ca))) return undefined
    const issuer = issuerRfc2253(top)
    const fix = `append its certificate after ${subjectRfc2253(top)} (a full chain: the certificate, then its intermediates, as certbot's fullchain.pem)`
    if (ofConfig) return `leaves out ${issuer}, the intermediate CA that issued ${subjectRfc2253(top)}: ${peers} that trust only its root refuse the chain; ${fix}`
    if (trustedRoots().some(issuedTop)) return undefined
    return `leaves out ${issuer}, which issued ${subjectRfc2253(top)} and is no root of Node's trust store (Mozilla's): ${peers} other than browsers do not fetch it from the certificate's caIssuers, and refuse the chain; ${fix}`
  } catch {
    // DER that OpenSSL read and cert-der.ts does not (BER's forms): nothing known.
    return undefined
  }
}
