/**
 * Client-initiated renegotiation of an established ingress connection. The policy servers refuse it
 * (SSL_OP_NO_RENEGOTIATION, tls/ingress.ts): OpenSSL answers the client's new ClientHello with a
 * no_renegotiation alert, and an OpenSSL client then ends the connection with handshake_failure. Node
 * reports no event for it, but calls its TLS handle's `onhandshakestart` at every ClientHello of a
 * server connection (to count them against tls.CLIENT_RENEG_LIMIT), the refused ones included; after
 * the first handshake, each call is a renegotiation attempt. OpenSSL starts no handshake for TLS 1.3's
 * post-handshake messages (KeyUpdate), so only TLS 1.2 connections get here.
 *
 * Not socket.disableRenegotiation(), Node's public way to hear of it: the 'error' it emits makes the
 * HTTP server destroy the connection before OpenSSL has sent its alert, and the client would see the
 * connection cut with no reason. On a Node whose handle has no such callback nothing is counted; the
 * refusal is OpenSSL's either way.
 */
import type { TLSSocket } from 'node:tls'

type HandshakeStart = (this: unknown, now: number) => void

/** Calls `onAttempt` at each renegotiation the client of `socket`, a server connection past its handshake, tries. */
export function onRenegotiationAttempt(socket: TLSSocket, onAttempt: () => void): void {
  const handle = (socket as unknown as { _handle?: { onhandshakestart?: HandshakeStart } | null })._handle
  const nodeHandshakeStart = handle?.onhandshakestart
  if (!handle || typeof nodeHandshakeStart !== 'function') return
  handle.onhandshakestart = function (now) {
    onAttempt()
    nodeHandshakeStart.call(this, now)
  }
}
