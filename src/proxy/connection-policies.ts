/**
 * The TLS policy each connection was verified under, which its requests are held to (a route of
 * another policy gets 421), and the checks a reload makes of its client when a new handshake of its
 * would get another policy (connection-rechecks.ts). A connection whose check is under way has its
 * requests wait for the verdict: they are then held to the policy it leaves.
 */
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import type { TlsPolicy } from '../tls/ingress.js'

/** A check under way: `done` resolves once its verdict is in, or once it decides nothing any more. */
interface Check {
  readonly done: Promise<void>
  readonly end: () => void
}

export class ConnectionPolicies {
  /** A plaintext connection has none. */
  private readonly policyOf = new WeakMap<Duplex, TlsPolicy>()
  private readonly checking = new WeakMap<Duplex, Check>()

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
   * `onFailed` is called if it does not. It replaces a check under way, which then decides nothing.
   */
  check(socket: TLSSocket, policyNow: TlsPolicy, passes: Promise<boolean>, onFailed: () => void): void {
    this.cancelCheck(socket)
    let end!: () => void
    const check: Check = { done: new Promise((resolve) => (end = resolve)), end }
    this.checking.set(socket, check)
    void passes
      .catch(() => false)
      .then((passed) => {
        if (this.checking.get(socket) !== check) return
        this.checking.delete(socket)
        if (passed) this.policyOf.set(socket, policyNow)
        else onFailed()
        end()
      })
  }

  /**
   * The check under way, if any, decides nothing: a later reload put the connection's host back under
   * the policy it has. Its requests waiting for the verdict go on at once.
   */
  cancelCheck(socket: Duplex): void {
    const check = this.checking.get(socket)
    if (!check) return
    this.checking.delete(socket)
    check.end()
  }

  /** Runs `next` once no check of the connection's client is under way. */
  whenSettled(socket: Duplex, next: () => void): void {
    const pending = this.checking.get(socket)
    if (pending) void pending.done.then(() => this.whenSettled(socket, next))
    else next()
  }
}
