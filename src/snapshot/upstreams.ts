/**
 * An upstream pool's life, which can outlast the snapshot that made it: a snapshot that keeps the same
 * upstream identity carries the pool over, and one that drops it retires it, to close once the
 * requests still running on it (retries included) have ended. A stop destroys it, connects in
 * progress included.
 */
import { setMaxListeners } from 'node:events'
import type { SecureContext } from 'node:tls'
import type { Pool } from 'undici'
import { ConnectionAnswers } from '../tls/connection-answers.js'
import { createUpstreamPool, poolServerNameToken, type UpstreamHandshakeEvent, type UpstreamIdentity } from '../tls/upstream.js'

export interface Upstream {
  readonly key: string
  readonly pool: Pool
  /** Which of the pool's connections had answered before their request: who may send it again. */
  readonly answers: ConnectionAnswers
  /**
   * Aborted once the pool is destroyed, it ends the sockets undici's destroy() leaves, connects in
   * progress: each open socket of the pool is made with a signal of its own that this one aborts
   * (socketSignal in tls/upstream.ts).
   */
  readonly abortSockets: AbortController
  /** Sent as every request's servername so undici keeps one pooled name (see tls/upstream.ts). */
  readonly serverNameToken: string
  /**
   * The route that labels this pool's series: its upstream handshakes, and its connections and waiting
   * requests (gateway-metrics.ts). Routes with the same upstream identity share the pool, so it is the
   * first of them in the config now serving (set when a snapshot is built).
   */
  metricsRoute: string
  /** What holds the pool open (holdUpstream): requests running on it, retries to come included, and health checks. */
  holds: number
  /** Of those, the clients' requests (holdUpstreamForRequest): what leastRequests and upstream.maxRequests count. */
  requests: number
  /** Set once no snapshot serves it: it closes when its last request ends, and says so once closed. */
  retired?: { readonly onClosed: () => void }
}

/** An upstream identity a new pool is made for, with the TLS context its connections use (none: plaintext). */
export interface NewIdentity {
  readonly identity: UpstreamIdentity
  readonly context: SecureContext | undefined
}

/**
 * A pool outlives the snapshot that made it: its callback holds the Upstream, never the snapshot's
 * options (and through `previous`, every older snapshot).
 */
export function newUpstream(
  key: string,
  { identity, context }: NewIdentity,
  onHandshake: (route: string, event: UpstreamHandshakeEvent) => void,
): Upstream {
  const answers = new ConnectionAnswers()
  const abortSockets = new AbortController()
  // Every socket of the pool listens to it while open: Node 20 warns of a leak past 10 listeners.
  setMaxListeners(0, abortSockets.signal)
  const upstream: Upstream = {
    key,
    serverNameToken: poolServerNameToken(identity),
    metricsRoute: '',
    holds: 0,
    requests: 0,
    answers,
    abortSockets,
    pool: createUpstreamPool(identity, context, (event) => onHandshake(upstream.metricsRoute, event), answers, abortSockets.signal),
  }
  return upstream
}

/**
 * A request holds its pool open until it ends (the returned release): undici's close() refuses new
 * dispatches at once, and a request that lost its pooled connection after a reload retired the pool
 * must still be able to send itself once more on it.
 */
export function holdUpstream(upstream: Upstream): () => void {
  upstream.holds++
  return () => {
    if (--upstream.holds === 0 && upstream.retired) closeRetired(upstream.pool, upstream.retired.onClosed)
  }
}

/** A client's request holds the pool (holdUpstream), and counts among its requests until the returned release. */
export function holdUpstreamForRequest(upstream: Upstream): () => void {
  const release = holdUpstream(upstream)
  upstream.requests++
  return () => {
    upstream.requests--
    release()
  }
}

/**
 * Marks a pool no snapshot serves any more. It closes at once if no request runs on it, else once the
 * last one ends, and calls `onClosed` when it has closed: a connect its last request left behind (its
 * client gone) and the connection of a request being stopped are still the pool's until then.
 */
export function retireUpstream(upstream: Upstream, onClosed: (upstream: Upstream) => void): void {
  upstream.retired = { onClosed: () => onClosed(upstream) }
  if (upstream.holds === 0) closeRetired(upstream.pool, upstream.retired.onClosed)
}

/** undici's close() waits for the requests it still holds, then closes every connection. */
function closeRetired(pool: Pool, onClosed: () => void): void {
  // It fails only on a pool a stop has destroyed already: closed all the same.
  pool.close().then(onClosed, onClosed)
}

/** At stop: the pool's connections, idle or not, and its connects in progress end at once. */
export async function destroyUpstream({ pool, abortSockets }: Upstream): Promise<void> {
  const destroyed = pool.destroy()
  // After destroy(), which has failed the requests waiting for a connection: undici then drops each
  // connect it ends, its pool being destroyed.
  abortSockets.abort()
  await destroyed
}
