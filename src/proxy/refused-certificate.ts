/**
 * The answer to a client whose certificate did not verify, or that sent none where no TLS alert could
 * refuse it, on the connection its completed handshake left open (tls/handshake-reports.ts): a 400, as
 * nginx answers it. It goes out once the client has sent the first bytes of its request, not before: a
 * client that finds an answer on a connection before it has sent a request takes it for a stale one
 * (Go's "Unsolicited response received on idle HTTP channel"). It names the reason as the metric's
 * label does (what a TLS alert would tell), never OpenSSL's words.
 */
import type { TLSSocket } from 'node:tls'
import type { FailureReason } from '../tls/reasons.js'
import { CLIENT_HELLO_TIMEOUT_MS } from './sni-dispatch.js'
import { endWithStatus } from './status.js'

/** How long a refused client has to start its request: as long as it had for its ClientHello. */
const REQUEST_WAIT_MS = CLIENT_HELLO_TIMEOUT_MS

export class RefusedCertificates {
  /** The refused connections still waiting for their request. */
  private readonly waiting = new Set<TLSSocket>()
  /** Once a drain has begun, how long a client refused from then on has to start its request. */
  private drainWindowMs: number | undefined

  /**
   * Answers `socket` with the 400 that names `reason` once its client sends, then closes it; closes it
   * unanswered if nothing comes within REQUEST_WAIT_MS, or within a drain's window once one has begun.
   */
  answer(socket: TLSSocket, reason: FailureReason): void {
    socket.on('error', () => socket.destroy())
    this.waiting.add(socket)
    const timer = setTimeout(() => socket.destroy(), this.drainWindowMs ?? REQUEST_WAIT_MS).unref()
    const stopWaiting = () => {
      clearTimeout(timer)
      this.waiting.delete(socket)
    }
    socket.once('close', stopWaiting)
    socket.once('data', () => {
      stopWaiting()
      endWithStatus(socket, 400, refusalText(reason), { lingering: true })
    })
  }

  /**
   * The drain begins: the connections still waiting for their request close `windowMs` from now, as
   * an idle verified one does (RequestServer.drain), rather than hold the drain for REQUEST_WAIT_MS.
   * Those waiting now only: one refused later in the drain has `windowMs` from its refusal (answer).
   */
  drain(windowMs: number): void {
    this.drainWindowMs = windowMs
    const waitingNow = [...this.waiting]
    const closeThem = () => {
      for (const socket of waitingNow) socket.destroy()
    }
    if (waitingNow.length > 0) setTimeout(closeThem, windowMs).unref()
  }
}

/** nginx says "No required SSL certificate was sent" where it had none, "The SSL certificate error" where it did not verify. */
function refusalText(reason: FailureReason): string {
  return reason === 'no_client_cert' ? 'a client certificate is required (no_client_cert)' : `the client certificate was refused (${reason})`
}
