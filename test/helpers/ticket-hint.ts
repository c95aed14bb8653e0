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

/**
 * Node 24 hands a session out in an envelope of its own around OpenSSL's DER: this marker, the server
 * name's length (16 bits) and the server name. Node 20 hands out the DER alone.
 */
const NODE_SESSION_MARKER = Buffer.from('\0nodejs:tls:session:1\0', 'latin1')

function opensslSession(session: Buffer): Buffer {
  if (!session.subarray(0, NODE_SESSION_MARKER.length).equals(NODE_SESSION_MARKER)) return session
  const nameLength = session.readUInt16BE(NODE_SESSION_MARKER.length)
  return session.subarray(NODE_SESSION_MARKER.length + 2 + nameLength)
}

/** The hint in seconds of the ticket in `handedOut` (as 'session' and getSession() give it); 0 when it has none. */
export function ticketLifetimeHint(handedOut: Buffer): number {
  const session = opensslSession(handedOut)
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
