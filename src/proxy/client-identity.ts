/**
 * The verified client certificate, passed to the upstream as Envoy's X-Forwarded-Client-Cert and/or
 * RFC 9440 Client-Cert/Client-Cert-Chain. Certificate fields are attacker-chosen text (a CN may hold
 * commas, quotes or CR LF), so every value is escaped before it enters a header (Node CVE-2021-44533).
 */
import type { X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import type { ForwardClientCert } from '../config/schema.js'
import type { TlsPolicy } from '../tls/ingress.js'
import { peerLeaf, RecentByCertificate } from '../tls/peer-certificates.js'
import { subjectAltNames } from '../tls/certificate-names.js'
import { subjectRfc2253 } from '../tls/subject.js'

/**
 * The identity headers of each connection, built once per format (a connection's client certificate
 * never changes), and the XFCC headers of the last 1,000 client certificates: reading a certificate
 * again costs, on Node 20, more than the rest of a proxied request.
 */
export class ClientIdentities {
  private readonly ofSocket = new WeakMap<TLSSocket, Partial<Record<ForwardClientCert, Record<string, string>>>>()
  private readonly xfccOfCertificate = new RecentByCertificate<Record<string, string>>(1000)

  /**
   * The identity headers of a connection verified under `policy`, in `mode`: the leaf alone for XFCC,
   * the chain for RFC 9440, which costs more to read (tls/peer-certificates.ts).
   */
  of(socket: TLSSocket, policy: TlsPolicy, mode: ForwardClientCert): Record<string, string> {
    let byMode = this.ofSocket.get(socket)
    if (!byMode) this.ofSocket.set(socket, (byMode = {}))
    return (byMode[mode] ??= mode === 'xfcc' ? this.xfcc(socket) : clientIdentityHeaders(mode, policy.clientChain(socket)))
  }

  private xfcc(socket: TLSSocket): Record<string, string> {
    const leaf = peerLeaf(socket)
    if (!leaf) return {}
    let headers = this.xfccOfCertificate.get(leaf.fingerprint256)
    if (!headers) this.xfccOfCertificate.remember(leaf.fingerprint256, (headers = clientIdentityHeaders('xfcc', [leaf.certificate()])))
    return headers
  }
}

/**
 * Certificate text as a header carries it: control characters left out, and ASCII only (undici refuses
 * other characters, and Latin-1 ones would go out as other bytes), each UTF-8 byte of a non-ASCII
 * character written \XX, as OpenSSL's RFC 2253 printing (and so Envoy's XFCC) writes it.
 */
export function headerSafe(value: string): string {
  return value.replace(/[\x00-\x1f\x7f]/g, '').replace(/[^\x00-\x7f]+/g, hexEscapedUtf8)
}

/** A value in XFCC: header-safe, and quoted when it holds a separator, with `"` and `\` escaped (Envoy's rules). */
function xfccValue(value: string): string {
  const safe = headerSafe(value)
  return /[,;="\\ ]/.test(safe) ? `"${safe.replace(/["\\]/g, (c) => `\\${c}`)}"` : safe
}

function hexEscapedUtf8(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((byte) => `\\${byte.toString(16).toUpperCase()}`).join('')
}

/** The certificate's SHA-256 fingerprint as XFCC's Hash writes it: lower-case hex, without colons. */
export function fingerprintHex(cert: X509Certificate): string {
  return cert.fingerprint256.replaceAll(':', '').toLowerCase()
}

function xfccHeader(chain: readonly X509Certificate[]): string {
  const leaf = chain[0]!
  const parts = [`Hash=${fingerprintHex(leaf)}`, `Subject=${xfccValue(subjectRfc2253(leaf))}`]
  for (const uri of subjectAltNames(leaf, 'URI')) parts.push(`URI=${xfccValue(uri)}`)
  for (const dns of subjectAltNames(leaf, 'DNS')) parts.push(`DNS=${xfccValue(dns)}`)
  return parts.join(';')
}

/** RFC 9440 §2: an sf-binary of the DER certificate. */
function byteSequence(cert: X509Certificate): string {
  return `:${cert.raw.toString('base64')}:`
}

/** The headers to add for a verified client certificate chain (leaf first, trust anchor excluded). */
function clientIdentityHeaders(
  mode: ForwardClientCert,
  chain: readonly X509Certificate[],
): Record<string, string> {
  if (mode === 'none' || chain.length === 0) return {}
  const headers: Record<string, string> = {}
  if (mode === 'xfcc' || mode === 'both') headers['x-forwarded-client-cert'] = xfccHeader(chain)
  if (mode === 'rfc9440' || mode === 'both') {
    headers['client-cert'] = byteSequence(chain[0]!)
    const intermediates = chain.slice(1).filter((cert) => !cert.ca || cert.issuer !== cert.subject)
    if (intermediates.length > 0) headers['client-cert-chain'] = intermediates.map(byteSequence).join(', ')
  }
  return headers
}
