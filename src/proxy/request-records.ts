/**
 * What the gateway records of the requests it proxies: each answer (portcullis_requests_total, the
 * duration histogram, and the access log line when the config keeps one), each upstream failure and
 * resend, each WebSocket it closed at a timeout, and each fault of the gateway's own.
 */
import { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { clientAddressOf } from '../client-address.js'
import { ErrorCodes } from '../errors.js'
import { CLIENT_CAUSED_LOG_LIMIT, errorSummary, limitedLog, type Logger } from '../log.js'
import { methodLabel, NO_ROUTE, type UpstreamFailureStage } from '../metrics/labels.js'
import type { Metrics } from '../metrics/metrics.js'
import { normalizeHost } from '../routing/host.js'
import type { UpstreamUrl } from '../config/types.js'
import type { Route, Snapshot } from '../snapshot/snapshot.js'
import { refusalFields, refusedPeerOf } from '../tls/certificate-identity.js'
import type { AuthVerdict } from './forward-auth.js'
import type { ForwardHooks } from './forward.js'
import { clientCertificateFields } from './placeholder-values.js'
import { requestIdOf } from './request-id.js'
import type { RequestHandlers } from './server.js'
import type { UpstreamFailure } from './upstream-errors.js'
import type { UpgradeHooks } from './upgrade.js'
import { upstreamUrlOf } from './upstream-request.js'

interface RequestRecords extends ForwardHooks, UpgradeHooks {
  /**
   * A request answered with `status`: counted, and logged when the config keeps an access log. `socket`:
   * its connection, as it was when the request came; `started` when it came, and how many bytes its
   * connection had written then.
   */
  readonly answered: (snapshot: Snapshot, req: IncomingMessage, client: string | undefined, route: string, status: number, started: RequestStart, socket: Duplex) => void
  /** A request answered before routing (see RequestHandlers.refused): counted, and logged as `answered` logs where Node parsed it. */
  readonly refused: RequestHandlers['refused']
  /** The upstream at `url` failed a WebSocket upgrade; the client was sent `status`. */
  readonly upgradeFailed: (route: Route, url: UpstreamUrl, req: IncomingMessage, client: string | undefined, failure: UpstreamFailure, status: number, error: Error) => void
  /** A bug met by one request, which is that request's 500, not the end of the process and every connection. */
  readonly internalError: (route: string, error: unknown) => void
  /** The route's forwardAuth service said `verdict` of a request: counted, and logged where it gave no answer to relay. */
  readonly authAnswered: (route: Route, req: IncomingMessage, client: string | undefined, verdict: AuthVerdict) => void
}

/** When a request came (performance.now()), and the bytes its connection had written then (its earlier responses). */
export interface RequestStart {
  readonly at: number
  readonly bytesWritten: number | undefined
}

/** A request coming on `socket` now. */
export function requestStart(socket: Duplex): RequestStart {
  return { at: performance.now(), bytesWritten: bytesWrittenBy(socket) }
}

/** The bytes a connection has written, its TLS records' plaintext (undefined for a stream that is no socket). */
function bytesWrittenBy(socket: Duplex): number | undefined {
  return socket instanceof Socket ? socket.bytesWritten : undefined
}

/** The longest User-Agent an access log line holds: a browser's is about 150 characters. */
const MAX_LOGGED_USER_AGENT = 256

/** Path parameters (`;jsessionid=…`), which, like the query, may carry session ids and tokens. */
const PATH_PARAMETERS = /;[^/]*/g

/**
 * The user and password of an absolute-form target (`GET http://user:password@host/`): a request
 * refused before it is rewritten to origin form (request-checks.ts) is logged with its target as sent.
 */
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i

/**
 * Who asked what, for the logs: the host as routing reads it (none where it is not a host: the Host an
 * absolute-form target with userinfo became), as nginx's access log has `$host`, and the path stripped
 * of what may carry secrets (its query, fragment, path parameters and userinfo; a target with a
 * fragment is refused, but logged). `client` is the address the caller read while the request was in
 * hand: undici unlinks a request body it has sent from its socket, and a finished response is
 * unlinked from it too.
 */
function requestFields(req: IncomingMessage, client: string | undefined): { method?: string; host?: string; path?: string; client?: string; requestId?: string } {
  const requestId = requestIdOf(req)
  const host = normalizeHost(req.headers.host)
  const path = req.url?.split(/[?#]/, 1)[0]!.replace(USERINFO, '$1').replace(PATH_PARAMETERS, '')
  return { method: req.method, ...(host && { host }), path, client, ...(requestId && { requestId }) }
}

/**
 * What to change, where the failure says it: the refused certificate's own hint (a CA missing from
 * upstream.ca, tls/unknown-issuer.ts), a certificate that does not name what was verified, or an
 * https:// upstream that answered the handshake with no TLS at all (OpenSSL's "wrong version number").
 */
function hintFor({ serverName, hostname, url }: UpstreamUrl, reason: string, code: string | undefined, refusedPeerHint: string | undefined): { hint?: string } {
  if (refusedPeerHint) return { hint: refusedPeerHint }
  if (reason === 'hostname_mismatch') {
    return { hint: `the upstream's certificate does not name ${serverName || hostname}: set upstream.serverName to a name it holds` }
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return { hint: `the upstream did not answer in TLS: if it serves plain HTTP, write upstream.url as ${url.replace(/^https:/, 'http:')}` }
  }
  return {}
}

export function createRequestRecords(logger: Logger, metrics: Metrics): RequestRecords {
  const logRequestFailed = limitedLog(logger, 'warn', 'upstream request failed', CLIENT_CAUSED_LOG_LIMIT)
  const logFailedMidResponse = limitedLog(logger, 'warn', 'upstream failed mid-response', CLIENT_CAUSED_LOG_LIMIT)
  const logUpgradeFailed = limitedLog(logger, 'warn', 'upstream upgrade failed', CLIENT_CAUSED_LOG_LIMIT)
  /**
   * An upstream request that failed, counted once under its reason (Envoy's upstream_cx_connect_fail,
   * upstream_rq_timeout, upstream_cx_destroy_remote_with_active_rq, by reason), and logged as nginx's
   * error log line: who asked what of which upstream, what failed, and the status sent for it (none
   * when the answer was cut short). At most CLIENT_CAUSED_LOG_LIMIT lines a second of each kind: an
   * upstream down under load would log a line per request (about 2,500 a second), and a client can make
   * slow requests time out at will; the metric counts every one.
   */
  const upstreamFailed = (
    log: (fields: object) => void,
    route: Route,
    url: UpstreamUrl,
    req: IncomingMessage,
    client: string | undefined,
    failure: UpstreamFailure,
    status: number | undefined,
    error: Error,
  ) => {
    const { reason, code } = failure
    // The gateway's own 502 and 504 apart from answers the upstream began: the 5xx warning leaves the
    // former to the upstream errors alert (deploy/prometheus/alerts.yaml).
    const stage: UpstreamFailureStage = status === undefined ? 'mid_response' : 'before_response'
    metrics.upstreamErrors.inc({ route: route.name, reason, stage })
    const request = { ...requestFields(req, client), upstream: url.url }
    const summary = errorSummary(error)
    // A refused upstream certificate: which one, and which files of upstream.crl when a CRL refused it.
    const peer = refusedPeerOf(error)
    const refusal = refusalFields(peer?.certificate, summary.code, () => route.config.upstream.crl)
    log({ route: route.name, reason, code, status, ...request, ...refusal, ...hintFor(url, reason, summary.code, peer?.hint), error: summary })
  }

  const logUnreachable = limitedLog(logger, 'warn', 'upstream url unreachable; the request goes to the next url', CLIENT_CAUSED_LOG_LIMIT)
  const logAuthFailed = limitedLog(logger, 'warn', 'forwardAuth service failed', CLIENT_CAUSED_LOG_LIMIT)
  const logAnswerDropped = limitedLog(logger, 'warn', 'upstream url answered a status of upstream.retryOn; the request goes to the next url', CLIENT_CAUSED_LOG_LIMIT)

  /** nginx logs a WebSocket it closes at proxy_read_timeout or proxy_send_timeout ("timed out"). */
  const logWebSocketTimeout = limitedLog(logger, 'info', 'websocket closed at its timeout', CLIENT_CAUSED_LOG_LIMIT)

  /**
   * The access log's line of a request (`accessLog: true`), as nginx's access_log writes one, with the
   * upstream url it went to (the last one tried), as Envoy's default format has its upstream host, and
   * the client certificate of its connection, as an nginx log_format with $ssl_client_s_dn and
   * $ssl_client_fingerprint names it (subject and SHA-256 fingerprint, never the certificate); its
   * User-Agent and the bytes sent for it, as nginx's combined format has $http_user_agent and
   * $bytes_sent, where they are known.
   */
  const logAccess = (route: string, req: IncomingMessage, client: string | undefined, status: number, seconds: number, socket: Duplex | null, bytes?: number) => {
    const upstream = upstreamUrlOf(req)
    const certificate = socket && clientCertificateFields(socket)
    const clientCertificate = certificate && { subject: certificate['tls.client.subject'], fingerprint: certificate['tls.client.fingerprint'] }
    const userAgent = req.headers['user-agent']?.slice(0, MAX_LOGGED_USER_AGENT)
    logger.info(
      {
        route,
        ...requestFields(req, client),
        ...(userAgent && { userAgent }),
        ...(upstream && { upstream }),
        ...(clientCertificate && { clientCertificate }),
        status,
        ...(bytes !== undefined && { bytes }),
        ms: Math.round(seconds * 10_000) / 10,
      },
      'request',
    )
  }

  return {
    answered(snapshot, req, client, route, status, started, socket) {
      const seconds = (performance.now() - started.at) / 1000
      metrics.recordRequest(route, methodLabel(req.method), status, seconds)
      const bytesWritten = bytesWrittenBy(socket)
      const bytes = bytesWritten === undefined || started.bytesWritten === undefined ? undefined : bytesWritten - started.bytesWritten
      if (snapshot.config.accessLog) logAccess(route, req, client, status, seconds, socket, bytes)
    },
    refused(snapshot, status, request) {
      metrics.recordRequest(NO_ROUTE, methodLabel(request?.method), status, 0)
      if (snapshot.config.accessLog && request instanceof IncomingMessage) logAccess(NO_ROUTE, request, clientAddressOf(request.socket), status, 0, request.socket)
    },
    onUpstreamError(route, url, res, failure, error) {
      const headersSent = res.headersSent
      const client = res.socket ? clientAddressOf(res.socket) : undefined
      upstreamFailed(headersSent ? logFailedMidResponse : logRequestFailed, route, url, res.req, client, failure, headersSent ? undefined : failure.status, error)
    },
    onAnswerCutShort(route, url, req, failure, error) {
      upstreamFailed(logFailedMidResponse, route, url, req, clientAddressOf(req.socket), failure, undefined, error)
    },
    upgradeFailed(route, url, req, client, failure, status, error) {
      upstreamFailed(logUpgradeFailed, route, url, req, client, failure, status, error)
    },
    onTimeout(route, req, timeout) {
      logWebSocketTimeout({ route: route.name, timeout, ...requestFields(req, clientAddressOf(req.socket)) })
    },
    /** Envoy's upstream_rq_retry. */
    onRetry(route, error) {
      metrics.upstreamRetries.inc({ route: route.name })
      logger.debug({ route: route.name, error: errorSummary(error) }, 'upstream connection closed before answering; sending the request again')
    },
    /** Counted as a retry too (Envoy's upstream_rq_retry counts a retry to another host); logged as nginx logs a connect() that failed, which it then tries on the next server. */
    onUnreachable(route, url, { reason, code }, error) {
      metrics.upstreamRetries.inc({ route: route.name })
      logUnreachable({ route: route.name, upstream: url.url, reason, code, error: errorSummary(error) })
    },
    /** Counted as a retry, as Envoy counts one on its retriable_status_codes; logged as nginx logs the server it leaves for the next. */
    onAnswerDropped(route, url, status) {
      metrics.upstreamRetries.inc({ route: route.name })
      logAnswerDropped({ route: route.name, upstream: url.url, status })
    },
    authAnswered(route, req, client, verdict) {
      metrics.forwardAuth.inc({ route: route.name, result: verdict.kind })
      if (verdict.kind !== 'failed') return
      logAuthFailed({ route: route.name, ...requestFields(req, client), authService: route.config.forwardAuth?.url, status: verdict.status, error: errorSummary(verdict.error) })
    },
    internalError(route, error) {
      logger.error({ route, code: ErrorCodes.INTERNAL, error: errorSummary(error) }, 'request failed inside the gateway')
    },
  }
}
