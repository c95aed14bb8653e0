/**
 * WebSocket proxying: the upstream's 101 answer is relayed, then bytes flow both ways until either side
 * closes. Any other answer (a 401, 403 or 426 from an upstream that refuses the upgrade) is relayed as
 * an ordinary response on a connection that then closes, as nginx and Envoy relay it.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { UpstreamUrl } from '../config/types.js'
import type { Route } from '../snapshot/snapshot.js'
import { clientResponseHeaders } from './headers.js'
import { closingResponse } from './released-sockets.js'
import { requestIdHeaders } from './request-id.js'
import { endWithStatus, responseHead } from './status.js'
import { relayTunnel, type TunnelTimeout, WEBSOCKET_SEND_TIMEOUT_MS } from './tunnel.js'
import { followFrames, type CloseGoingAway } from './websocket-close.js'
import { classifyUpstreamError, invalidUpstreamResponse, type UpstreamFailure } from './upstream-errors.js'
import { BODILESS_STATUSES, CLIENT_GONE, relayChunk, UpstreamExchange, upstreamRequest, type Dispatched, type ResendHooks, type UpstreamRequest } from './upstream-request.js'

/**
 * How an upgrade was answered: the status the client got (0: it left first), and why if the upstream
 * (at `url`) failed; for a WebSocket (101), how to end it at the end of the grace period.
 */
type UpgradeOutcome =
  | { readonly status: number }
  | { readonly status: 101; readonly closeGoingAway: CloseGoingAway }
  | { readonly status: number; readonly url: UpstreamUrl; readonly failure: UpstreamFailure; readonly error: Error }

/** What an upgrade tells besides its outcome, for the logs and metrics. */
export interface UpgradeHooks extends ResendHooks {
  /** The upstream at `url` failed part way through the answer it refused the upgrade with, after its outcome: the client's answer is cut short. */
  readonly onAnswerCutShort: (route: Route, url: UpstreamUrl, req: IncomingMessage, failure: UpstreamFailure, error: Error) => void
  /** The gateway closed the WebSocket at one of its bounds. */
  readonly onTimeout: (route: Route, req: IncomingMessage, timeout: TunnelTimeout) => void
}

/** Resolves once the client has its answer. */
export function proxyUpgrade(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  dispatched: Dispatched,
  hooks: UpgradeHooks,
): Promise<UpgradeOutcome> {
  const options = {
    // Node stops reading at an Upgrade request's head: server.ts refuses one with a body.
    ...upstreamRequest(req, dispatched, null),
    // Only WebSocket reaches here; a client's list (`h2c, websocket`) must not let the upstream pick
    // another protocol and tunnel past routing.
    upgrade: 'websocket',
  }
  return new Promise((settle) => new UpgradeExchange(dispatched, req, options, client, head, settle, hooks).start())
}

class UpgradeExchange extends UpstreamExchange {
  /** The client has its answer: the 101, or the upstream's refusal. */
  private answered = false
  /** The upstream's answer when it refused the upgrade, an ordinary response. */
  private refusal: ServerResponse | undefined

  constructor(
    dispatched: Dispatched,
    req: IncomingMessage,
    options: UpstreamRequest,
    private readonly client: Duplex,
    private readonly head: Buffer,
    private readonly settle: (outcome: UpgradeOutcome) => void,
    private readonly hooks: UpgradeHooks,
  ) {
    super(dispatched, req, options, hooks)
    // A client that leaves before the upstream answers takes its upstream request with it, which is not
    // sent again. Its hold on the pool ends there too, as a forwarded request's ends at its response's
    // close: it never outlives the client, even where a fault kept the request from being dispatched.
    client.once('close', () => {
      this.over()
      this.controller?.abort(CLIENT_GONE)
    })
  }

  protected clientGone(): boolean {
    return this.client.destroyed
  }

  /** The upstream request is done with: at the 101, the end, a failure not resent, or the client's close. */
  private over(): void {
    this.heads.stop()
    this.releaseUpstream()
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, _statusCode: number, headers: IncomingHttpHeaders, socket: Duplex): void {
    // RFC 6455 4.1: a 101 whose Upgrade is not websocket, the one protocol asked for, is no WebSocket;
    // tunnelled, it would carry a protocol no route was checked for under the client's `Upgrade: websocket`.
    if (String(headers.upgrade ?? '').trim().toLowerCase() !== 'websocket') {
      socket.destroy()
      this.onResponseError(controller, invalidUpstreamResponse('upstream switched to a protocol other than websocket'))
      return
    }
    // The socket leaves the pool with the 101.
    this.over()
    this.attempt.upstreamAnswered = true
    this.answered = true
    if (this.client.destroyed) {
      this.settle({ status: 0 })
      socket.destroy()
      return
    }
    // latin1, as undici read the header values: their bytes go out as they came.
    this.client.write(responseHead(101, this.answerHeaders(headers), ['Connection: Upgrade', 'Upgrade: websocket']), 'latin1')
    if (this.head.length > 0) socket.write(this.head)
    socket.on('error', () => this.client.destroy())
    // A client gone (an error, a reset, the drain's end destroying it) takes the upstream with it. Not
    // the other way: an upstream that ends after its last bytes is passed on by the relay below, which
    // ends the client once a slow reader has had them all.
    this.client.on('error', () => socket.destroy()).once('close', () => socket.destroy())
    this.client.on('finish', () => socket.destroy())
    socket.on('finish', () => this.client.destroy())
    const onTimeout = (timeout: TunnelTimeout) => this.hooks.onTimeout(this.route, this.req, timeout)
    relayTunnel(this.client as Socket, socket, { sendMs: WEBSOCKET_SEND_TIMEOUT_MS, onTimeout })
    this.settle({ status: 101, closeGoingAway: followFrames(this.client, socket, this.head) })
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.attempt.upstreamAnswered = true
    if (!this.heads.isFinal(controller, statusCode, headers, this.route.config.upstream.timeouts.response)) return
    this.answered = true
    this.settle({ status: statusCode })
    // Without a 101 the connection is not upgraded: an ordinary response, then the close.
    this.refusal = closingResponse(this.req, this.client as Socket)
    this.refusal.writeHead(statusCode, this.answerHeaders(headers, statusCode))
  }

  /**
   * The upstream's answer's headers as the client gets them: with the request's id (unless the
   * upstream sent one) and the route's changes.
   */
  private answerHeaders(headers: IncomingHttpHeaders, statusCode?: number): OutgoingHttpHeaders {
    return { ...requestIdHeaders(this.req), ...clientResponseHeaders(headers, this.route.config.headers.response, statusCode) }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    relayChunk(this.refusal!, controller, chunk, this.route.config.upstream.timeouts.response)
  }

  onResponseEnd(): void {
    this.over()
    this.refusal!.end()
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const failure = classifyUpstreamError(error)
    // A pooled connection the upstream closed just as the upgrade went out, as for any other request.
    if (!this.client.destroyed && this.resent(failure, error)) return
    this.over()
    // A client gone first took the upstream request with it (CLIENT_GONE): not the upstream's failure.
    if (this.client.destroyed) {
      if (!this.answered) this.settle({ status: 0 })
      return
    }
    if (this.answered) {
      // A refusal of 204 or 304 is whole with its head, whatever undici says of its Content-Length.
      if (this.refusal && BODILESS_STATUSES.has(this.refusal.statusCode)) return void this.refusal.end()
      this.hooks.onAnswerCutShort(this.route, this.url, this.req, failure, error)
      this.client.destroy()
      return
    }
    endWithStatus(this.client, failure.status, undefined, { headers: requestIdHeaders(this.req) })
    this.settle({ status: failure.status, url: this.url, failure, error })
  }
}
