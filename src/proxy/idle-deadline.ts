/**
 * Closes each connection idle (new, or its last response out and its request read) for the keep-alive
 * timeout plus the headers timeout, whatever it sent meanwhile: Node's keep-alive timer restarts at
 * any byte, and its parser skips empty lines before a request line (RFC 9112 2.2) without beginning a
 * request, so a client that sent "\r\n" every 50 s held its connection for good. One that begins its
 * next request within the keep-alive timeout still has its headers timeout, as in nginx
 * (keepalive_timeout up to the first byte, then client_header_timeout); Envoy's idle_timeout too runs
 * until a request begins. A sweep, as FinishDeadline's, rather than a timer per response.
 */
import type http from 'node:http'
import type { Duplex } from 'node:stream'

/** How often the connections are looked at; a tenth of the limit if that is shorter (tests). */
const IDLE_SWEEP_MS = 1_000

/** A connection of the request server, with its latest response ('upgraded': it left HTTP). */
interface Connection {
  readonly lastResponse?: http.ServerResponse | 'upgraded'
  /** Refused before a request: it is ending. */
  readonly refusedBeforeRequest: boolean
}

export class IdleDeadline {
  /** Each connection's idle spell as the sweeps found it: after which response (none: no request yet), since when. */
  private readonly spells = new WeakMap<Duplex, { readonly after?: http.ServerResponse; readonly since: number }>()
  private readonly sweep: NodeJS.Timeout

  constructor(
    private readonly connections: ReadonlyMap<Duplex, Connection>,
    private readonly limitMs: number,
  ) {
    this.sweep = setInterval(() => this.closeIdleTooLong(), Math.min(IDLE_SWEEP_MS, limitMs / 10)).unref()
  }

  stop(): void {
    clearInterval(this.sweep)
  }

  private closeIdleTooLong(): void {
    const now = performance.now()
    for (const [socket, connection] of this.connections) {
      // A connection ending (a refusal lingering for its client's last bytes) has bounds of its own.
      if (!idle(connection) || connection.refusedBeforeRequest || socket.writableEnded) continue
      const after = connection.lastResponse
      const spell = this.spells.get(socket)
      if (spell === undefined || spell.after !== after) this.spells.set(socket, { after, since: now })
      else if (now - spell.since >= this.limitMs) socket.destroy()
    }
  }
}

/** Nothing in flight: no request yet, or the last response out and its request read whole. */
function idle(connection: Connection): connection is Connection & { lastResponse?: http.ServerResponse } {
  const last = connection.lastResponse
  return last === undefined || (last !== 'upgraded' && last.writableFinished && last.req.complete)
}
