/**
 * How a route shares its requests (or passthrough connections) among the urls of its upstream: in
 * turn, as nginx's round robin and Envoy's default do; or by a score of each url (upstream.balance),
 * the highest winning and ties going in turn: the fewest requests in flight (leastRequests, nginx's
 * least_conn, Envoy's LEAST_REQUEST), or a hash of a key of the request and the url (rendezvous
 * hashing, as nginx's ip_hash and hash and Envoy's ring hash keep a client on one url): the client's
 * address (clientIPHash) or a header's value (headerHash); a request without one goes in turn. The turn
 * is nginx's smooth weighted round robin: a url of weight 3 (upstream.weights) takes three turns
 * where one of weight 1 takes one, spread out (a a b a, not a a a b); with equal weights it is plain
 * round robin. A url of weight 0 is drained, as HAProxy's `weight 0` drains a server: no new client
 * goes to it, and one its sticky cookie keeps there still does. A url that could not be reached (its
 * connect or TLS handshake failed) rests for a while, and what failed there goes to the next url that
 * does not rest, as with nginx's defaults (max_fails=1, fail_timeout=10s, proxy_next_upstream error).
 * When every url rests, each request still gets the next in turn, as Envoy does under its panic
 * threshold: an outage that is over is served at once, and one that is not costs each request one
 * attempt. A route with health checks (upstream-health-checks.ts) also leaves out each url whose last
 * check failed, in the same way. A url that is full (upstream.maxRequests) is passed over whether it
 * rests or not, its sticky clients' requests too, as nginx passes over a server at its max_conns; when
 * every url is full there is none to pick, and the request is refused, as Envoy's circuit breakers
 * refuse it.
 *
 * With upstream.slowStart, a url that comes back (its rest is over, or a health check passes after
 * failing ones) has its weight ramp up from a tenth to the whole over that time, as nginx Plus's
 * slow_start, HAProxy's slowstart and Envoy's slow_start_config do, so that an upstream that has just
 * started (a cold cache, a JIT not yet warm) is not handed its full share at once.
 *
 * One per route and snapshot: a reload starts every rest afresh, as nginx's does (what a url's
 * health checks said is carried over by upstream-health-checks.ts).
 */

/** A url's score for a request whose key (its client's address, or a header's value) is `key`, with its weight now: the url of the highest score is chosen. */
export type UrlScore = (url: number, key: string | undefined, weight: number) => number

/** Whether a url takes no more requests now (upstream.maxRequests). */
export type UrlFull = (url: number) => boolean

/** How long a url that could not be reached is left out. */
export const UNREACHABLE_URL_REST_MS = 10_000

/** The share of its weight a url has as its slow start begins: Envoy's default min_weight_percent. */
const SLOW_START_FIRST_SHARE = 0.1

export class Balancer {
  private readonly size: number
  /** Smooth weighted round robin's running weight of each url (nginx's current_weight): the turn. */
  private readonly turn: number[]
  /** When each url that could not be reached may be chosen again (by `now`). */
  private readonly restsUntil: number[]
  /** Whether each url's last health check failed. */
  private readonly failsHealthCheck: boolean[]
  /** When each url came back in turn, its slow start's beginning (by `now`); -Infinity: it never left. */
  private readonly backAt: number[]

  private readonly now: () => number
  private readonly score: UrlScore | undefined
  private readonly slowStart: number | undefined
  private readonly hasRoom: (url: number) => boolean
  /** Whether a url takes new clients in turn (isAwake, not drained, not full), made once rather than for each request. */
  private readonly inTurn = (url: number) => this.weights[url]! > 0 && this.isAwake(url) && this.hasRoom(url)
  /** A url neither drained nor full. */
  private readonly weighted = (url: number) => this.weights[url]! > 0 && this.hasRoom(url)

  /**
   * One url per weight (1 each, for plain turns). Without `score`, in turn; without `full`, no url is
   * ever full; without `slowStart` (milliseconds), a url is back at its whole weight; `now` is the
   * clock rests are measured by (milliseconds).
   */
  constructor(
    private readonly weights: readonly number[],
    { score, full, slowStart, now = () => performance.now() }: { score?: UrlScore; full?: UrlFull; slowStart?: number; now?: () => number } = {},
  ) {
    this.size = weights.length
    this.now = now
    this.score = score
    this.slowStart = slowStart
    this.hasRoom = full ? (url) => !full(url) : () => true
    this.turn = new Array<number>(this.size).fill(0)
    this.restsUntil = new Array<number>(this.size).fill(0)
    this.failsHealthCheck = new Array<boolean>(this.size).fill(false)
    this.backAt = new Array<number>(this.size).fill(-Infinity)
  }

  /**
   * The url (its index) for a new request of `key` (its client's address or a header's value, which a
   * hashing score reads): `sticky` (the url its sticky cookie names) if it neither rests nor is full,
   * drained or not; else of those in turn, the highest scored (without `score`, all), the next in turn
   * of those; when all rest, the next in turn of those neither drained nor full. Undefined when every
   * url is full.
   */
  pick(key?: string, sticky?: number): number | undefined {
    if (this.size === 1) return this.hasRoom(0) ? 0 : undefined
    if (sticky !== undefined && this.isAwake(sticky) && this.hasRoom(sticky)) return sticky
    return this.next(key, this.inTurn) ?? this.next(undefined, this.weighted)
  }

  /**
   * `url` could not be reached by a request that `tried` it (and the urls already in `tried`): it
   * rests, and joins `tried`. The url to try next, chosen as pick() chooses among the urls that neither
   * rest, nor are full, nor were tried; undefined if none.
   */
  nextAfterUnreachable(url: number, tried: Set<number>, key?: string): number | undefined {
    this.unreachable(url)
    tried.add(url)
    return this.next(key, (other) => !tried.has(other) && this.inTurn(other))
  }

  /** Whether the url is chosen in turn now: not resting, and not failing its health check. */
  isAwake(url: number): boolean {
    return this.restsUntil[url]! <= this.now() && !this.failsHealthCheck[url]
  }

  /** The url's latest health check passed (true) or failed. */
  healthChecked(url: number, passed: boolean): void {
    if (passed && this.failsHealthCheck[url]) this.backAt[url] = Math.max(this.backAt[url]!, this.now())
    this.failsHealthCheck[url] = !passed
  }

  /** The url could not be reached: it rests, and comes back at the rest's end. */
  unreachable(url: number): void {
    this.restsUntil[url] = this.now() + UNREACHABLE_URL_REST_MS
    this.backAt[url] = this.restsUntil[url]
  }

  /** The url's weight now: its whole weight, or in its slow start a share that grows from SLOW_START_FIRST_SHARE. */
  weightNow(url: number): number {
    const weight = this.weights[url]!
    if (this.slowStart === undefined) return weight
    const since = this.now() - this.backAt[url]!
    return since >= this.slowStart ? weight : weight * Math.max(SLOW_START_FIRST_SHARE, since / this.slowStart)
  }

  /**
   * Of the `eligible` urls of the highest score (without `score`, every eligible url), the next in
   * turn: each gains its weight now, the one ahead is chosen and gives back what they gained together
   * (nginx's smooth weighted round robin, which takes weights that change, as its effective_weight).
   * Undefined if none is eligible.
   */
  private next(key: string | undefined, eligible: (url: number) => boolean): number | undefined {
    const scores = this.score && Array.from({ length: this.size }, (_, url) => (eligible(url) ? this.score!(url, key, this.weightNow(url)) : -Infinity))
    const best = scores ? Math.max(...scores) : undefined
    let chosen: number | undefined
    let gained = 0
    for (let url = 0; url < this.size; url++) {
      if (!eligible(url) || (scores && scores[url] !== best)) continue
      const weight = this.weightNow(url)
      this.turn[url]! += weight
      gained += weight
      if (chosen === undefined || this.turn[url]! > this.turn[chosen]!) chosen = url
    }
    if (chosen !== undefined) this.turn[chosen]! -= gained
    return chosen
  }
}

/**
 * clientIPHash's and headerHash's score: a hash of the request's key and the url (FNV-1a of each,
 * mixed with murmur3's finalizer), weighted as rendezvous hashing weighs (-weight / ln h, h the hash
 * in (0, 1)), so that a url of weight 3 is the highest for three times the keys of one of weight 1.
 * The url of the highest is the key's while the urls stay; when one leaves (it rests, fails its
 * check, or a reload drops it), only its keys move, each to its next highest. Without a key every url
 * scores the same, and the request goes in turn, as HAProxy's balance hdr() sends it round robin.
 */
export function keyHash(urls: readonly { readonly url: string }[]): UrlScore {
  const urlHashes = urls.map(({ url }) => fnv1a(url))
  return (url, key, weight) => (key === undefined ? 0 : -weight / Math.log((finalMix(fnv1a(key) ^ urlHashes[url]!) + 0.5) / 2 ** 32))
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
