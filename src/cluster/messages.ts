/** What the primary and its workers say to each other over the cluster IPC channel. */
import type { RegistryJson } from '../metrics/render.js'

/**
 * The primary's questions (cluster/questions.ts), each answered once by every worker; a ping is
 * answered as soon as the worker's event loop turns.
 */
export interface WorkerQuestion {
  readonly type: 'portcullis:reload' | 'portcullis:metrics' | 'portcullis:ping'
  readonly id: number
}

export interface WorkerAnswer {
  readonly type: 'portcullis:answer'
  readonly id: number
  readonly value: unknown
}

/** From a worker: it serves; it wants the TLS ticket secret; or an answer. */
export type WorkerMessage = { readonly type: 'portcullis:ready' } | { readonly type: 'portcullis:ticket-secret' } | WorkerAnswer

/** The primary's answer to a worker's 'portcullis:ticket-secret'. */
export interface TicketSecretMessage {
  readonly type: 'portcullis:ticket-secret'
  readonly secret: string
}

/**
 * A worker's answer to 'portcullis:metrics': its registry, and the names of the routes its config
 * serves, by which the primary drops the removed routes' series of the workers that exited.
 */
export interface WorkerMetrics {
  readonly registry: RegistryJson
  readonly routes: readonly string[]
}
