/**
 * The values of the placeholders of `headers.request.set` (config/header-placeholders.ts) for one
 * request. Those of the client certificate are read once per connection, as its certificate never
 * changes; without one (a plaintext connection, or a client certificate that is optional and was not
 * sent) they are empty. Certificate fields are the CA's text, checked by nobody for what a header
 * takes: each is made header-safe as XFCC makes it (client-identity.ts).
 */
import type { Socket } from 'node:net'
import { TLSSocket } from 'node:tls'
import type { HeaderTemplate, Placeholder } from '../config/header-placeholders.js'
import { peerLeaf } from '../tls/peer-certificates.js'
import { subjectRfc2253 } from '../tls/subject.js'
import { headerSafe, subjectAltNames } from './client-identity.js'

type CertificatePlaceholder = Extract<Placeholder, `tls.client.${string}`>

/** What a request's placeholders are filled from. */
export interface PlaceholderSources {
  readonly socket: Socket
  /** The client's address, as X-Real-IP says it. */
  readonly clientAddress: string | undefined
}

const certificateValuesOfSocket = new WeakMap<TLSSocket, Readonly<Record<CertificatePlaceholder, string>>>()

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
  return certificateValues(socket)[placeholder]
}

function certificateValues(socket: TLSSocket): Readonly<Record<CertificatePlaceholder, string>> {
  let values = certificateValuesOfSocket.get(socket)
  if (!values) certificateValuesOfSocket.set(socket, (values = readCertificate(socket)))
  return values
}

function readCertificate(socket: TLSSocket): Readonly<Record<CertificatePlaceholder, string>> {
  const leaf = peerLeaf(socket)?.certificate()
  if (!leaf) return { 'tls.client.subject': '', 'tls.client.commonName': '', 'tls.client.fingerprint': '', 'tls.client.serial': '', 'tls.client.uri': '', 'tls.client.dns': '' }
  // Node prints the subject one attribute a line, escaped as RFC 2253 asks; the first CN is the one.
  const commonName = (leaf.subject ?? '').split('\n').find((line) => line.startsWith('CN='))?.slice(3) ?? ''
  return {
    'tls.client.subject': headerSafe(subjectRfc2253(leaf)),
    'tls.client.commonName': headerSafe(commonName),
    'tls.client.fingerprint': leaf.fingerprint256.replaceAll(':', '').toLowerCase(),
    'tls.client.serial': leaf.serialNumber,
    'tls.client.uri': headerSafe(subjectAltNames(leaf, 'URI')[0] ?? ''),
    'tls.client.dns': headerSafe(subjectAltNames(leaf, 'DNS')[0] ?? ''),
  }
}
