/**
 * How OpenSSL builds a peer's chain to a CA bundle, and what it calls a chain that gets nowhere: the
 * re-check of a client after a reload (recheck.ts) follows the same path, and a refused peer whose
 * chain never reached the bundle is reported by that chain's verdict rather than a CRL's
 * (chainErrorBeneathCrlVerdict: handshake-reports.ts, upstream.ts).
 */
import type { X509Certificate } from 'node:crypto'
import { isSelfSigned, outsideValidity, signedBy } from './cert-checks.js'
import { isCrlTrouble } from './reasons.js'

/**
 * The longest refused chain that is followed to say why it was refused (chainErrorBeneathCrlVerdict,
 * unknown-issuer.ts): a real one has two to five certificates. pathToCa checks a signature between each
 * certificate and every other of its issuer's name, and a peer that sent 200 certificates of one name,
 * each signed by the next one's key, held the event loop for over a second at each handshake.
 */
export const MAX_FOLLOWED_CHAIN = 10

/** OpenSSL's codes for a chain that ends before a CA of the bundle: its own issuer is nowhere. */
export const ISSUER_NOT_FOUND: ReadonlySet<string> = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'])

/** OpenSSL's messages for the codes pathToCa gives (X509_verify_cert_error_string), as Node's errors carry them. */
const MESSAGES: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate',
  UNABLE_TO_GET_ISSUER_CERT: 'unable to get issuer certificate',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get local issuer certificate',
}

/**
 * The chain from the leaf to a self-signed CA of `cas`; or as far as it goes, with OpenSSL's code for
 * why it goes no further, as its handshake reports it. The bundle is searched first, as OpenSSL does
 * (X509_V_FLAG_TRUSTED_FIRST): an intermediate the peer `sent` along with its old root must not lead
 * to that root. Of several issuers, the one OpenSSL's find_issuer takes: the first within its dates at
 * `now` (a CA renewed under the same name and key, beside the expired one it replaces), else the one
 * that expired last.
 */
export function pathToCa(
  cas: readonly X509Certificate[],
  leaf: X509Certificate,
  sent: readonly X509Certificate[],
  now: Date,
): { path: X509Certificate[]; error?: string } {
  const trusted = new Set(cas.map((ca) => ca.fingerprint256))
  const path = [leaf]
  for (let certificate = leaf; ; ) {
    if (isSelfSigned(certificate)) {
      if (trusted.has(certificate.fingerprint256)) return { path }
      return { path, error: path.length === 1 ? 'DEPTH_ZERO_SELF_SIGNED_CERT' : 'SELF_SIGNED_CERT_IN_CHAIN' }
    }
    // Whether it is a CA or not: OpenSSL builds the chain through any certificate that issued it
    // (check_issued: its name and key), and refuses one that is no CA after (recheck.ts verdict).
    const issuedIt = (candidate: X509Certificate) =>
      !path.some((inPath) => inPath.fingerprint256 === candidate.fingerprint256) && signedBy(certificate, candidate)
    const issuer = issuerAmong(cas, issuedIt, now) ?? issuerAmong(sent, issuedIt, now)
    if (!issuer) return { path, error: issuerNotFound(path, trusted.has(certificate.fingerprint256)) }
    path.push(issuer)
    certificate = issuer
  }
}

/**
 * OpenSSL reports the last error it finds, and with CRLs, the missing CRL of a root that a peer of
 * another CA sent along comes after that chain's own. So where `verdict` is a CRL's (isCrlTrouble),
 * this is why `chain` (leaf first, as the peer sent it) does not reach a CA of `cas`, as OpenSSL's
 * error with its code and message: the verdict a handshake without that root would give (an
 * unknown_ca, not a CRL to fix). Undefined where the chain does reach `cas`, or the verdict is another,
 * or the peer's chain holds DER that OpenSSL read and cert-der.ts does not (BER's forms), or more than
 * MAX_FOLLOWED_CHAIN certificates: the verdict of a refusal stands, and it is only reported.
 */
export function chainErrorBeneathCrlVerdict(
  verdict: string | undefined,
  chain: readonly X509Certificate[] | undefined,
  cas: readonly X509Certificate[] | undefined,
): (Error & { code: string }) | undefined {
  const [leaf, ...sent] = chain ?? []
  if (!isCrlTrouble(verdict) || !leaf || !cas || chain!.length > MAX_FOLLOWED_CHAIN) return undefined
  let code: string | undefined
  try {
    code = pathToCa(cas, leaf, sent, new Date()).error
  } catch {
    return undefined
  }
  return code === undefined ? undefined : Object.assign(new Error(MESSAGES[code]), { code })
}

/** Which of ISSUER_NOT_FOUND a handshake reports, by where the chain stops: at the leaf, at a CA of the bundle, or at one the peer sent. */
function issuerNotFound(path: readonly X509Certificate[], endsInBundle: boolean): string {
  if (path.length === 1) return 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
  return endsInBundle ? 'UNABLE_TO_GET_ISSUER_CERT' : 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'
}

/** Of the certificates that issued it, the first within its dates at `now`, else the one that expired last. */
function issuerAmong(candidates: readonly X509Certificate[], issuedIt: (candidate: X509Certificate) => boolean, now: Date): X509Certificate | undefined {
  const issuers = candidates.filter(issuedIt)
  const expiresLast = (a: X509Certificate, b: X509Certificate) => Date.parse(b.validTo) - Date.parse(a.validTo)
  return issuers.find((issuer) => outsideValidity(issuer, now) === undefined) ?? issuers.sort(expiresLast)[0]
}
