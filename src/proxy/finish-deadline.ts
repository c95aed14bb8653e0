/**
 * nginx's send_timeout, for the end of a response: once its last bytes are handed to the socket, the
 * client has this long to take them, or the connection closes. Without it a response that never
 * finishes (a client that stopped reading; a TLS connection OpenSSL stopped after a fatal alert of an
 * unknown code, on which no write ever completes, and Node reports no error) would hold its slot of
 * limits.requests, its upstream pool and its connection for good. The default upstream response
 * timeout bounds each body chunk the same way (upstream-request.ts). A sweep of the open connections
 * once a second finds such responses, rather than a timer per response, which slowed bench scenario
 * a by about 4 % (one 3-repeat run).
 */
import http from 'node:http'
import type { Duplex } from 'node:stream'
import { responseWriting } from './response-writing.js'

export const FINISH_DEADLINE_MS = 30_000
const FINISH_SWEEP_MS = 1_000

/** The request server's open connections, with each one's latest response ('upgraded': it left HTTP). */
type Connections = ReadonlyMap<Duplex, { readonly lastResponse?: http.ServerResponse | 'upgraded' }>

/** Closes the connections whose response has been written to its end but not taken for `deadlineMs`. */
export class FinishDeadline {
  /** Responses a sweep found written to the end but not taken, and when it first found them so. */
  private readonly unfinishedSince = new WeakMap<http.ServerResponse, number>()
  private readonly sweep: NodeJS.Timeout

  constructor(
    private readonly connections: Connections,
    private readonly deadlineMs = FINISH_DEADLINE_MS,
  ) {
    this.sweep = setInterval(() => this.closeUntaken(), Math.min(FINISH_SWEEP_MS, deadlineMs)).unref()
  }

  stop(): void {
    clearInterval(this.sweep)
  }

  /**
   * The response looked at is the one going out on the connection, not its latest: a pipelined
   * request's response waits behind the stuck one, and would never end.
   */
  private closeUntaken(): void {
    const now = performance.now()
    for (const [socket, { lastResponse }] of this.connections) {
      const res = responseWriting(socket) ?? lastResponse
      if (!(res instanceof http.ServerResponse) || !res.writableEnded || res.writableFinished) continue
      const since = this.unfinishedSince.get(res)
      if (since === undefined) this.unfinishedSince.set(res, now)
      else if (now - since >= this.deadlineMs) res.destroy()
    }
  }
}
