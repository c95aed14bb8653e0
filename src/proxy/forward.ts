/**
 * Forwards one request to its route's upstream pool and streams the response back. The exchange is an
 * undici dispatch handler: the upstream's head becomes the client's head, each body chunk is written
 * through with backpressure (a full client socket pauses the upstream read), and nothing is buffered.
 * This is undici's lowest-level API: `pool.stream()` wraps the same calls in a Writable pipeline, an
 * async resource, stream-finished tracking and an abort signal, for every request.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import type { UpstreamUrl } from '../config/types.js'
import type { Route } from '../snapshot/snapshot.js'
import { acceptedCoding, compressedHead, compressible, compressingInto, type CompressingStream } from './compression.js'
import { clientResponseHeaders } from './headers.js'
import { bodyTooLargeDetail, forwardedBody, hasBody, RequestBodyTooLarge } from './request-body.js'
import { sendStatus } from './status.js'
import { classifyUpstreamError, type UpstreamFailure } from './upstream-errors.js'
import { BODILESS_STATUSES, CLIENT_GONE, relayChunk, UpstreamExchange, upstreamRequest, type Dispatched, type ResendHooks, type UpstreamRequest } from './upstream-request.js'

export interface ForwardHooks extends ResendHooks {
  /** The upstream at `url` failed before or while answering; `res.headersSent` tells whether the client got a status. */
  readonly onUpstreamError: (route: Route, url: UpstreamUrl, res: ServerResponse, failure: UpstreamFailure, error: Error) => void
}

export function forwardRequest(req: IncomingMessage, res: ServerResponse, dispatched: Dispatched, hooks: ForwardHooks): void {
  const body = hasBody(req) ? forwardedBody(req, res, dispatched.route.config.maxRequestBody) : null
  new Exchange(res, dispatched, upstreamRequest(req, dispatched, body), hooks).start()
}

/** Written to send a response head alone, before its body (see onResponseStart). */
const NO_BYTES = Buffer.alloc(0)

class Exchange extends UpstreamExchange {
  /**
   * The client's response closed (the client left), or the request server answered it (a malformed
   * request body), before the upstream's answer was through: the upstream request is stopped, and
   * what undici reports of it after is not the upstream's failure.
   */
  private stopped = false
  private responseStarted = false
  /** A body chunk has been passed to the client's response (its head went out with the first). */
  private bodyStarted = false
  /** The upstream's answer (or the gateway's in its place) is through: nothing is left to stop. */
  private finished = false
  /** The encoder the upstream's body is written to, into the client's response, where it is compressed (routes[].compress). */
  private encoder: CompressingStream | undefined

  constructor(
    private readonly res: ServerResponse,
    dispatched: Dispatched,
    options: UpstreamRequest,
    private readonly hooks: ForwardHooks,
  ) {
    super(dispatched, res.req, options, hooks)
    // The response closed before the upstream's answer was through: the client went away, or the
    // request server answered it (a malformed request body). Stop the upstream request too, so it
    // frees its connection. A request still queued for a connection is stopped as soon as undici
    // starts it.
    res.on('close', () => {
      this.releaseUpstream()
      this.heads.stop()
      if (this.finished) return
      this.stopped = true
      this.controller?.abort(CLIENT_GONE)
    })
  }

  protected clientGone(): boolean {
    return this.stopped
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.attempt.upstreamAnswered = true
    if (this.res.writableEnded) {
      // The request server has answered already (a malformed request body), and the response's
      // 'close', which stops this request, is still to come.
      this.stopped = true
      controller.abort(CLIENT_GONE)
      return
    }
    if (!this.heads.isFinal(controller, statusCode, headers, this.route.config.upstream.timeouts.response)) {
      if (statusCode < 200) this.relayInterim(statusCode, headers)
      return
    }
    if (this.dropsAnswer(controller, statusCode)) return
    this.responseStarted = true
    const head = this.withStickyCookie(clientResponseHeaders(headers, this.route.config.headers.response, statusCode))
    if (this.route.config.compress && compressible(this.req.method, statusCode, headers)) {
      const coding = acceptedCoding(this.req.headers['accept-encoding'])
      compressedHead(head, coding)
      if (coding) this.encoder = compressingInto(this.res, coding)
    }
    this.res.writeHead(statusCode, head)
    // A head whose body is not in the same read (an event stream, a long poll) goes out now, as nginx
    // and Envoy send it; one whose body came with it goes out with the body, in one write. Not with
    // flushHeaders(), which writes the head as UTF-8: undici reads header values as latin1, a character
    // a byte, and Node writes a head as latin1 when a Buffer goes with it.
    queueMicrotask(() => {
      if (!this.bodyStarted && !this.res.writableEnded && !this.res.destroyed) this.res.write(NO_BYTES)
    })
  }

  /**
   * RFC 9110 15.2: interim responses are passed on, except to an HTTP/1.0 client, and except while
   * the client has not taken what was written to it: they are hints, and an upstream that sent 103s
   * in a loop to a client that read nothing grew the gateway's memory by gigabytes until the final
   * head's timeout. Node writes 103 and 102 itself; a hint with a Link value it refuses to write (it is
   * stricter than RFC 8288: a quoted parameter with a space) is dropped, never the response. undici
   * fails a 100 from the upstream (it never sends Expect): the client gets 502.
   */
  private relayInterim(statusCode: number, headers: IncomingHttpHeaders): void {
    if (this.res.req.httpVersion === '1.0' || this.res.writableLength >= this.res.writableHighWaterMark) return
    try {
      if (statusCode === 103 && headers.link !== undefined) this.res.writeEarlyHints({ link: linkValues(headers.link) })
      if (statusCode === 102) this.res.writeProcessing()
    } catch {
      // An early hint is only a hint.
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bodyStarted = true
    relayChunk(this.encoder ?? this.res, controller, chunk, this.route.config.upstream.timeouts.response)
    // Out at once, as it came: a streamed response must not wait for the encoder's window to fill.
    this.encoder?.flushed()
  }

  onResponseEnd(): void {
    this.finished = true
    if (this.encoder) this.encoder.end()
    else this.res.end()
  }

  /**
   * A chunked request body grew past the route's maxRequestBody: undici has stopped the upstream
   * request. The client gets 413, and the connection closes (lingering for the rest of the body), as
   * after nginx's; a response already begun is cut short. Not the upstream's failure.
   */
  private refuseBody(error: RequestBodyTooLarge): void {
    this.finished = true
    if (this.res.headersSent) return void this.res.destroy()
    this.res.shouldKeepAlive = false
    sendStatus(this.res, 413, bodyTooLargeDetail(error.limit))
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.heads.stop()
    if (this.stopped) return
    if (error instanceof RequestBodyTooLarge) return this.refuseBody(error)
    if (this.responseStarted && BODILESS_STATUSES.has(this.res.statusCode)) {
      // Whole once its head is sent, whatever undici says of its Content-Length.
      this.finished = true
      this.res.end()
      return
    }
    const failure = classifyUpstreamError(error)
    if (this.resent(failure, error)) return
    this.finished = true
    this.hooks.onUpstreamError(this.route, this.url, this.res, failure, error)
    if (this.res.headersSent) {
      // Mid-response: the only honest signal left is to cut the client's response short.
      this.res.destroy()
    } else {
      sendStatus(this.res, failure.status)
    }
  }
}

/**
 * The link-values of a Link field (RFC 8288 3), split at the commas between them, not at one inside a
 * URI reference (<...>) or a quoted string. Node's writeEarlyHints checks a string as one link-value,
 * so the list a Node upstream's own writeEarlyHints (or Rails) writes on one line, `</a.css>;
 * rel=preload, </b.js>; rel=preload`, would be refused whole; it checks each value of an array alone.
 */
function linkValues(field: string | string[]): string[] {
  const values: string[] = []
  for (const line of [field].flat()) {
    let start = 0
    let inUri = false
    let inQuotes = false
    for (let i = 0; i < line.length; i++) {
      const char = line[i]
      if (inQuotes) {
        if (char === '\\') i++
        else if (char === '"') inQuotes = false
      } else if (char === '"' && !inUri) inQuotes = true
      else if (char === '<') inUri = true
      else if (char === '>') inUri = false
      else if (char === ',' && !inUri) {
        values.push(line.slice(start, i))
        start = i + 1
      }
    }
    values.push(line.slice(start))
  }
  // RFC 9110 5.6.1: a list may have empty elements, which are no link.
  return values.map((value) => value.trim()).filter((value) => value !== '')
}
