/**
 * @peculiar/x509, for what node:crypto cannot read and crl-der.ts does not: a CRL's issuer as a name
 * is printed, and a CRL signed with an algorithm crl-der.ts does not check. It is loaded at the first
 * CRL read, so a gateway without CRLs never loads it.
 */
import type { X509Certificate } from 'node:crypto'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** The library once required: require() resolves the name again at each call, about 20 µs. */
let peculiar: typeof import('@peculiar/x509') | undefined

/** The library, required at its first use (the Reflect polyfill first, see tls/certificate-generator.ts). */
export function peculiarX509(): typeof import('@peculiar/x509') {
  if (!peculiar) {
    require('reflect-metadata')
    peculiar = require('@peculiar/x509') as typeof import('@peculiar/x509')
  }
  return peculiar
}

const peculiarCertificates = new WeakMap<X509Certificate, import('@peculiar/x509').X509Certificate>()

/**
 * The certificate as @peculiar/x509 reads it, parsed once per X509Certificate: about 1 ms, with its
 * extensions. Only to verify a CRL signed with an algorithm crl-der.ts does not check.
 */
export function peculiarCertificate(certificate: X509Certificate): import('@peculiar/x509').X509Certificate {
  let parsed = peculiarCertificates.get(certificate)
  if (!parsed) peculiarCertificates.set(certificate, (parsed = new (peculiarX509().X509Certificate)(certificate.raw)))
  return parsed
}

/**
 * A PEM CRL parsed whole. asn1js, under @peculiar/x509, refuses more than 10,000 BER nodes (about 2,450
 * entries) or 16 MiB by default; OpenSSL reads such a CRL, so it is read whole here too: the PEM's
 * length bounds both its nodes and its content.
 */
export function parseCrl(pem: string): import('@peculiar/x509').X509Crl {
  return new (peculiarX509().X509Crl)(pem, { berOptions: { maxNodes: pem.length, maxContentLength: pem.length } })
}

/** A Name (its DER), such as a CRL's issuer, as @peculiar/x509 prints a name, as it prints a certificate's subject. */
export function printedName(name: Uint8Array): string {
  return new (peculiarX509().Name)(new Uint8Array(name)).toString()
}
