/**
 * Active health checks (upstream.healthCheck): each url of a route that has them is asked for the
 * check's path with GET at the start and then every interval, through the url's own keep-alive pool,
 * so with the TLS, client certificate and verification its requests get (a passthrough route's url
 * is connected to, and no more). A url whose checks fail (`fails` in a row) is left out of the
 * route's turn (routing/balancer.ts) until they pass (`passes` in a row), as Caddy's health_uri and
 * Traefik's healthCheck do. Passive rests (a connect that failed) go on beside them: a url that
 * could not be reached rests even where its last check passed.
 *
 * The checks are the serving snapshot's: a reload stops them and starts the new snapshot's, the first
 * at once. What the checks said of a url is kept across the reload while the route (host and path),
 * the url and the check's path, Host, statuses and body stay the same, as Caddy keeps its hosts' health and
 * nginx Plus with `persistent`: with `fails` or `passes` above 1, starting afresh would send requests
 * to a url known to fail for that many intervals, or keep out one known to pass. A url new to the
 * checks is taken as passing until its first check says otherwise. With workers, each worker checks
 * for itself.
 */
import net from 'node:net'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Dispatcher } from 'undici'
import type { HealthCheck, UpstreamUrl } from './config/types.js'
import { errorSummary, type Logger } from './log.js'
import { hostInUrl } from './routing/host.js'
import { routeKey } from './routing/table.js'
import type { Route, Snapshot } from './snapshot/snapshot.js'
import { holdUpstream, type Upstream } from './snapshot/upstreams.js'
import { failureReason } from './tls/reasons.js'

/**
 * Why a check failed: the upstream's answer (its status, and where the status passed, a body that did
 * not match the check's `body`), or what kept it from answering.
 */
export type HealthCheckFailure = { readonly status: number; readonly bodyUnmatched?: true } | { readonly error: Error }

export interface HealthCheckHooks {
  /** Every check, passed (`failure` undefined) or failed. */
  readonly onChecked: (route: Route, url: UpstreamUrl, failure: HealthCheckFailure | undefined) => void
  /** The check that turns the url's state: it leaves the turn, or is back in it. */
  readonly onChanged: (route: Route, url: UpstreamUrl, failure: HealthCheckFailure | undefined) => void
  /** A url that a reload stopped checking (its route, the url or the check gone), by its route's name. */
  readonly onUnchecked: (route: string, url: string) => void
}

/** What the checks of one url have said: carried from one snapshot's checks to the next. */
interface UrlHealth {
  /** Whether the url is in turn: its checks passed, or it has not been checked yet. */
  passing: boolean
  /** Checks in a row whose result is not `passing`'s. */
  against: number
}

/** Sent with each check, so that the upstream's logs tell the checks from requests. */
const USER_AGENT = 'portcullis-health-check'

export class UpstreamHealthChecks {
  /** Aborted when the snapshot whose urls are being checked is no longer served. */
  private checking: AbortController | undefined
  /** By route, url and check path (healthKey): the urls of the snapshot followed, and no other. */
  private health = new Map<string, UrlHealth>()
  /** The route name and url of each check of the snapshot followed (JSON), as its metrics label them. */
  private checked = new Set<string>()

  constructor(private readonly hooks: HealthCheckHooks) {}

  /** From now on, checks the urls of `snapshot`'s routes that have a health check, and no other. */
  follow(snapshot: Snapshot): void {
    this.stop()
    const checking = new AbortController()
    this.checking = checking
    const before = this.health
    const checkedBefore = this.checked
    this.health = new Map()
    this.checked = new Set()
    for (const route of snapshot.routes) {
      const check = route.config.upstream.healthCheck
      if (!check) continue
      for (const [index, url] of route.config.upstream.urls.entries()) {
        const key = healthKey(route, url, check)
        const health = before.get(key) ?? { passing: true, against: 0 }
        this.health.set(key, health)
        this.checked.add(JSON.stringify([route.name, url.url]))
        // Before the snapshot serves a request: install() follows it in the same turn.
        if (!health.passing) route.balancer.healthChecked(index, false)
        void this.checkEvery(route, index, check, health, checking.signal)
      }
    }
    for (const labels of checkedBefore) {
      if (this.checked.has(labels)) continue
      const [route, url] = JSON.parse(labels) as [string, string]
      this.hooks.onUnchecked(route, url)
    }
  }

  /** Stops every check, a check under way too. */
  stop(): void {
    this.checking?.abort()
    this.checking = undefined
  }

  /** Checks the url every interval until `stopped`, keeping what the checks said in `health`. */
  private async checkEvery(route: Route, index: number, check: HealthCheck, health: UrlHealth, stopped: AbortSignal): Promise<void> {
    const url = route.config.upstream.urls[index]!
    const body = check.body === undefined ? undefined : new RegExp(check.body)
    while (!stopped.aborted) {
      // A passthrough route has no pools: its check is a TCP connect.
      const pool = route.upstreams?.[index]
      const failure = await (pool ? httpCheck(pool, url, check, body, stopped) : tcpCheck(url, check.timeout, stopped))
      if (stopped.aborted) return
      this.hooks.onChecked(route, url, failure)
      const passed = failure === undefined
      health.against = passed === health.passing ? 0 : health.against + 1
      // At least: a reload may have lowered `fails` or `passes` below the checks already counted.
      if (health.against >= (health.passing ? check.fails : check.passes)) {
        health.passing = passed
        health.against = 0
        route.balancer.healthChecked(index, passed)
        this.hooks.onChanged(route, url, failure)
      }
      // Unreferenced: the checks never keep a stopping process alive.
      await sleep(check.interval, undefined, { signal: stopped, ref: false }).catch(() => {})
    }
  }
}

/** One check of one url of an HTTP route, whose answer's body must match `body` (check.body compiled), if any: undefined if it passed. */
async function httpCheck(
  upstream: Upstream,
  url: UpstreamUrl,
  check: HealthCheck,
  body: RegExp | undefined,
  stopped: AbortSignal,
): Promise<HealthCheckFailure | undefined> {
  // The pool stays open until the check ends, as for a request (a reload may retire it meanwhile).
  const release = holdUpstream(upstream)
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(checkTimedOut(check.timeout)), check.timeout)
  const stop = () => abort.abort()
  stopped.addEventListener('abort', stop)
  try {
    const answer = await upstream.pool.request({
      // There on every route that has pools (config/types.ts HealthCheck).
      path: check.path!,
      method: 'GET',
      headers: { host: check.host ?? hostOf(url), 'user-agent': USER_AGENT },
      // The pool's own, as every request of it carries (tls/upstream.ts poolServerNameToken).
      servername: upstream.serverNameToken,
      signal: abort.signal,
    } as Dispatcher.RequestOptions)
    const { statusCode: status } = answer
    const passes = check.statuses ? check.statuses.includes(status) : status >= 200 && status < 400
    if (!passes || !body) {
      await answer.body.dump()
      return passes ? undefined : { status }
    }
    return body.test(await bodyStart(answer.body)) ? undefined : { status, bodyUnmatched: true }
  } catch (error) {
    return { error: error as Error }
  } finally {
    clearTimeout(timer)
    stopped.removeEventListener('abort', stop)
    release()
  }
}

/** How much of an answer's body a check's `body` is matched against. */
const CHECKED_BODY_BYTES = 64 * 1024

/**
 * The first CHECKED_BODY_BYTES of a body, as UTF-8 text. A longer body is not read to its end: its
 * connection closes, as Caddy's and HAProxy's checks read no more than their buffer.
 */
async function bodyStart(body: Readable): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    chunks.push(chunk as Buffer)
    size += (chunk as Buffer).length
    if (size >= CHECKED_BODY_BYTES) break
  }
  return Buffer.concat(chunks).subarray(0, CHECKED_BODY_BYTES).toString('utf8')
}

/**
 * One check of one url of a passthrough route: a TCP connect within `timeout`, closed at once (as
 * HAProxy's default check; a TLS upstream may log a connection closed before its handshake).
 */
function tcpCheck({ hostname, port }: UpstreamUrl, timeout: number, stopped: AbortSignal): Promise<HealthCheckFailure | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port, timeout, signal: stopped })
    const done = (failure?: HealthCheckFailure) => {
      socket.destroy()
      resolve(failure)
    }
    socket.once('connect', () => done())
    socket.once('timeout', () => done({ error: checkTimedOut(timeout) }))
    socket.once('error', (error) => done({ error }))
  })
}

/** What a check asks for: its path, or on a passthrough route a TCP connect. */
const checkName = ({ path }: HealthCheck) => path ?? 'tcp connect'

/** The key a url's health is kept under across reloads: a changed route, url, or check path, Host, statuses or body start afresh. */
function healthKey(route: Route, url: UpstreamUrl, check: HealthCheck): string {
  return JSON.stringify([routeKey(route), url.url, checkName(check), check.host, check.statuses, check.body])
}

const checkTimedOut = (timeout: number) => Object.assign(new Error(`the check took longer than its timeout, ${timeout} ms`), { code: 'ETIMEDOUT' })

/** The Host a check asks for: the name the upstream is verified against, else the url's host, with the url's port. */
function hostOf({ hostname, port, serverName }: UpstreamUrl): string {
  return `${serverName || hostInUrl(hostname)}:${port}`
}

/** The log line of a url that leaves the turn (with why) or is back in it. */
export function logHealthCheckChange(logger: Logger, route: Route, url: UpstreamUrl, failure: HealthCheckFailure | undefined): void {
  const fields = { route: route.name, upstream: url.url, check: checkName(route.config.upstream.healthCheck!) }
  if (!failure) return logger.info(fields, 'upstream url passed its health check; it is back in turn')
  const why = 'status' in failure ? { status: failure.status, ...(failure.bodyUnmatched && { body: 'did not match' }) } : { reason: failureReason(failure.error), error: errorSummary(failure.error) }
  logger.warn({ ...fields, ...why }, 'upstream url failed its health check; it is left out until a check passes')
}
