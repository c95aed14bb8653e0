/**
 * TLS session ticket keys. Each tls.Server would draw random keys of its own, so with `workers` a
 * session resumed only on the worker that issued its ticket (every other connection, round-robin).
 * Instead one process draws a secret at start (with workers, the primary, which hands it to each
 * worker it forks over the cluster IPC channel), and every TLS policy's keys are derived from it (or,
 * for a policy that needs the client's chain, from a secret of the process's own: TicketSecrets),
 * the policy id and the hour: the same on every worker and across a reload that keeps the policy, and
 * different for policies with other client CAs, CRLs or minVersion, whose sessions must never resume
 * each other's (nginx CVE-2025-23419). The secret is never logged nor put in the environment.
 */
import { hkdfSync, randomBytes } from 'node:crypto'

/** A secret ticket keys are derived from. */
export function newTicketSecret(): Buffer {
  return randomBytes(32)
}

/**
 * The secrets of a gateway process: `shared` by every worker (the primary's), `own` its alone. A
 * policy whose routes forward the client's chain (RFC 9440 Client-Cert-Chain), or ask OCSP about the
 * client's certificate (whose issuer the chain gives), takes `own`: a resumed session carries no
 * chain, and only the worker of the full handshake remembers it (tls/peer-certificates.ts), so those
 * sessions resume on that worker alone.
 */
export interface TicketSecrets {
  readonly shared: Buffer
  readonly own: Buffer
}

/**
 * How long one policy's ticket keys last. Leaked keys decrypt the tickets they made, and with them
 * the sessions' secrets, so they change every hour, as nginx rotates its own. Node keeps one key, so
 * a ticket from the hour before no longer resumes: its client does one full handshake.
 */
export const TICKET_KEY_LIFETIME_MS = 3_600_000

/**
 * The ticket lifetime hint, in seconds, of keys that last `keyLifetimeMs`, which is also how long
 * OpenSSL lets a session resume (the server's sessionTimeout, SSL_CTX_set_timeout). A ticket made as
 * its keys' period starts resumes for all of it, one made later only to its end; the hint is an upper
 * bound (RFC 8446 4.6.1), so it is the whole period. OpenSSL counts whole seconds and takes 0 for its
 * default, 7200 s: the keys would be gone for the second hour of that.
 */
export function ticketLifetimeSeconds(keyLifetimeMs: number): number {
  return Math.max(1, Math.ceil(keyLifetimeMs / 1000))
}

/** The period ticket keys are made for: the same on every worker, which share one clock. */
function ticketKeyEpoch(lifetimeMs: number): number {
  return Math.floor(Date.now() / lifetimeMs)
}

/**
 * The period whose keys new tickets get, moved on as each next one begins: a snapshot built now takes
 * `epoch`, and the policies serving take the next one's keys from `onNewPeriod`.
 */
export class TicketKeyRotation {
  private period: number
  private timer: NodeJS.Timeout | undefined

  constructor(readonly lifetimeMs = TICKET_KEY_LIFETIME_MS) {
    this.period = ticketKeyEpoch(lifetimeMs)
  }

  /** The period now (ticketKeyEpoch). */
  get epoch(): number {
    return this.period
  }

  /** Calls `onNewPeriod` at the start of each period from the next on, until stop(). */
  start(onNewPeriod: (epoch: number) => void): void {
    const nextPeriodIn = (this.period + 1) * this.lifetimeMs - Date.now()
    // Unref'd: it never keeps a stopped gateway's process alive.
    this.timer = setTimeout(() => {
      this.period = ticketKeyEpoch(this.lifetimeMs)
      onNewPeriod(this.period)
      this.start(onNewPeriod)
    }, Math.max(nextPeriodIn, 0)).unref()
  }

  stop(): void {
    clearTimeout(this.timer)
  }
}

/** 48 bytes, as node:tls takes them (key name, HMAC key, AES key): HKDF-SHA256 of the secret. */
export function ticketKeys(secret: Buffer, policyId: string, epoch: number): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, '', `portcullis TLS ticket keys for policy ${policyId}, period ${epoch}`, 48))
}
