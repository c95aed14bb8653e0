/**
 * A TLS policy's CRLs as a reload's re-check (recheck.ts) looks them up: by the issuer whose key signed
 * them, or by the issuer's name alone. They are read, and each one's signature verified, only at the
 * first lookup, once per policy: a gateway whose reloads find nothing to re-check never reads them.
 */
import type { X509Certificate } from 'node:crypto'
import { canonicalName } from './canonical-name.js'
import { certificateFields } from './cert-der.js'
import { crlSignedBy, readCrlPem, revokedSerials, type CrlFields } from './crl-der.js'
import { parseCrl, peculiarCertificate } from './peculiar.js'

/** A CRL of a policy as the re-check reads it: its fields from the DER (crl-der.ts), its PEM, its issuer's canonical name. */
interface PolicyCrl extends CrlFields {
  readonly pem: string
  readonly canonicalIssuer: string
}

export class PolicyCrls {
  private read: readonly PolicyCrl[] | undefined
  /** By the issuer's SHA-256 fingerprint: its CRLs that verify, newest first. */
  private readonly crlsOfIssuer = new Map<string, Promise<PolicyCrl[]>>()
  /** By a canonical name (canonical-name.ts): the CRLs issued in that name, newest first. */
  private readonly crlsOfName = new Map<string, PolicyCrl[]>()

  constructor(private readonly pems: readonly string[]) {}

  /** The policy has no CRL: revocation is not checked. */
  get none(): boolean {
    return this.pems.length === 0
  }

  /** Of the CRLs `issuer`'s signature verifies, the one currentCrl() picks at `now`; else OpenSSL's code. */
  currentCrlOf(issuer: X509Certificate, now: Date): Promise<PolicyCrl | string> {
    let found = this.crlsOfIssuer.get(issuer.fingerprint256)
    if (!found) this.crlsOfIssuer.set(issuer.fingerprint256, (found = this.crlsSignedBy(issuer)))
    return found.then((crls) => currentCrl(crls, now))
  }

  /**
   * The CRL currentCrl() picks at `now` of those issued in `name`, its signature unverified; else
   * OpenSSL's code.
   */
  currentCrlIssuedIn(name: Uint8Array, now: Date): PolicyCrl | string {
    return currentCrl(this.crlsNamed(name), now)
  }

  /**
   * Whether, for every issuer but the one named `except` (a Name's DER), these CRLs refuse no
   * certificate of that issuer that `before`'s let through. With CRLs, OpenSSL checks every level of the
   * chain (Node sets X509_V_FLAG_CRL_CHECK_ALL), so an issuer `before` had no CRL of refused everything
   * it issued, and one that has none now refuses everything. A client that passed under `before` passed
   * one of its CRLs of each name, whichever was current at its handshake, and maybe no longer is at
   * `now`: so the CRL current now revokes nothing that any of them did not.
   */
  revokeNothingMoreThan(before: PolicyCrls, except: Uint8Array, now: Date): boolean {
    // No revocation checked now: nothing is refused for it.
    if (this.none) return true
    // Checked now and not before: whether the issuers above the leaf's have their CRLs now is unknown.
    if (before.none) return false
    const skipped = canonicalName(except)
    const names = new Set([...this.all(), ...before.all()].map((crl) => crl.canonicalIssuer))
    for (const name of names) {
      // CRLs of one name from more than one key (a CA re-keyed under its name): which of them a chain is
      // checked against depends on the key that issued it, which the leaf alone does not tell. The
      // leaf's issuer's name too: its CRL is read by its name (leafRevocation).
      if (signersOf([...this.crlsOfCanonicalName(name), ...before.crlsOfCanonicalName(name)]) > 1) return false
      if (name === skipped) continue
      const previous = before.crlsOfCanonicalName(name)
      // `before` refused every certificate of this issuer.
      if (previous.length === 0) continue
      const crl = currentCrl(this.crlsOfCanonicalName(name), now)
      if (typeof crl === 'string') return false
      const revokedNow = revokedSerialsOf(crl)
      for (const earlier of previous) {
        const revokedThen = revokedSerialsOf(earlier)
        for (const serial of revokedNow) if (!revokedThen.has(serial)) return false
      }
    }
    return true
  }

  /**
   * Of the CRLs in `issuer`'s name, newest first, those its key verifies, as OpenSSL trusts one: by
   * node:crypto, or for an algorithm crl-der.ts does not check, by @peculiar/x509 (its slow full parse).
   */
  private async crlsSignedBy(issuer: X509Certificate): Promise<PolicyCrl[]> {
    const signed: PolicyCrl[] = []
    for (const crl of this.crlsNamed(certificateFields(issuer).subject)) {
      if (crlSignedBy(crl, issuer.publicKey) ?? (await parseCrl(crl.pem).verify({ publicKey: peculiarCertificate(issuer) }))) signed.push(crl)
    }
    return signed
  }

  /**
   * The CRLs issued in `name` (a Name's DER), newest first: in that name as OpenSSL compares names
   * (canonical-name.ts), where a CRL written by other software may spell its CA's subject in another
   * case, with other spaces or in another string type. Once per name and policy.
   */
  private crlsNamed(name: Uint8Array): readonly PolicyCrl[] {
    return this.crlsOfCanonicalName(canonicalName(name))
  }

  private crlsOfCanonicalName(key: string): readonly PolicyCrl[] {
    let named = this.crlsOfName.get(key)
    if (!named) this.crlsOfName.set(key, (named = this.all().filter((crl) => crl.canonicalIssuer === key).sort(newestFirst)))
    return named
  }

  private all(): readonly PolicyCrl[] {
    return (this.read ??= this.pems.map((pem) => {
      const fields = readCrlPem(pem)
      return { ...fields, pem, canonicalIssuer: canonicalName(fields.issuer) }
    }))
  }
}

/** The serial numbers each CRL lists, read at its first lookup. */
const revokedSerialsMemo = new WeakMap<PolicyCrl, ReadonlySet<string>>()

function revokedSerialsOf(crl: PolicyCrl): ReadonlySet<string> {
  let serials = revokedSerialsMemo.get(crl)
  if (!serials) revokedSerialsMemo.set(crl, (serials = revokedSerials(crl)))
  return serials
}

/** Whether `crl` lists `certificate`: a CA's CRL can list a hundred thousand, so by a Set, not a scan. */
export function revokes(crl: PolicyCrl, certificate: X509Certificate): boolean {
  return revokedSerialsOf(crl).has(certificateFields(certificate).serialNumber)
}

/**
 * How many keys `crls` name as their signer, by their authorityKeyIdentifier; one that names none counts
 * as one more, as it may be any key's. CRLs without one, of two keys, count as one: they cannot be told
 * apart without their issuers.
 */
function signersOf(crls: readonly PolicyCrl[]): number {
  return new Set(crls.map((crl) => crl.authorityKeyId)).size
}

const newestFirst = (a: PolicyCrl, b: PolicyCrl) => b.thisUpdate.getTime() - a.thisUpdate.getTime()

/**
 * The CRL OpenSSL would use at `now` (get_crl_sk) of one issuer's, newest first: the newest that is
 * current, before any that is not yet valid or expired; else OpenSSL's code.
 */
function currentCrl(crls: readonly PolicyCrl[], now: Date): PolicyCrl | string {
  const [newest] = crls
  if (!newest) return 'UNABLE_TO_GET_CRL'
  const current = crls.find((crl) => crl.thisUpdate <= now && !(crl.nextUpdate && crl.nextUpdate < now))
  return current ?? (newest.thisUpdate > now ? 'CRL_NOT_YET_VALID' : 'CRL_HAS_EXPIRED')
}
