/**
 * A TLS 1.3 client that completes a handshake and then sends one encrypted alert record of its own
 * choosing, which no TLS library will send: an alert with a code that no RFC assigns (Envoy's
 * SslIntegrationTest.UnknownSslAlert sends 255).
 */
import { createCipheriv, createHmac } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import tls from 'node:tls'

/** HKDF-Expand-Label (RFC 8446 7.1) with SHA-256, for outputs of one hash block at most. */
function expandLabel(secret: Buffer, label: string, length: number): Buffer {
  const fullLabel = Buffer.from(`tls13 ${label}`)
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, fullLabel.length]), fullLabel, Buffer.from([0, 1])])
  return createHmac('sha256', secret).update(info).digest().subarray(0, length)
}

/**
 * Connects, handshakes with TLS_AES_128_GCM_SHA256, sends `request` if given (one record, sequence
 * number 0), and writes a fatal alert with `description` as the next application-traffic record.
 * Returns the TCP socket under the TLS one: what the server does next shows on it.
 */
export async function sendTlsAlert(port: number, servername: string, description: number, request?: string): Promise<net.Socket> {
  const raw = net.connect(port, '127.0.0.1')
  await once(raw, 'connect')
  const secured = tls.connect({ socket: raw, servername, rejectUnauthorized: false, minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256' })
  let secret: Buffer | undefined
  secured.on('keylog', (line: Buffer) => {
    const [name, , hex] = line.toString().trim().split(' ')
    if (name === 'CLIENT_TRAFFIC_SECRET_0') secret = Buffer.from(hex!, 'hex')
  })
  secured.on('error', () => undefined)
  await once(secured, 'secureConnect')
  // The client's Finished must be on the wire first: the TLS socket writes it after 'secureConnect'.
  await new Promise((resolve) => setTimeout(resolve, 50))
  if (request !== undefined) await new Promise((resolve) => secured.write(request, resolve))
  const iv = expandLabel(secret!, 'iv', 12)
  if (request !== undefined) iv[11]! ^= 1 // the nonce of sequence number 1 (RFC 8446 5.3)
  const plaintext = Buffer.from([2, description, 0x15]) // level fatal, the code, content type alert
  const header = Buffer.from([0x17, 0x03, 0x03, 0, plaintext.length + 16]) // application_data, TLS 1.2, length
  const cipher = createCipheriv('aes-128-gcm', expandLabel(secret!, 'key', 16), iv).setAAD(header)
  raw.write(Buffer.concat([header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]))
  return raw
}
