/**
 * A route's rateLimit: how many requests each client address (or client certificate, or value of a
 * header, with `by`: proxy/rate-limit-key.ts) may send, as a token bucket per address (Traefik's
 * rateLimit, Envoy's local rate limit, nginx's limit_req with nodelay): a bucket holds `burst`
 * requests and fills at `requests` per `per`; a request that finds it empty is answered 429.
 *
 * Each bucket is kept as the one time GCRA needs (when it will be full again), so an address costs a
 * Map entry. The table is bounded: past MAX_TRACKED_ADDRESSES the address seen first is forgotten,
 * as nginx's limit_req zone forgets its least recently used state when full, and buckets that have
 * filled again are swept out as new addresses come.
 */

/** The most addresses one route's limiter remembers (about 100 bytes each). */
export const MAX_TRACKED_ADDRESSES = 100_000
/** How often, at most, the buckets that have filled again are swept out, when a new address comes. */
const SWEEP_INTERVAL_MS = 10_000

export class RateLimiter {
  /** How far ahead of now a bucket's full time may be and still take a request: burst - 1 intervals. */
  private readonly tolerance: number
  /** When each address's bucket is full again (GCRA's theoretical arrival time), by `now`. */
  private readonly fullAt = new Map<string, number>()
  private sweptAt: number

  /**
   * `interval`: the milliseconds a request takes from a bucket to fill again (`per` / `requests`);
   * `burst`: how many a full bucket holds; `now`: the clock (milliseconds).
   */
  constructor(
    private readonly interval: number,
    burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tolerance = (burst - 1) * interval
    this.sweptAt = now()
  }

  /** Takes a request of `client` (its address, or its certificate's key): 0 if it may go, else the milliseconds until one may. */
  admit(client: string | undefined): number {
    const key = client ?? ''
    const now = this.now()
    const known = this.fullAt.get(key)
    const fullAt = known === undefined || known < now ? now : known
    const wait = fullAt - now - this.tolerance
    if (wait > 0) return wait
    if (known === undefined) this.makeRoom(now)
    this.fullAt.set(key, fullAt + this.interval)
    return 0
  }

  /** How many addresses it remembers. */
  get size(): number {
    return this.fullAt.size
  }

  /**
   * Before a new address: the buckets full again go (at most once a SWEEP_INTERVAL_MS, so that a flood
   * of new addresses costs no sweep each), then, if still at the bound, the oldest address.
   */
  private makeRoom(now: number): void {
    if (now - this.sweptAt >= SWEEP_INTERVAL_MS) {
      this.sweptAt = now
      for (const [key, fullAt] of this.fullAt) if (fullAt <= now) this.fullAt.delete(key)
    }
    if (this.fullAt.size >= MAX_TRACKED_ADDRESSES) this.fullAt.delete(this.fullAt.keys().next().value!)
  }
}
