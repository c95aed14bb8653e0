/**
 * The values of the placeholders of `headers.request.set` (config/header-placeholders.ts) for one
 * request, and the client certificate's fields the access log names. Those of the client certificate
 * are read once per connection, as its certificate never changes; without one (a plaintext
 * connection, or a client certificate that is optional and was not sent) they are empty. Certificate
 * fields are the CA's text, checked by nobody for what a header takes: each is made header-safe as
 * XFCC makes it (client-identity.ts).
 */
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { TLSSocket } from 'node:tls'
import type { HeaderTemplate, Placeholder } from '../config/header-placeholders.js'
import { peerLeaf } from '../tls/peer-certificates.js'
import { subjectRfc2253 } from '../tls/subject.js'
import { subjectAltNames } from '../tls/certificate-names.js'
import { fingerprintHex, headerSafe } from './client-identity.js'

type CertificatePlaceholder = Extract<Placeholder, `tls.client.${string}`>

/** What a request's placeholders are filled from. */
export interface PlaceholderSources {
  readonly socket: Socket
  /** The client's address, as X-Real-IP says it. */
  readonly clientAddress: string | undefined
}

const certificateValuesOfSocket = new WeakMap<TLSSocket, Readonly<Record<CertificatePlaceholder, string>> | undefined>()

/** `template` filled for one request. */
export function filledTemplate(template: HeaderTemplate, sources: PlaceholderSources): string {
  let value = ''
  for (const part of template.parts) value += typeof part === 'string' ? part : placeholderValue(part.placeholder, sources)
  return value
}

function placeholderValue(placeholder: Placeholder, { socket, clientAddress }: PlaceholderSources): string {
  if (placeholder === 'client.address') return clientAddress ?? ''
  if (!(socket instanceof TLSSocket)) return ''
  if (placeholder === 'tls.version') return socket.getProtocol() ?? ''
  return clientCertificateFields(socket)?.[placeholder] ?? ''
}

/**
 * The fields of the client certificate of a connection (the access log's too), read once per
 * connection; undefined where it has none.
 */
export function clientCertificateFields(socket: Duplex): Readonly<Record<CertificatePlaceholder, string>> | undefined {
  if (!(socket instanceof TLSSocket)) return undefined
  if (!certificateValuesOfSocket.has(socket)) certificateValuesOfSocket.set(socket, readCertificate(socket))
  return certificateValuesOfSocket.get(socket)
}

function readCertificate(socket: TLSSocket): Readonly<Record<CertificatePlaceholder, string>> | undefined {
  const leaf = peerLeaf(socket)?.certificate()
  if (!leaf) return undefined
  // Node prints the subject one attribute a line, escaped as RFC 2253 asks; the first CN is the one.
  const commonName = (leaf.subject ?? '').split('\n').find((line) => line.startsWith('CN='))?.slice(3) ?? ''
  return {
    'tls.client.subject': headerSafe(subjectRfc2253(leaf)),
    'tls.client.commonName': headerSafe(commonName),
    'tls.client.fingerprint': fingerprintHex(leaf),
    'tls.client.serial': leaf.serialNumber,
    'tls.client.uri': headerSafe(subjectAltNames(leaf, 'URI')[0] ?? ''),
    'tls.client.dns': headerSafe(subjectAltNames(leaf, 'DNS')[0] ?? ''),
  }
}
