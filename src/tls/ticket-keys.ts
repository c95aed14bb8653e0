/**
 * TLS session ticket keys. Each tls.Server would draw random keys of its own, so with `workers` a
 * session resumed only on the worker that issued its ticket (every other connection, round-robin).
 * Instead one process draws a secret at start (with workers, the primary, which hands it to each
 * worker it forks over the cluster IPC channel), and every TLS policy's keys are derived from it and
 * the policy id: the same on every worker and across a reload that keeps the policy, and different
 * for policies with other client CAs, CRLs or minVersion, whose sessions must never resume each
 * other's (nginx CVE-2025-23419). The secret is never logged nor put in the environment.
 */
import { hkdfSync, randomBytes } from 'node:crypto'

/** The secret every policy's ticket keys are derived from. */
export function newTicketSecret(): Buffer {
  return randomBytes(32)
}

/** 48 bytes, as node:tls takes them (key name, HMAC key, AES key): HKDF-SHA256 of the secret. */
export function ticketKeys(secret: Buffer, policyId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, '', `portcullis TLS ticket keys for policy ${policyId}`, 48))
}
