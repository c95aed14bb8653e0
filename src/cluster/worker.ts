/**
 * A cluster worker's side of `workers: N` (cluster/primary.ts): it takes what it shares with the other
 * workers from the primary before it builds its first snapshot, says when it serves, and answers the
 * primary's reloads and scrapes.
 */
import { coalesce } from '../coalesce.js'
import type { Config } from '../config/types.js'
import type { Gateway } from '../gateway.js'
import type { WorkerMessage, WorkerMetrics, WorkerQuestion, WorkerSetupMessage } from './messages.js'

/** What every worker shares (WorkerSetupMessage). */
export interface WorkerSetup {
  /** What the TLS session ticket keys derive from (tls/ticket-keys.ts). */
  readonly ticketSecret: Buffer
  /** The listener addresses to start on. */
  readonly listen: Config['listen']
  /** How many workers the primary runs. */
  readonly workers: number
}

/**
 * Before the first snapshot: what the primary gives every worker. Asked for rather than sent at the
 * fork: a message that comes before the worker listens is lost. From here on the worker answers the
 * primary's pings, which kill a worker stuck as it starts as well as one stuck as it serves.
 */
export function setupFromPrimary(): Promise<WorkerSetup> {
  answerPings()
  return new Promise((resolve) => {
    const listener = (message: WorkerSetupMessage) => {
      if (message.type !== 'portcullis:setup') return
      process.off('message', listener)
      resolve({ ticketSecret: Buffer.from(message.ticketSecret, 'base64'), listen: message.listen, workers: message.workers })
    }
    process.on('message', listener)
    process.send!({ type: 'portcullis:setup' } satisfies WorkerMessage)
  })
}

/** A ping is answered as soon as the event loop turns: that it turns is the answer. */
function answerPings(): void {
  process.on('message', (message: WorkerQuestion) => {
    if (message.type === 'portcullis:ping') tellPrimary({ type: 'portcullis:answer', id: message.id, value: true })
  })
}

/** Tells the primary when serving, and answers its reloads and scrapes. */
export function serveAsWorker(gateway: Gateway): void {
  // The primary asks at most once per render interval, but a worker whose event loop was busy finds
  // every question of that time queued at once: they share one render, as the primary's scrapes do.
  const metrics = coalesce(
    async (): Promise<WorkerMetrics> => ({ registry: await gateway.metrics.registry.getMetricsAsJSON(), routes: [...gateway.routeNames()] }),
    { minIntervalMs: 0 },
  )
  // Pings are answered from the setup on (answerPings).
  const answers: Partial<Record<WorkerQuestion['type'], (question: WorkerQuestion) => Promise<unknown>>> = {
    'portcullis:reload': ({ trigger }) => gateway.reload({ ...(trigger && { trigger }) }),
    'portcullis:metrics': () => metrics(),
  }
  process.on('message', (message: WorkerQuestion) => {
    const answer = Object.hasOwn(answers, message.type) ? answers[message.type] : undefined
    // A question that fails here (a metric's collect threw) is answered by the primary's deadline for it.
    void answer?.(message)
      .then((value) => tellPrimary({ type: 'portcullis:answer', id: message.id, value }))
      .catch(() => undefined)
  })
  tellPrimary({ type: 'portcullis:ready' })
}

/**
 * Tells the primary that the config on disk loads again: replacements it holds back after a bad edit
 * start at once (worker-pool.ts). Gateway's onReloaded, so that a reload the worker's own file watching
 * made, which the primary did not ask for, counts too.
 */
export function tellPrimaryReloaded(): void {
  tellPrimary({ type: 'portcullis:reloaded' })
}

/**
 * Over an open channel only: a send on a closed one (the primary is gone, and this worker exits after
 * it) emits an error on process, which nothing handles.
 */
function tellPrimary(message: WorkerMessage): void {
  if (process.connected) process.send?.(message)
}
