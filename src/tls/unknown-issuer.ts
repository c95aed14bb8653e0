/**
 * What to change when a peer's chain reaches no CA the gateway trusts (unknown_ca): the `hint` of the
 * upstream failure's log line, or of a refused client's. OpenSSL's words ("unable to verify the first
 * certificate", "certificate signature failure") say what failed, not which CA is missing or where to
 * put it.
 */
import type { X509Certificate } from 'node:crypto'
import { isSelfSigned } from './cert-checks.js'
import { MAX_FOLLOWED_CHAIN, pathToCa } from './chain-path.js'
import { boundedForLog, issuerRfc2253, subjectRfc2253 } from './subject.js'

/** How each side's hint names what it speaks of. */
const WORDS = {
  upstream: { bundle: 'upstream.ca', certificate: "the upstream's certificate", sender: 'the upstream' },
  client: { bundle: 'tls.clientCAs', certificate: "the client's certificate", sender: 'the client' },
}

/**
 * The hint for a refused `chain` (leaf first, as the peer sent it), checked against the CAs that
 * verify it (`cas`; undefined: the system roots, which this does not search); undefined where it
 * reaches them. A CA of the issuer's name with another key (ngrok's openssl recipe run twice makes two
 * CAs of one name) is named as such: the names in the log line alone would look right. It is said as
 * a question, not a finding: a certificate may name a CA it was not issued by (a scanner's names one of
 * those the gateway lists in its handshake). A client's
 * certificate gets that hint alone: one of a CA the gateway does not know is what unknown_ca means.
 * None for a chain longer than MAX_FOLLOWED_CHAIN.
 */
export function unknownIssuerHint(chain: readonly X509Certificate[], cas: readonly X509Certificate[] | undefined, peer: keyof typeof WORDS): string | undefined {
  const [leaf, ...sent] = chain
  if (!leaf || chain.length > MAX_FOLLOWED_CHAIN) return undefined
  let stop: ReturnType<typeof pathToCa>
  try {
    stop = pathToCa(cas ?? [], leaf, sent, new Date())
  } catch {
    // DER that OpenSSL read and cert-der.ts does not (BER's forms): no hint.
    return undefined
  }
  const { path, error } = stop
  if (error === undefined) return undefined
  // Where the chain stops: the leaf, or the last CA that leads on from it, which the peer sent, or which
  // the bundle holds without its issuer (a bundle of several CAs, one of them an intermediate).
  const top = path.at(-1)!
  const { bundle, sender } = WORDS[peer]
  // The peer's own text, unverified: cut as the log line's other names are.
  const issuer = boundedForLog(issuerRfc2253(top))
  const subject = boundedForLog(subjectRfc2253(top))
  const source = sent.includes(top) ? `${isSelfSigned(top) ? 'a root' : 'an intermediate'} ${sender} sent` : `an intermediate of ${bundle}`
  const certificate = top === leaf ? WORDS[peer].certificate : `${subject} (${source})`
  if (cas?.some((ca) => ca.subject === top.issuer)) {
    return `${bundle} holds a CA named ${issuer}, but not the key that signed ${certificate}: if that CA was made again under the same name, put the new one in ${bundle}`
  }
  if (peer === 'client') return undefined
  if (isSelfSigned(top)) {
    return cas
      ? `the upstream's chain ends at ${subject}, a root that upstream.ca does not hold: add it to upstream.ca`
      : `the upstream's chain ends at ${subject}, a root the system does not trust: set upstream.ca to a bundle that holds it`
  }
  const missing = cas ? 'which upstream.ca does not hold' : 'which is no root the system trusts (upstream.ca is not set)'
  return `${certificate} is issued by ${issuer}, ${missing}: put that CA in upstream.ca, or, if it is an intermediate, have the upstream send it with its certificate`
}
