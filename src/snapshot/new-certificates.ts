/**
 * The certificates a reload brings that the config serving before it had not: a rotation, which the
 * log names with what tells one certificate from another (serial number, notAfter), as Caddy logs each
 * certificate it loads. Each once, by fingerprint, with the first key that names it.
 */
import type { LoadedCertificate } from './route-files.js'

export function newCertificates(before: readonly LoadedCertificate[], after: readonly LoadedCertificate[]): LoadedCertificate[] {
  const known = new Set(before.map(({ certificate }) => certificate.fingerprint256))
  return after.filter(({ certificate: { fingerprint256 } }) => {
    if (known.has(fingerprint256)) return false
    known.add(fingerprint256)
    return true
  })
}
