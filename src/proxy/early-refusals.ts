/**
 * The answers given before a request reaches routing: what Node's HTTP parser refuses (malformed,
 * headers too large or too slow), an HTTP/0.9 request line, a CONNECT, an expectation other than
 * 100-continue, and a pipelined request whose body turned out malformed while it waited its turn. Each
 * is counted as every answer is (RequestHandlers.refused), and goes out in its turn, after the response
 * still going out ahead of it on its connection.
 */
import http from 'node:http'
import type { Duplex } from 'node:stream'
import { http09Method } from './http09.js'
import { parserErrorDetail, parserErrorStatus } from './parser-errors.js'
import { relayDrain } from './released-sockets.js'
import { watchRequestLines } from './request-lines.js'
import { endWithStatus, sendStatus } from './status.js'
import { busy, inTurn } from './turns.js'

/** A request answered before routing, as far as it is known: parsed, or only the method of an HTTP/0.9 line. */
export type RefusedRequest = http.IncomingMessage | { readonly method: string }

/** What the refusals read and mark of a connection (RequestServer's record of it). */
interface RefusableConnection {
  /** Its latest response (set here for a refusal); 'upgraded' once out of Node's HTTP parser. */
  lastResponse?: http.ServerResponse | 'upgraded'
  /**
   * Refused before a request (refuseInTurn): the refusal is out, or waits for the response ahead of
   * it. The parser reports each later read too, which changes nothing.
   */
  refusedBeforeRequest: boolean
}

export class EarlyRefusals {
  /** Pipelined requests whose body turned out malformed while the response ahead of them went out. */
  private readonly malformedWhileQueued = new WeakSet<http.IncomingMessage>()

  constructor(
    private readonly connections: ReadonlyMap<Duplex, RefusableConnection>,
    /** Counts a refusal, before it is written (RequestHandlers.refused on the snapshot serving now). */
    private readonly count: (status: number, request?: RefusedRequest) => void,
    /** Whether a request waits for its connection's check, and so has not been given to the handlers. */
    private readonly waitsForCheck: (req: http.IncomingMessage) => boolean,
  ) {}

  /** Takes the events of `server` that come of requests refused before routing. */
  listenTo(server: http.Server): void {
    server.on('checkExpectation', (req, res) => this.onOtherExpectation(req, res))
    server.on('clientError', (error, socket) => this.onClientError(error, socket))
    server.on('connect', (req, socket: Duplex) => this.onConnect(req, socket))
  }

  /** An HTTP/0.9 request line on `socket`, which Node's parser would take for HTTP/1.0, gets 400. */
  watch(socket: Duplex): void {
    watchRequestLines(socket, (firstLine) => {
      const method = http09Method(firstLine)
      if (method) this.refuseInTurn(socket, 400, { method })
    })
  }

  /** Answers `req`, whose turn has come, with 400 if its body turned out malformed while it waited; whether it did. */
  refusedWhileQueued(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (!this.malformedWhileQueued.has(req)) return false
    this.count(400, req)
    sendStatus(res, 400, 'malformed request body')
    return true
  }

  /**
   * Any expectation but 100-continue: 417, as Node would answer, but counted, and the connection
   * closes after it.
   */
  private onOtherExpectation(req: http.IncomingMessage, res: http.ServerResponse): void {
    const connection = this.connections.get(req.socket)
    if (!connection) return
    connection.lastResponse = res
    res.shouldKeepAlive = false
    this.count(417, req)
    sendStatus(res, 417)
  }

  /**
   * A gateway, not a forward proxy: CONNECT gets 405 (the method is not served here; nginx answers 400,
   * as it reads no authority-form target), rather than Node's silent close.
   */
  private onConnect(req: http.IncomingMessage, socket: Duplex): void {
    // Node lets go of a CONNECT's socket, its error handler included, as of an upgraded one.
    socket.on('error', () => socket.destroy())
    // Pipelined behind a response still going out, the refusal waits for it (refuseInTurn). Node no
    // longer passes the socket's drain on to that response, which would wait for good once its body
    // filled the socket's buffer.
    const connection = this.connections.get(socket)
    if (connection && busy(connection)) relayDrain(socket, connection.lastResponse)
    this.refuseInTurn(socket, 405, req)
  }

  /** Node answers these itself when no one listens; here they are also counted, like every answer. */
  private onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    const connection = this.connections.get(socket)
    if (!connection || connection.refusedBeforeRequest) return
    const status = parserErrorStatus(error)
    const last = connection.lastResponse
    // A malformed body (a bad chunk size line) of a request whose response has not begun is refused, as
    // nginx and Envoy refuse it, and the connection closes after. The request being handled gets the
    // refusal now (the forwarder then stops its upstream request); a pipelined one still queued gets it
    // when its turn comes, after the response ahead of it.
    if (status !== undefined && last instanceof http.ServerResponse && !last.req.complete && !last.headersSent) {
      last.shouldKeepAlive = false
      if (last.socket === socket) {
        // The handlers count the requests they were given; not one still waiting for its check.
        if (this.waitsForCheck(last.req)) this.count(status, last.req)
        sendStatus(last, status, 'malformed request body')
      } else {
        this.malformedWhileQueued.add(last.req)
      }
      return
    }
    // Bytes behind a response that closes the connection (a refusal, a `Connection: close` request, the
    // rest of a malformed body) are not a request to answer (RFC 9112 9.6): that response goes out, then
    // the connection closes, lingeringly.
    if (last instanceof http.ServerResponse && !last.shouldKeepAlive) return
    // Not into a WebSocket: that connection is only closed.
    if (status === undefined || !socket.writable || last === 'upgraded') {
      socket.destroy()
      return
    }
    this.refuseInTurn(socket, status, undefined, parserErrorDetail(error))
  }

  /**
   * A request refused before it was a request (malformed, a CONNECT) gets its answer in its turn: after
   * the response still going out ahead of it, as nginx answers a bad request pipelined behind a good
   * one. Then the connection closes, lingeringly: its client may still be sending.
   */
  private refuseInTurn(socket: Duplex, status: number, request?: RefusedRequest, detail?: string): void {
    const connection = this.connections.get(socket)
    if (!connection || connection.refusedBeforeRequest) return
    connection.refusedBeforeRequest = true
    inTurn(connection, () => {
      if (!socket.writable) return
      this.count(status, request)
      endWithStatus(socket, status, detail, { lingering: true })
    })
  }
}
