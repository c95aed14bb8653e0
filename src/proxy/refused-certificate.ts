/**
 * The answer to a client whose certificate did not verify, on the connection its completed handshake
 * left open (tls/handshake-reports.ts): a 400, as nginx answers it ("The SSL certificate error"), where
 * Node would close the connection unanswered. It goes out once the client has sent the first bytes of
 * its request, not before: a client that finds an answer on a connection before it has sent a request
 * takes it for a stale one (Go's "Unsolicited response received on idle HTTP channel"). It names the
 * reason as the metric's label does (what a TLS alert would tell), never OpenSSL's words.
 */
import type { TLSSocket } from 'node:tls'
import type { FailureReason } from '../tls/reasons.js'
import { endWithStatus } from './status.js'

/** How long a refused client has to start its request: as long as it had for its ClientHello (sni-dispatch.ts). */
const REQUEST_WAIT_MS = 10_000

export function answerRefusedCertificate(socket: TLSSocket, reason: FailureReason): void {
  socket.on('error', () => socket.destroy())
  const timer = setTimeout(() => socket.destroy(), REQUEST_WAIT_MS).unref()
  socket.once('close', () => clearTimeout(timer))
  socket.once('data', () => {
    clearTimeout(timer)
    endWithStatus(socket, 400, `the client certificate was refused (${reason})`, { lingering: true })
  })
}
