/**
 * How a route shares its requests (or passthrough connections) among the urls of its upstream: in
 * turn, as nginx's round robin and Envoy's default do. A url that could not be reached (its connect or
 * TLS handshake failed) rests for a while, and what failed there goes to the next url, as with nginx's
 * defaults (max_fails=1, fail_timeout=10s, proxy_next_upstream error). When every url rests, they are
 * tried in turn all the same, as Envoy does under its panic threshold: refusing every request would
 * only lengthen an outage that may be over.
 *
 * One per route and snapshot: a reload starts every url afresh, as nginx's does.
 */

/** How long a url that could not be reached is left out. */
export const UNREACHABLE_URL_REST_MS = 10_000

export class Balancer {
  private turn = 0
  /** When each url that could not be reached may be chosen again (performance.now()). */
  private readonly restsUntil: number[]

  /** `now` is the clock rests are measured by (milliseconds). */
  constructor(
    private readonly size: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.restsUntil = new Array<number>(size).fill(0)
  }

  /**
   * The url (its index) to send to: the next in turn that is neither in `tried` nor resting, else the
   * next in turn not in `tried`; undefined once every url has been tried.
   */
  pick(tried?: ReadonlySet<number>): number | undefined {
    if (this.size === 1) return tried?.has(0) ? undefined : 0
    const now = this.now()
    let resting: number | undefined
    for (let step = 0; step < this.size; step++) {
      const url = (this.turn + step) % this.size
      if (tried?.has(url)) continue
      if (this.restsUntil[url]! <= now) return this.take(url)
      resting ??= url
    }
    return resting === undefined ? undefined : this.take(resting)
  }

  /** The url could not be reached: it rests. */
  unreachable(url: number): void {
    this.restsUntil[url] = this.now() + UNREACHABLE_URL_REST_MS
  }

  private take(url: number): number {
    this.turn = (url + 1) % this.size
    return url
  }
}
