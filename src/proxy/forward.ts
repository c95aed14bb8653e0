/**
 * Forwards one request to its route's upstream pool and streams the response back. Bodies are streamed
 * both ways with backpressure (undici's `stream` writes into the client's response), never buffered.
 */
import { EventEmitter } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import type { Route } from '../snapshot.js'
import { clientResponseHeaders, upstreamRequestHeaders, type ForwardedFor } from './headers.js'
import { sendStatus } from './status.js'
import { classifyUpstreamError, isClientAbort, type UpstreamFailure } from './upstream-errors.js'

export interface ForwardHooks {
  /** The upstream failed before or while answering; `headersSent` tells whether the client got a status. */
  readonly onUpstreamError: (route: Route, failure: UpstreamFailure, error: Error, headersSent: boolean) => void
}

/** The upstream request target: the route's own url path prefix, then the client's target unchanged. */
export function upstreamPath(route: Route, url: string): string {
  return route.config.upstream.pathPrefix + url
}

export function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  forwarded: ForwardedFor,
  identity: Readonly<Record<string, string>>,
  hooks: ForwardHooks,
): void {
  const upstream = route.upstream!
  // A pool may be shared by routes with the same identity; the path prefix and timeouts are the route's.
  const { timeouts } = route.config.upstream
  // The client went away: stop the upstream request too, so it frees its connection. undici takes an
  // EventEmitter as the signal; it costs a fraction of an AbortController on every request.
  const clientGone = new EventEmitter()
  res.once('close', () => {
    if (!res.writableFinished) clientGone.emit('abort')
  })

  // `servername` is a real undici dispatch option that its types omit.
  const options: Dispatcher.RequestOptions & { servername: string } = {
    path: upstreamPath(route, req.url!),
    method: req.method as Dispatcher.HttpMethod,
    headers: upstreamRequestHeaders(req, forwarded, identity) as Record<string, string | string[]>,
    body: hasBody(req) ? req : null,
    servername: upstream.serverNameToken,
    headersTimeout: timeouts.response,
    // Between body chunks; an upstream that stalls mid-response must not hold the client forever.
    bodyTimeout: timeouts.response,
    signal: clientGone,
  }
  upstream.pool.stream(
    options,
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, clientResponseHeaders(headers))
      return res
    },
    (error) => {
      if (!error || isClientAbort(error)) return
      const failure = classifyUpstreamError(error)
      hooks.onUpstreamError(route, failure, error, res.headersSent)
      if (res.headersSent) {
        // Mid-response: the only honest signal left is to cut the client's response short.
        res.destroy()
      } else {
        sendStatus(res, failure.status)
      }
    },
  )
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}
