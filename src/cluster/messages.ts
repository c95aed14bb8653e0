/** What the primary and its workers say to each other over the cluster IPC channel. */
import type { Config } from '../config/types.js'
import type { RegistryJson } from '../metrics/render.js'
import type { ReloadTrigger } from '../reload/reloader.js'

/**
 * The primary's questions (cluster/questions.ts), each answered once by every worker; a ping is
 * answered as soon as the worker's event loop turns.
 */
export interface WorkerQuestion {
  readonly type: 'portcullis:reload' | 'portcullis:metrics' | 'portcullis:ping'
  readonly id: number
  /** Of a reload: what asked the primary for it (SIGHUP, POST /reload), for the worker's log line. */
  readonly trigger?: ReloadTrigger
}

export interface WorkerAnswer {
  readonly type: 'portcullis:answer'
  readonly id: number
  readonly value: unknown
}

/**
 * From a worker: it serves; a reload of its (whatever asked for it, its own file watching included)
 * applied the config on disk; it wants what it shares with the other workers (WorkerSetupMessage); or
 * an answer.
 */
export type WorkerMessage =
  | { readonly type: 'portcullis:ready' }
  | { readonly type: 'portcullis:reloaded' }
  | { readonly type: 'portcullis:setup' }
  | WorkerAnswer

/**
 * The primary's answer to a worker's 'portcullis:setup'. The TLS ticket secret (base64), so that a
 * session resumes on every worker; and the listener addresses the primary started with, which no
 * reload changes: a worker started on others (a replacement, after an edit of listen that the
 * workers refused) would serve beside them on other listeners, with other routes.
 */
export interface WorkerSetupMessage {
  readonly type: 'portcullis:setup'
  readonly ticketSecret: string
  readonly listen: Config['listen']
  /** How many workers the primary runs. */
  readonly workers: number
}

/**
 * A worker's answer to 'portcullis:metrics': its registry, and the names of the routes its config
 * serves, by which the primary drops the removed routes' series of the workers that exited.
 */
export interface WorkerMetrics {
  readonly registry: RegistryJson
  readonly routes: readonly string[]
}
