/**
 * The session ticket lifetime hint a client receives (RFC 5077 3.3 in TLS 1.2, ticket_lifetime in TLS
 * 1.3's NewSessionTicket, RFC 8446 4.6.1): what `openssl sess_id -text` shows as "TLS session ticket
 * lifetime hint", read from the session Node's client hands out.
 */
import { once } from 'node:events'
import tls from 'node:tls'
import { element, INTEGER, SEQUENCE } from '../../src/tls/der.js'

/** OpenSSL's SSL_SESSION_ASN1 (ssl/ssl_asn1.c) holds the hint as an INTEGER under the explicit tag [9]. */
const LIFETIME_HINT_TAG = 0xa9

/** The hint in seconds of the ticket in `session` (DER, as 'session' and getSession() give it); 0 when it has none. */
export function ticketLifetimeHint(session: Buffer): number {
  const outer = element(session, 0, session.length, SEQUENCE)
  for (let at = outer.start; at < outer.end; ) {
    const field = element(session, at, outer.end)
    if (field.tag === LIFETIME_HINT_TAG) {
      const value = element(session, field.start, field.end, INTEGER)
      return session.subarray(value.start, value.end).reduce((sum, byte) => sum * 256 + byte, 0)
    }
    at = field.end
  }
  return 0
}

/** The lifetime hint of the first ticket the server at `options` sends. */
export async function firstTicketHint(options: tls.ConnectionOptions): Promise<number> {
  const socket = tls.connect(options)
  try {
    // TLS 1.3 tickets come after the handshake, TLS 1.2 ones within it: 'session' covers both. once()
    // rejects on the socket's 'error'.
    const [session] = (await once(socket, 'session')) as [Buffer]
    return ticketLifetimeHint(session)
  } finally {
    socket.destroy()
  }
}
