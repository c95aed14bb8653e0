/**
 * The one HTTP server behind every listener, for the life of the process. The plaintext listener hands
 * it raw sockets; each TLS policy server hands it the sockets it verified, and the policy is remembered
 * per socket. Every request is routed on the snapshot current when it arrives, so a reload reaches
 * keep-alive connections at their next request, and a request in flight finishes where it started.
 */
import http from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import type { Snapshot } from '../snapshot/snapshot.js'
import type { TlsPolicy } from '../tls/ingress.js'
import { BODY_IDLE_TIMEOUT_MS, discardRestAfter, hasBody, limitBodyIdle } from './request-body.js'
import { FINISH_DEADLINE_MS, FinishDeadline } from './finish-deadline.js'
import { IdleDeadline } from './idle-deadline.js'
import { closingResponse, isWebSocketUpgrade, relayDrain } from './released-sockets.js'
import { ConnectionPolicies } from './connection-policies.js'
import { EarlyRefusals, type RefusedRequest } from './early-refusals.js'
import { closeLingeringly, limitLinger } from './lingering-close.js'
import { holdReads, releaseReads } from './read-hold.js'
import { endWithStatus } from './status.js'
import { busy, inTurn } from './turns.js'
import type { CloseGoingAway } from './websocket-close.js'

/**
 * Slowloris and idle keep-alive bounds, as nginx and Envoy set them by default. No limit on the whole
 * request (Envoy's request_timeout is off by default too): an upload may take as long as it keeps
 * moving, and one that stops is bounded by the body idle timeout (request-body.ts).
 */
const HEADERS_TIMEOUT_MS = 20_000
const KEEP_ALIVE_TIMEOUT_MS = 65_000
/**
 * How long a drain keeps open a connection with nothing in flight: its client may have sent its next
 * request already (wrk and other clients that send back to back do, as soon as an answer is read), and
 * closing now would reset it. One that comes in time is answered with `Connection: close`. nginx and
 * Go's Shutdown close such a connection at once, and that request fails; Envoy keeps it open for its
 * whole drain time and closes it after its next response.
 */
export const DRAIN_IDLE_WINDOW_MS = 1_000
/**
 * The pipelined requests a connection may have waiting for their turn; past them it is not read until
 * none waits. Node keeps a request and a response (about 2 KB) for each: a client that sent requests
 * without reading the answers grew memory without bound (10 MB of GETs on one connection took 500 MB).
 * nginx and Envoy read no further than the request they answer; a few waiting are left as they are,
 * so that pipelining as clients use it is read as before (a head cut off by a pause would time out).
 */
export const MAX_WAITING_REQUESTS = 32
const HTTP_SERVER_OPTIONS: http.ServerOptions = {
  requestTimeout: 0,
  // How often Node checks headersTimeout; its default of 30 s let a slow client run to 50 s.
  connectionsCheckingInterval: 1_000,
  maxHeaderSize: 16 * 1024,
  noDelay: true,
  // An HTTP/1.1 request without Host is refused by the handlers (request-checks.ts), counted and logged
  // as every refusal is; Node's own check answers it with a bare 400 that nothing records.
  requireHostHeader: false,
}

export interface RequestHandlers {
  readonly request: (snapshot: Snapshot, policy: TlsPolicy | undefined, req: http.IncomingMessage, res: http.ServerResponse) => void
  /** Resolves once the upgrade is answered: with how to end it if it became a WebSocket. */
  readonly upgrade: (snapshot: Snapshot, policy: TlsPolicy | undefined, req: http.IncomingMessage, socket: Duplex, head: Buffer) => Promise<CloseGoingAway | undefined>
  /**
   * A request answered before routing, with `status`, called before the answer is written (a write
   * to a client that has reset destroys its socket, and its address with it): an expectation other
   * than 100-continue, a CONNECT, an Upgrade request that cannot be one, a pipelined request whose
   * body turned out malformed while it waited its turn; or what Node's parser refused before it was
   * a request (malformed, headers too large or too slow: `request` undefined, as no method is
   * known), or an HTTP/0.9 request line (http09.ts: its method alone).
   */
  readonly refused: (snapshot: Snapshot, status: number, request?: RefusedRequest) => void
}

/**
 * An open connection verified under a TLS policy, as a reload's re-check reads it
 * (connection-rechecks.ts): the policy its requests are held to, and its upgrade request once it became
 * a WebSocket.
 */
export interface VerifiedConnection {
  readonly socket: TLSSocket
  readonly policy: TlsPolicy
  readonly webSocketRequest?: http.IncomingMessage
}

/** What the request server keeps of each open connection. */
interface Connection {
  /**
   * Its latest response; 'upgraded' once an Upgrade request took it out of Node's HTTP parser (a
   * WebSocket, or an upgrade refused or ignored, answered before the close). None: no request yet.
   */
  lastResponse?: http.ServerResponse | 'upgraded'
  /** Its upgrade request, once it asked for a WebSocket (answered or not yet). */
  webSocketRequest?: http.IncomingMessage
  /** How it is ended at the end of the grace period, once it became a WebSocket. */
  closeGoingAway?: CloseGoingAway
  /**
   * Refused before a request (early-refusals.ts): the refusal is out, or waits for the response ahead
   * of it.
   */
  refusedBeforeRequest: boolean
  /** It closes once its response in flight has gone out; no request behind it is handled. */
  closing: boolean
  /** Its pipelined requests waiting for their turn. */
  waitingForTurn: number
}

/**
 * Accepts connections from the listeners, hands each request to `handlers` in its turn, and drains and
 * closes the connections at shutdown. A reload's re-checks (connection-rechecks.ts) decide what becomes
 * of a connection verified under a TLS policy; here its requests wait for their verdict, or it closes.
 */
export class RequestServer {
  private readonly server: http.Server
  private readonly bodyIdleTimeoutMs: number
  private readonly finishDeadline: FinishDeadline
  private readonly idleDeadline: IdleDeadline
  /** The TLS policy each TLS socket is held to, and the check of its client a reload may have under way. */
  private readonly policies = new ConnectionPolicies()
  /**
   * The open connections, from accept() to their 'close'. Node's server has nothing more to tell of a
   * connection after its 'close' (no bytes come then): a handler of its events that finds no record
   * has nothing to do.
   */
  private readonly connections = new Map<Duplex, Connection>()
  /** close()'s promise: a second call waits for the same connections. */
  private whenAllClosed: Promise<void> | undefined
  /** Settles whenAllClosed, as the last connection closes. */
  private onAllClosed: (() => void) | undefined
  private readonly earlyRefusals: EarlyRefusals
  /** Requests not handed to the handlers yet: they wait for their connection's check (holdUntilChecked). */
  private readonly waitingForCheck = new WeakSet<http.IncomingMessage>()
  private draining = false
  private closed = false

  constructor(
    private readonly current: () => Snapshot,
    private readonly handlers: RequestHandlers,
    {
      bodyIdleTimeoutMs = BODY_IDLE_TIMEOUT_MS,
      headersTimeoutMs = HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs = KEEP_ALIVE_TIMEOUT_MS,
      finishDeadlineMs = FINISH_DEADLINE_MS,
    } = {},
  ) {
    this.bodyIdleTimeoutMs = bodyIdleTimeoutMs
    this.finishDeadline = new FinishDeadline(this.connections, finishDeadlineMs)
    this.idleDeadline = new IdleDeadline(this.connections, keepAliveTimeoutMs + headersTimeoutMs)
    this.earlyRefusals = new EarlyRefusals(
      this.connections,
      (status, request) => this.handlers.refused(this.current(), status, request),
      (req) => this.waitingForCheck.has(req),
    )
    const server = (this.server = http.createServer({ ...HTTP_SERVER_OPTIONS, headersTimeout: headersTimeoutMs, keepAliveTimeout: keepAliveTimeoutMs }))
    // This server never listens: connections arrive through accept(). Node starts the headersTimeout
    // checks (slowloris) on 'listening', so emit it; close() stops them again.
    server.emit('listening')
    // Node drops the headers after the 2,000th without a word, Content-Length among them; the size limit
    // (maxHeaderSize, 431) is the one bound.
    server.maxHeadersCount = 0
    server.on('request', (req, res) => this.onRequest(req, res))
    // `Expect: 100-continue`: the handler sends 100 Continue once the request is routed, as nginx sends
    // it when it starts to read the body; a refusal goes out without it, and Node then closes the
    // connection, so the client never uploads a body to a 404 or a 421.
    server.on('checkContinue', (req, res) => this.onRequest(req, res))
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head))
    this.earlyRefusals.listenTo(server)
  }

  /**
   * A plaintext socket (no policy), or a TLS socket that passed `policy`'s client authentication.
   * `head`: bytes of a plaintext socket read before (after its PROXY header), paused, for the server
   * to parse first.
   */
  accept(socket: Duplex, policy?: TlsPolicy, head?: Buffer): void {
    // A TLS handshake that ended while close() runs: close() would wait for it, and nothing is served.
    // One whose client has gone already would never leave `connections`.
    if (this.closed || socket.destroyed) {
      socket.destroy()
      return
    }
    if (policy) this.policies.set(socket, policy)
    const connection: Connection = { refusedBeforeRequest: false, closing: false, waitingForTurn: 0 }
    closeLingeringly(socket as Socket, () => {
      const last = connection.lastResponse
      return last instanceof http.ServerResponse && !last.req.complete
    })
    this.connections.set(socket, connection)
    socket.once('close', () => {
      this.connections.delete(socket)
      if (this.connections.size === 0) this.onAllClosed?.()
    })
    this.server.emit('connection', socket)
    // Node's server parses in C++ what it reads from the socket itself, which bytes put back with
    // unshift() never reach; its listener takes them as a read. The request-line watch sees only the
    // server's own reads, and would begin mid-request: it is left out then.
    if (head !== undefined && head.length > 0) socket.emit('data', head)
    else this.earlyRefusals.watch(socket)
    if (head !== undefined) socket.resume()
    // A TLS handshake that ended during the drain: its client may have sent its request already.
    if (this.draining) this.closeAfterResponse(socket, DRAIN_IDLE_WINDOW_MS)
  }

  /**
   * Closes every connection once its response in flight has gone out (WebSockets run on): a response
   * not begun yet carries `Connection: close`, and a pipelined request queued behind it is not
   * handled. An idle keep-alive connection, and one that has not sent a request yet, closes after
   * DRAIN_IDLE_WINDOW_MS, or after the response to a request that comes before then.
   */
  drain(): void {
    this.draining = true
    // A connection that has not sent a request yet closes too, as nginx closes it: otherwise one
    // preconnected browser tab holds the shutdown for the whole grace period.
    for (const socket of this.connections.keys()) this.closeAfterResponse(socket, DRAIN_IDLE_WINDOW_MS)
  }

  /** Every open connection, for a reload to re-check those verified under a TLS policy (connection-rechecks.ts). */
  openConnections(): Iterable<Duplex> {
    return this.connections.keys()
  }

  /**
   * `socket` as a reload re-checks it, if it is open and was verified under a TLS policy. Undefined
   * too where there is nothing to re-check: an upgrade answered as an ordinary response (refused, or
   * ignored: h2c) ends its connection after it; one that waits for its connection's check gets that
   * check's verdict (upgrade()); a WebSocket that has ended is gone.
   */
  verifiedConnection(socket: Duplex): VerifiedConnection | undefined {
    const policy = this.policies.of(socket)
    const connection = this.connections.get(socket)
    if (!policy || !connection) return undefined
    const tlsSocket = socket as TLSSocket
    if (connection.lastResponse !== 'upgraded') return { socket: tlsSocket, policy }
    const { webSocketRequest } = connection
    return webSocketRequest && !socket.writableEnded ? { socket: tlsSocket, policy, webSocketRequest } : undefined
  }

  /**
   * Holds the requests of `socket` until `passes` settles: they are then held to `policyNow` if its
   * client passed it, and otherwise the connection closes after its response in flight (an Upgrade
   * waiting gets 421). Replaces a check under way, which then decides nothing.
   */
  holdUntilChecked(socket: TLSSocket, policyNow: TlsPolicy, passes: Promise<boolean>): void {
    this.policies.check(socket, policyNow, passes, () => this.closeAfterResponse(socket))
  }

  /** The check under way, if any, decides nothing: the requests waiting for it go on under the policy they had. */
  cancelCheck(socket: Duplex): void {
    this.policies.cancelCheck(socket)
  }

  /** The policy a WebSocket's client passed at a reload, which the next reload compares its route's with. */
  setPolicy(socket: Duplex, policy: TlsPolicy): void {
    this.policies.set(socket, policy)
  }

  /** The WebSockets open now. */
  webSocketCount(): number {
    let count = 0
    for (const [socket, { closeGoingAway }] of this.connections) if (closeGoingAway && !socket.destroyed) count++
    return count
  }

  /**
   * Destroys every connection left, a WebSocket once a close frame to each of its ends has gone out
   * (websocket-close.ts, a second at most), and resolves once each has closed and its response seen it
   * go.
   */
  close(): Promise<void> {
    return (this.whenAllClosed ??= this.closeEverything())
  }

  private closeEverything(): Promise<void> {
    this.closed = true
    // Stops Node's connection checks; connections arrive through accept(), never through listen().
    this.server.close()
    this.finishDeadline.stop()
    this.idleDeadline.stop()
    if (this.connections.size === 0) return Promise.resolve()
    // Node's own close handler runs after the one accept() added, within the same event: by the time the
    // promise settles, each response has emitted 'close' and stopped its upstream request.
    const closed = new Promise<void>((resolve) => (this.onAllClosed = resolve))
    for (const [socket, { closeGoingAway }] of this.connections) {
      if (closeGoingAway) closeGoingAway()
      else socket.destroy()
    }
    return closed
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const connection = this.connections.get(req.socket)
    if (!connection) return
    connection.lastResponse = res
    if (connection.closing) res.shouldKeepAlive = false
    // Node parses pipelined requests as they come, and gives a response its socket only once the one
    // ahead of it has gone out and the connection goes on. A request is handled then, as nginx handles
    // them one at a time: a connection never has more than one request upstream, a POST never runs
    // before the answer to the GET ahead of it (RFC 9112 9.3.2), nothing behind a response that closes
    // the connection is handled (RFC 9112 9.6), and nothing still queued when a drain begins.
    // A request parsed after the response ahead of it closed the connection is never handled, nor one
    // whose connection was destroyed before its turn: Node still hands it the socket once the response
    // ahead, cut off with its last bytes unsent, emits 'finish'.
    if (req.socket.writableEnded) return
    if (res.socket) {
      this.handle(req, res)
      return
    }
    // Past MAX_WAITING_REQUESTS the connection is held; what Node's parser has in hand (a read: up to
    // 64 KB) it parses whole.
    if (++connection.waitingForTurn > MAX_WAITING_REQUESTS) holdReads(req.socket, connection)
    res.once('socket', () => {
      if (--connection.waitingForTurn === 0) releaseReads(req.socket, connection)
      if (connection.closing || req.socket.destroyed) res.destroy()
      else this.handle(req, res)
    })
  }

  /**
   * Closes a connection once its response in flight has gone out: with `Connection: close` if it has
   * not begun; otherwise once it is idle, as closeIdle closes it. WebSockets run on. Not Node's
   * closeIdleConnections(): it counts a response as done once end() is called, and would cut off one
   * still being written to a slow reader.
   */
  closeAfterResponse(socket: Duplex, idleWindowMs = 0): void {
    const connection = this.connections.get(socket)
    // Closed already (its client left before its check failed).
    if (!connection) return
    const res = connection.lastResponse
    // An Upgrade waiting for its connection's check is refused (upgrade()); a WebSocket runs on.
    connection.closing = true
    if (res === 'upgraded') return
    if (res === undefined || res.writableFinished) this.closeIdle(socket, connection, res, idleWindowMs)
    else if (!res.headersSent) res.shouldKeepAlive = false
    else res.once('finish', () => this.closeIdle(socket, connection, res, idleWindowMs))
  }

  /**
   * Closes a connection whose response `res` (none: it has sent no request) has gone out: at once
   * (lingering for the rest of a request body, see lingering-close.ts), or `windowMs` from now if it
   * is still open and no request has come on it by then (one that comes is answered with
   * `Connection: close`, see onRequest, and Node closes the connection after it).
   */
  private closeIdle(socket: Duplex, connection: Connection, res: http.ServerResponse | undefined, windowMs: number): void {
    if (windowMs === 0) (socket as Socket).destroySoon()
    else setTimeout(() => this.connections.has(socket) && connection.lastResponse === res && (socket as Socket).destroySoon(), windowMs).unref()
  }

  /** A request whose turn has come on its connection. */
  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Held to the policy the check of its client leaves its connection with.
    if (this.policies.isChecking(req.socket)) {
      this.waitingForCheck.add(req)
      return this.policies.whenSettled(req.socket, () => this.handleAfterCheck(req, res))
    }
    if (this.earlyRefusals.refusedWhileQueued(req, res)) return
    if (hasBody(req)) {
      limitBodyIdle(req, res, this.bodyIdleTimeoutMs)
      discardRestAfter(req, req)
      res.once('finish', () => this.limitRestOfBody(req, res))
    }
    this.handlers.request(this.current(), this.policies.of(req.socket), req, res)
  }

  /**
   * `res` has gone out before its request's body came in (an upstream that answered an upload early),
   * on a connection that stays open: Node reads the rest of the body and drops it. As nginx discards
   * one, the connection ends once it has been silent for 5 s, or 30 s after the response, as a
   * lingering close does (limitLinger), rather than at Node's keep-alive timeout. A connection that
   * closes after the response lingers instead (closeLingeringly).
   */
  private limitRestOfBody(req: http.IncomingMessage, res: http.ServerResponse): void {
    const { socket } = req
    const connection = this.connections.get(socket)
    if (!connection || req.complete || socket.writableEnded) return
    // The keep-alive timeout Node has just set (keepAliveTimeout, plus a margin on newer Nodes).
    const keepAliveTimeout = socket.timeout ?? 0
    const lift = limitLinger(socket)
    req.once('end', () => {
      lift()
      // Idle now, unless the next request has begun: the keep-alive timeout again.
      if (connection.lastResponse === res) socket.setTimeout(keepAliveTimeout)
    })
  }

  /**
   * A request that waited for its connection's check: unless the connection is gone, or the request
   * was answered meanwhile (a malformed body, early-refusals.ts), whose handling would hold a
   * limits.requests slot and an upstream request for a response that never closes again.
   */
  private handleAfterCheck(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.waitingForCheck.delete(req)
    if (req.socket.destroyed) res.destroy()
    else if (!res.writableEnded) this.handle(req, res)
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node lets go of an upgraded socket, its error handler included; a plaintext socket has no other.
    socket.on('error', () => socket.destroy())
    const connection = this.connections.get(socket)
    if (!connection) {
      socket.destroy()
      return
    }
    // Pipelined behind a response still going out: taken after it, as nginx takes it, and not at all if
    // that response closes the connection (RFC 9112 9.6). Taken at once it would write into that
    // response, and destroying the connection instead would lose a response whose request the upstream
    // has acted on. Node has stopped telling that response of the socket's drain.
    if (busy(connection)) relayDrain(socket, connection.lastResponse)
    inTurn(connection, () => {
      if (socket.writableEnded) return
      // A response ahead has had Node's finish handler set its keep-alive timeout, as if no request had come.
      ;(socket as Socket).setTimeout(0)
      connection.lastResponse = 'upgraded'
      this.policies.whenSettled(socket, () => socket.destroyed || this.upgrade(req, socket, connection, head))
    })
  }

  /** An Upgrade request, once its connection's policy is settled (holdUntilChecked). */
  private upgrade(req: http.IncomingMessage, socket: Duplex, connection: Connection, head: Buffer): void {
    const policy = this.policies.of(socket)
    // Node's parser stopped at the headers of an Upgrade request, so its body never reaches `req`:
    // refuse it rather than forward the request without it, or its bytes into a WebSocket.
    if (hasBody(req)) {
      this.handlers.refused(this.current(), 400, req)
      // Its client is still sending the body: a reset would lose the answer.
      endWithStatus(socket, 400, undefined, { lingering: true })
    } else if (!isWebSocketUpgrade(req)) {
      // Ignored (h2c): answered as an ordinary request.
      this.handlers.request(this.current(), policy, req, closingResponse(req, socket as Socket))
    } else if (this.draining) {
      // Sent in the drain's window: a WebSocket begun now would hold the shutdown for the whole grace
      // period. Its client opens it again, on a gateway that is not stopping.
      this.handlers.refused(this.current(), 503, req)
      endWithStatus(socket, 503, 'the gateway is shutting down')
    } else if (connection.closing) {
      // Its client failed the check of a reload: as a request then, it is answered on a connection that
      // closes, and not made a WebSocket that would run on. Its client comes back through a handshake.
      this.handlers.refused(this.current(), 421, req)
      endWithStatus(socket, 421, 'the TLS policy of this host changed: connect again')
    } else {
      connection.webSocketRequest = req
      void this.handlers.upgrade(this.current(), policy, req, socket, head).then((closeGoingAway) => {
        if (closeGoingAway) connection.closeGoingAway = closeGoingAway
      })
    }
  }
}
