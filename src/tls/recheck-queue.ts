/**
 * The order and pace of a reload's client re-checks (connection-rechecks.ts): one per turn of the event
 * loop, so that thousands of them never starve the traffic the gateway serves meanwhile.
 */
import type { X509Certificate } from 'node:crypto'
import { setImmediate } from 'node:timers/promises'
import type { TLSSocket } from 'node:tls'
import type { TlsPolicy } from './ingress.js'
import { PASS, RECHECK_FAILED, refused, type RecheckVerdict } from './recheck.js'

/**
 * The re-checks of one gateway, one a turn of the event loop, in the order asked: each verifies a
 * signature or more, and a reload that finds thousands of WebSockets open asks for them all at once.
 */
export class RecheckQueue {
  /** The last re-check asked for; it never rejects. */
  private last: Promise<unknown> = Promise.resolve()

  /**
   * Whether a client verified under `verifiedUnder` passes `policyNow`, the policy its route has now:
   * at once if its TLS version is older than that one takes, or if that one asks for no client
   * certificate; a client without one passes a policy where it is optional. A check that throws (a
   * CRL OpenSSL reads and crl-der.ts does not) fails closed.
   */
  recheckClient(socket: TLSSocket, verifiedUnder: TlsPolicy, policyNow: TlsPolicy): Promise<RecheckVerdict> {
    // What the handshake would fail with. TLS 1.2 is every policy's floor.
    if (policyNow.minVersion === 'TLSv1.3' && socket.getProtocol() !== 'TLSv1.3') return Promise.resolve(refused('ERR_SSL_UNSUPPORTED_PROTOCOL'))
    const trust = policyNow.clientTrust
    if (!trust) return Promise.resolve(PASS)
    // Each check waits for the one before it, then for an immediate of its own, which runs at the next
    // turn: immediates asked for in one go would all run in the same turn, with no I/O between them.
    const checked = this.last.then(async (): Promise<RecheckVerdict> => {
      await setImmediate()
      let chain: X509Certificate[] = []
      let verdict: RecheckVerdict
      try {
        chain = verifiedUnder.clientChain(socket)
        // A client without a certificate passes a policy where one is optional, as its handshake would.
        verdict =
          chain.length === 0 && !policyNow.requiresClientCert
            ? PASS
            : await trust.check(chain, { resumed: socket.isSessionReused(), verifiedUnder: verifiedUnder.clientTrust })
      } catch (error) {
        verdict = refused(RECHECK_FAILED, error as Error)
      }
      const [leaf] = chain
      return verdict.pass || !leaf ? verdict : { ...verdict, certificate: leaf }
    })
    this.last = checked
    return checked
  }
}
