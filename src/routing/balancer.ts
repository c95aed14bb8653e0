/**
 * How a route shares its requests (or passthrough connections) among the urls of its upstream: in
 * turn, as nginx's round robin and Envoy's default do, or, given each url's load (upstream.balance:
 * leastRequests), to the url with the fewest requests in flight, ties in turn, as nginx's least_conn
 * and Envoy's LEAST_REQUEST do. A url that could not be reached (its connect or
 * TLS handshake failed) rests for a while, and what failed there goes to the next url that does not
 * rest, as with nginx's defaults (max_fails=1, fail_timeout=10s, proxy_next_upstream error). When
 * every url rests, each request still gets the next in turn, as Envoy does under its panic threshold:
 * an outage that is over is served at once, and one that is not costs each request one attempt.
 * A route with health checks (upstream-health-checks.ts) also leaves out each url whose last check
 * failed, in the same way.
 *
 * One per route and snapshot: a reload starts every url afresh, as nginx's does.
 */

/** How long a url that could not be reached is left out. */
export const UNREACHABLE_URL_REST_MS = 10_000

export class Balancer {
  private turn = 0
  /** When each url that could not be reached may be chosen again (by `now`). */
  private readonly restsUntil: number[]
  /** Whether each url's last health check failed. */
  private readonly failsHealthCheck: boolean[]

  private readonly now: () => number
  private readonly load: ((url: number) => number) | undefined

  /**
   * `load` is each url's requests in flight, for leastRequests; `now` the clock rests are measured by
   * (milliseconds).
   */
  constructor(
    private readonly size: number,
    { load, now = () => performance.now() }: { load?: (url: number) => number; now?: () => number } = {},
  ) {
    this.now = now
    this.load = load
    this.restsUntil = new Array<number>(size).fill(0)
    this.failsHealthCheck = new Array<boolean>(size).fill(false)
  }

  /**
   * The url (its index) for a new request: of those that do not rest, the next in turn (with `load`,
   * the least loaded, the first in turn of those); when all rest, the next in turn.
   */
  pick(): number {
    if (this.size === 1) return 0
    return this.take(this.next() ?? this.turn)
  }

  /**
   * `url` could not be reached by a request that `tried` it (and the urls already in `tried`): it
   * rests, and joins `tried`. The url to try next, chosen as pick() chooses among the urls that neither
   * rest nor were tried; undefined if none.
   */
  nextAfterUnreachable(url: number, tried: Set<number>): number | undefined {
    this.unreachable(url)
    tried.add(url)
    const next = this.next(tried)
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

  /** Of the urls awake and not tried, the first in turn, or with `load` the least loaded; undefined if none. */
  private next(tried?: ReadonlySet<number>): number | undefined {
    let chosen: number | undefined
    let least = Infinity
    for (let step = 0; step < this.size; step++) {
      const url = (this.turn + step) % this.size
      if (tried?.has(url) || !this.isAwake(url)) continue
      if (!this.load) return url
      const load = this.load(url)
      if (load < least) {
        chosen = url
        least = load
      }
    }
    return chosen
  }

  private take(url: number): number {
    this.turn = (url + 1) % this.size
    return url
  }
}
