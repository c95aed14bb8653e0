/**
 * A connection outlives the TLS policy it was verified under. After a reload that changes a route's
 * client CAs, CRLs or OCSP lookups, the client of each connection verified under the old ones is
 * re-checked here against the policy it would be held to now (connection-rechecks.ts, which maps the
 * whole path): a keep-alive connection's, the one a new handshake of its would get; a WebSocket's,
 * the one its route has. One that no longer passes is closed: otherwise a client whose certificate the
 * new CRL revokes, or whose CA left the bundle, would keep a WebSocket for good, and a keep-alive
 * connection until it is idle.
 *
 * Not every connection closed, as Caddy closes every WebSocket a config change leaves behind (at once,
 * or after `stream_close_delay`; caddyserver/caddy#3143), and Envoy drains a changed listener and
 * closes what is left after `--drain-time-s`: a CRL is re-issued every day or hour with nothing new
 * revoked, and each re-issue would cut every connection of the route, with every client reconnecting
 * at once.
 *
 * The check is the one OpenSSL makes in the handshake, as Node sets it up for a policy server: the
 * chain must lead, through the intermediates the client sent or the bundle's own certificates, to a
 * self-signed CA of the new bundle (Node sets no X509_V_FLAG_PARTIAL_CHAIN), each signature verifying,
 * each certificate above the leaf a CA; with CRLs, every certificate of that chain, the CA at its end
 * included, needs a current CRL signed by its issuer that does not list it (Node's `crl` sets
 * X509_V_FLAG_CRL_CHECK_ALL), an issuer whose keyUsage, if any, allows cRLSign; every certificate of
 * the chain must be within its validity dates, and allow clientAuth if it has an extended key usage; if
 * it has a keyUsage, the leaf's must allow digitalSignature or keyAgreement, and a CA's keyCertSign. Of
 * several failures, the one a handshake reports (see verdict), as a client that comes back through one
 * would be told. What cannot be checked fails closed. Then, with tls.ocsp, the leaf's OCSP answer, as
 * the handshake asks for it after OpenSSL's checks (handshake-reports.ts).
 */
import type { X509Certificate } from 'node:crypto'
import type { OcspConfig } from '../config/types.js'
import { canonicalName } from './canonical-name.js'
import { certificateFields } from './cert-der.js'
import { allowsCertSign, CLIENT_AUTH, extendedUsageLacks, isSelfSigned, issuerKind, keyUsageAllows, outsideValidity, type IssuerKind } from './cert-checks.js'
import { ISSUER_NOT_FOUND, pathToCa } from './chain-path.js'
import type { OcspLookups, OcspOutcome } from './ocsp-lookups.js'
import { PolicyCrls, revokes } from './policy-crls.js'
import { failureReason, type FailureReason } from './reasons.js'

/**
 * `detail` is OpenSSL's verification code for the same refusal in a handshake (CERT_REVOKED,
 * UNABLE_TO_GET_CRL…), or RECHECK_FAILED when the check itself failed; `reason` maps it as reasons.ts
 * maps a handshake's.
 */
export type RecheckVerdict =
  | { readonly pass: true }
  | {
      readonly pass: false
      readonly reason: FailureReason
      readonly detail: string
      readonly error?: Error
      /** The client's own certificate, for the log line of the WebSocket closed (certificate-identity.ts). */
      readonly certificate?: X509Certificate
    }

export const PASS: RecheckVerdict = { pass: true }

/** The detail of a re-check that could not be made: a CRL it cannot read, or a chain it does not know. */
export const RECHECK_FAILED = 'RECHECK_FAILED'

const CHAIN_UNKNOWN =
  'the TLS session was resumed, and the intermediates its client sent at its full handshake are not known here, and the CAs or CRLs above its certificate are stricter than when it was verified'

/**
 * OpenSSL's KEYUSAGE_NO_CERTSIGN and KEYUSAGE_NO_CRL_SIGN as a handshake reports them: Node names only
 * some of OpenSSL's codes (X509ErrorCode, in its src/crypto/crypto_common.cc), and these UNSPECIFIED.
 */
const KEYUSAGE_NO_CERTSIGN = 'UNSPECIFIED'
const KEYUSAGE_NO_CRL_SIGN = 'UNSPECIFIED'

/** The verdict's detail for a client that sent no certificate, as OpenSSL's refusal names it. */
export const NO_CERTIFICATE = 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'

export function refused(detail: string, error?: Error): RecheckVerdict {
  return { pass: false, reason: failureReason(detail), detail, ...(error && { error }) }
}

/** A policy's OCSP lookups of its clients' certificates (tls.ocsp): where they are made, and how. */
export interface ClientOcsp {
  readonly lookups: OcspLookups
  readonly settings: OcspConfig
}

/**
 * A TLS policy's client CAs, CRLs and OCSP lookups: for re-checking a client verified under another
 * policy, and for the OCSP lookup of a client its handshake verified (ocspVerdict).
 */
export class ClientTrust {
  private readonly crls: PolicyCrls
  /** noStricterAbove's verdicts, by the trust before and the leaf issuer's name. */
  private readonly noStricterThan = new WeakMap<ClientTrust, Map<string, boolean>>()

  constructor(
    private readonly cas: readonly X509Certificate[],
    crlPems: readonly string[],
    readonly ocsp?: ClientOcsp,
  ) {
    this.crls = new PolicyCrls(crlPems)
  }

  /**
   * What the OCSP responder says of the leaf of `chain`, a chain this trust's CAs verified: PASS for
   * a good one, and without tls.ocsp. Where no answer could be had, as `unreachable` says; where the
   * leaf's issuer is not known (a resumed session whose intermediates are not, see leafRevocation),
   * as if none could be had, unless an answer is remembered.
   */
  async ocspVerdict(chain: readonly X509Certificate[], now = new Date()): Promise<RecheckVerdict> {
    const [leaf, ...sent] = chain
    // A client CA of the bundle itself, the leaf has no issuer to answer for it.
    if (!this.ocsp || !leaf || isSelfSigned(leaf)) return PASS
    const issuerOf = () => pathToCa(this.cas, leaf, sent, now).path[1]
    const outcome: OcspOutcome = await this.ocsp.lookups.status(leaf, issuerOf, this.ocsp.settings)
    if (outcome.answer?.status === 'good' || (outcome.failure && this.ocsp.settings.unreachable === 'allow')) return PASS
    const detail = outcome.answer ? (outcome.answer.status === 'revoked' ? 'OCSP_CERT_REVOKED' : 'OCSP_CERT_UNKNOWN') : outcome.failure
    return { pass: false, reason: failureReason(detail), detail, certificate: leaf, ...(outcome.error && { error: outcome.error }) }
  }

  /**
   * `chain` is the client's, leaf first, as TlsPolicy.clientChain gives it. `resumed`: of a resumed TLS
   * session, whose intermediates may not be known here (see leafRevocation). `verifiedUnder`: the
   * trust the client was verified under, against which such a session's leaf alone may do
   * (noStricterAbove).
   */
  async check(
    chain: readonly X509Certificate[],
    { resumed = false, verifiedUnder, now = new Date() }: { resumed?: boolean; verifiedUnder?: ClientTrust; now?: Date } = {},
  ): Promise<RecheckVerdict> {
    const [leaf, ...sent] = chain
    // A client that sent none (its policy asked for none, or made it optional), now under one that requires one.
    if (!leaf) return refused(NO_CERTIFICATE)
    const { path, error } = pathToCa(this.cas, leaf, sent, now)
    // A leaf whose keyUsage OpenSSL holds invalid has no issuer anywhere (see signedBy in
    // cert-checks.ts): a handshake refuses it whatever its chain, as the check below does.
    const chainUnknown = error && ISSUER_NOT_FOUND.has(error) && resumed && certificateFields(leaf).keyUsage !== 'invalid'
    if (chainUnknown) {
      // Above the leaf, only what is no stricter than when the client was verified is known to hold.
      if (!verifiedUnder || !this.noStricterAbove(leaf, verifiedUnder, now)) return refused(RECHECK_FAILED, new Error(CHAIN_UNKNOWN))
      const leafVerdict = await verdict([leaf], now, undefined, () => this.leafRevocation(leaf, now))
      return leafVerdict.pass ? this.ocspVerdict([leaf], now) : leafVerdict
    }
    // OpenSSL checks no revocation on a chain that does not reach the bundle.
    const chainVerdict = await verdict(path, now, error, () => (error ? [] : this.revocation(path, now)))
    return chainVerdict.pass ? this.ocspVerdict(path, now) : chainVerdict
  }

  /** With CRLs, OpenSSL's code for each certificate of `path`, from the leaf up, that no current CRL clears. */
  private async revocation(path: readonly X509Certificate[], now: Date): Promise<string[]> {
    if (this.crls.none) return []
    const found: string[] = []
    for (const [i, certificate] of path.entries()) {
      // The CA at the end of the chain is its own issuer, and so on its own CRL.
      const issuer = Math.min(i + 1, path.length - 1)
      const crl = await this.crls.currentCrlOf(path[issuer]!, now)
      // OpenSSL's check_crl: a CRL found, current or not, is refused first if its issuer's keyUsage
      // lacks cRLSign.
      if (crl !== 'UNABLE_TO_GET_CRL' && !keyUsageAllows(path[issuer]!, 'cRLSign')) found.push(KEYUSAGE_NO_CRL_SIGN)
      if (typeof crl === 'string') found.push(crl)
      else if (revokes(crl, certificate)) found.push('CERT_REVOKED')
    }
    return found
  }

  /**
   * Whether this trust takes, above `leaf`, whatever `before` took: every CA of `before` is still one of
   * its CAs, and its CRLs but those of the leaf's issuer (which the leaf's own check reads,
   * leafRevocation) refuse nothing `before`'s let through (PolicyCrls.revokeNothingMoreThan). A CRL's
   * routine re-issue, a CA added, every CRL removed, pass; a CA removed, a CA added under the name of
   * another (addsNamesake), a CA's certificate newly revoked, a CRL gone or out of date, CRLs where
   * there were none, CRLs of one name from two keys, do not.
   * Once per pair of trusts and leaf issuer: a reload may re-check thousands of connections, and a
   * CA's CRL may list a hundred thousand serial numbers.
   */
  private noStricterAbove(leaf: X509Certificate, before: ClientTrust, now: Date): boolean {
    const issuer = certificateFields(leaf).issuer
    let byIssuer = this.noStricterThan.get(before)
    if (!byIssuer) this.noStricterThan.set(before, (byIssuer = new Map()))
    const key = Buffer.from(issuer).toString('base64')
    let verdict = byIssuer.get(key)
    if (verdict === undefined) {
      const fingerprints = new Set(this.cas.map((ca) => ca.fingerprint256))
      verdict =
        before.cas.every((ca) => fingerprints.has(ca.fingerprint256)) && !this.addsNamesake(before) && this.crls.revokeNothingMoreThan(before.crls, issuer, now)
      byIssuer.set(key, verdict)
    }
    return verdict
  }

  /**
   * Whether a CA this trust has and `before` did not shares its name with another of its CAs: a chain
   * without key identifiers may then be built through the other one (OpenSSL's check_issued compares
   * names and key identifiers, not signatures), and refused where it passed.
   */
  private addsNamesake(before: ClientTrust): boolean {
    const had = new Set(before.cas.map((ca) => ca.fingerprint256))
    const names = this.cas.map((ca) => canonicalName(certificateFields(ca).subject))
    return this.cas.some((ca, i) => !had.has(ca.fingerprint256) && names.some((name, j) => j !== i && name === names[i]))
  }

  /**
   * A session ticket carries the leaf alone, and its chain is known only where it was read at the
   * leaf's last full handshake in this process (ClientChains): reading every chain at its handshake
   * would cost a fifth of the handshake or more. Without it, the path to the new bundle cannot be
   * built, but where nothing above the leaf got stricter (noStricterAbove), the leaf's revocation can
   * still be read, in the current CRL of its issuer's name. That CRL's signature cannot be verified
   * without the issuer, which only the client had sent; the CRL is the operator's own file. Where
   * something above it got stricter (a CA left the bundle, a CRL of the CAs above revokes more, or is
   * gone or out of date, CRLs where there were none) or cannot be told (CRLs of one name from two
   * keys), the check fails closed: the connection closes, and its client's next handshake is checked
   * in full.
   */
  private leafRevocation(leaf: X509Certificate, now: Date): string[] {
    if (this.crls.none) return []
    const crl = this.crls.currentCrlIssuedIn(certificateFields(leaf).issuer, now)
    if (typeof crl === 'string') return [crl]
    return revokes(crl, leaf) ? ['CERT_REVOKED'] : []
  }

}

/**
 * The verdict a handshake would give. Node's verify callback lets OpenSSL go on past every error, and
 * the handshake reports the last one found, in X509_verify_cert's order: a self-signed certificate
 * outside the bundle, as the chain is built; from the leaf up, whether each certificate above it is a
 * CA (issuerKind), and each one's purpose (see forTlsClients; anyExtendedKeyUsage does not do for
 * clientAuth); its revocation from the leaf up, on a chain that reaches the bundle; then, in
 * internal_verify, an issuer found nowhere, and from the CA down, each certificate's issuer's
 * keyUsage (which must allow keyCertSign) and its own dates. Of a chain that stops short of the
 * bundle, internal_verify starts below the certificate it stops at, whose dates it never reads, unless
 * it is the leaf.
 */
async function verdict(
  path: readonly X509Certificate[],
  now: Date,
  chainError: string | undefined,
  revocation: () => Promise<readonly string[]> | readonly string[],
): Promise<RecheckVerdict> {
  const issuerMissing = chainError !== undefined && ISSUER_NOT_FOUND.has(chainError)
  const found: string[] = chainError && !issuerMissing ? [chainError] : []
  for (const [i, certificate] of path.entries()) {
    // check_chain_extensions: above the leaf, a CA; the top of the chain may be one check_ca tolerates.
    const kind = i > 0 ? issuerKind(certificate) : undefined
    if (kind === 'none' || (kind === 'tolerated' && i < path.length - 1)) found.push('INVALID_CA')
    if (!forTlsClients(certificate, kind)) found.push('INVALID_PURPOSE')
  }
  found.push(...(await revocation()))
  if (issuerMissing) found.push(chainError)
  const start = issuerMissing && path.length > 1 ? path.length - 2 : path.length - 1
  for (let i = start; i >= 0; i--) {
    const issuer = path[i + 1]
    if (issuer && !allowsCertSign(issuer)) found.push(KEYUSAGE_NO_CERTSIGN)
    const dated = outsideValidity(path[i]!, now)
    if (dated) found.push(dated)
  }
  const last = found.at(-1)
  return last ? refused(last) : PASS
}

/**
 * OpenSSL's purpose check of a chain's certificate for a TLS client (check_purpose_ssl_client in
 * crypto/x509/v3_purp.c): an extended key usage, if any, with clientAuth; a keyUsage, if any, with
 * digitalSignature or keyAgreement for the leaf; an issuer, one that check_ca does not call none.
 * `asIssuer` is issuerKind's answer for a certificate above the leaf; undefined for the leaf.
 */
function forTlsClients(certificate: X509Certificate, asIssuer: IssuerKind | undefined): boolean {
  if (extendedUsageLacks(certificate, CLIENT_AUTH)) return false
  return asIssuer === undefined ? keyUsageAllows(certificate, 'digitalSignature', 'keyAgreement') : asIssuer !== 'none'
}
