/**
 * How a route shares its requests (or passthrough connections) among the urls of its upstream: in
 * turn, as nginx's round robin and Envoy's default do; or by a score of each url (upstream.balance),
 * the highest winning and ties going in turn: the fewest requests in flight (leastRequests, nginx's
 * least_conn, Envoy's LEAST_REQUEST), or a hash of the client's address and the url (clientIPHash,
 * rendezvous hashing, as nginx's ip_hash and Envoy's ring hash keep a client on one url). A url that
 * could not be reached (its connect or TLS handshake failed) rests for a while, and what failed there
 * goes to the next url that does not rest, as with nginx's defaults (max_fails=1, fail_timeout=10s,
 * proxy_next_upstream error). When every url rests, each request still gets the next in turn, as
 * Envoy does under its panic threshold: an outage that is over is served at once, and one that is
 * not costs each request one attempt. A route with health checks (upstream-health-checks.ts) also
 * leaves out each url whose last check failed, in the same way.
 *
 * One per route and snapshot: a reload starts every rest afresh, as nginx's does (what a url's
 * health checks said is carried over by upstream-health-checks.ts).
 */

/** A url's score for a request from `client`: the url of the highest score is chosen. */
export type UrlScore = (url: number, client: string | undefined) => number

/** How long a url that could not be reached is left out. */
export const UNREACHABLE_URL_REST_MS = 10_000

export class Balancer {
  private turn = 0
  /** When each url that could not be reached may be chosen again (by `now`). */
  private readonly restsUntil: number[]
  /** Whether each url's last health check failed. */
  private readonly failsHealthCheck: boolean[]

  private readonly now: () => number
  private readonly score: UrlScore | undefined

  /** Without `score`, in turn; `now` is the clock rests are measured by (milliseconds). */
  constructor(
    private readonly size: number,
    { score, now = () => performance.now() }: { score?: UrlScore; now?: () => number } = {},
  ) {
    this.now = now
    this.score = score
    this.restsUntil = new Array<number>(size).fill(0)
    this.failsHealthCheck = new Array<boolean>(size).fill(false)
  }

  /**
   * The url (its index) for a new request from `client`: of those that do not rest, the next in turn
   * (with `score`, the highest scored, the first in turn of those); when all rest, the next in turn.
   */
  pick(client?: string): number {
    if (this.size === 1) return 0
    return this.take(this.next(client) ?? this.turn)
  }

  /**
   * `url` could not be reached by a request that `tried` it (and the urls already in `tried`): it
   * rests, and joins `tried`. The url to try next, chosen as pick() chooses among the urls that neither
   * rest nor were tried; undefined if none.
   */
  nextAfterUnreachable(url: number, tried: Set<number>, client?: string): number | undefined {
    this.unreachable(url)
    tried.add(url)
    const next = this.next(client, tried)
    return next === undefined ? undefined : this.take(next)
  }

  /** Whether the url is chosen in turn now: not resting, and not failing its health check. */
  isAwake(url: number): boolean {
    return this.restsUntil[url]! <= this.now() && !this.failsHealthCheck[url]
  }

  /** The url's latest health check passed (true) or failed. */
  healthChecked(url: number, passed: boolean): void {
    this.failsHealthCheck[url] = !passed
  }

  /** The url could not be reached: it rests. */
  unreachable(url: number): void {
    this.restsUntil[url] = this.now() + UNREACHABLE_URL_REST_MS
  }

  /** Of the urls awake and not tried, the first in turn, or with `score` the highest scored; undefined if none. */
  private next(client: string | undefined, tried?: ReadonlySet<number>): number | undefined {
    let chosen: number | undefined
    let best = -Infinity
    for (let step = 0; step < this.size; step++) {
      const url = (this.turn + step) % this.size
      if (tried?.has(url) || !this.isAwake(url)) continue
      if (!this.score) return url
      const score = this.score(url, client)
      if (score > best) {
        chosen = url
        best = score
      }
    }
    return chosen
  }

  private take(url: number): number {
    this.turn = (url + 1) % this.size
    return url
  }
}

/**
 * clientIPHash's score: a hash of the client's address and the url (FNV-1a of each, mixed with
 * murmur3's finalizer). The url of the highest is the client's while the urls stay; when one leaves
 * (it rests, fails its check, or a reload drops it), only its clients move, each to its next highest.
 */
export function clientAddressHash(urls: readonly string[]): UrlScore {
  const urlHashes = urls.map((url) => fnv1a(url))
  return (url, client) => finalMix(fnv1a(client ?? '') ^ urlHashes[url]!)
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return hash >>> 0
}

function finalMix(hash: number): number {
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b)
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35)
  return (hash ^ (hash >>> 16)) >>> 0
}
