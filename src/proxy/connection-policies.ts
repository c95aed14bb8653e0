/**
 * The TLS policy each connection was verified under, which its requests are held to (a route of
 * another policy gets 421), and the checks a reload makes of its client when a new handshake of its
 * would get another policy (RequestServer.recheckConnections). A connection whose check is under way
 * has its requests wait for the verdict: they are then held to the policy it leaves.
 */
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import type { TlsPolicy } from '../tls/ingress.js'

export class ConnectionPolicies {
  /** A plaintext connection has none. */
  private readonly policyOf = new WeakMap<Duplex, TlsPolicy>()
  private readonly checking = new WeakMap<Duplex, Promise<void>>()

  of(socket: Duplex): TlsPolicy | undefined {
    return this.policyOf.get(socket)
  }

  set(socket: Duplex, policy: TlsPolicy): void {
    this.policyOf.set(socket, policy)
  }

  isChecking(socket: Duplex): boolean {
    return this.checking.has(socket)
  }

  /**
   * Whether the client of `socket` passes `policyNow`, which it is then held to: `passes` says, and
   * `onFailed` is called if it does not. A check that a later reload's overtakes decides nothing.
   */
  check(socket: TLSSocket, policyNow: TlsPolicy, passes: Promise<boolean>, onFailed: () => void): void {
    const verdict: Promise<void> = passes.then(
      (passed) => this.settle(socket, verdict, passed && policyNow, onFailed),
      () => this.settle(socket, verdict, false, onFailed),
    )
    this.checking.set(socket, verdict)
  }

  /** Runs `next` once no check of the connection's client is under way. */
  whenSettled(socket: Duplex, next: () => void): void {
    const pending = this.checking.get(socket)
    if (pending) void pending.then(() => this.whenSettled(socket, next))
    else next()
  }

  private settle(socket: TLSSocket, verdict: Promise<void>, passed: TlsPolicy | false, onFailed: () => void): void {
    if (this.checking.get(socket) !== verdict) return
    this.checking.delete(socket)
    if (passed) this.policyOf.set(socket, passed)
    else onFailed()
  }
}
