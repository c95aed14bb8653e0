/**
 * `requestId: true`: each request the handlers take carries an X-Request-Id, to the upstream and in
 * the logs, so that a line of the gateway's log and one of the upstream's tell of the same request.
 * One a client or a proxy before the gateway sent is kept where it is an id (Kong's correlation-id
 * and Heroku's router keep it too; Envoy's edge replaces it); any other gets a new one, a UUID.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http'

export const REQUEST_ID_HEADER = 'x-request-id'

/**
 * An id as proxies and tracing libraries make them (UUIDs, base64, hex; Heroku keeps 20 to 200 of
 * these characters): one value of visible characters, nothing that reads as text or a list.
 */
const KEPT_ID = /^[A-Za-z0-9+/=._:-]{8,200}$/

const ASSIGNED = Symbol('request id')

type WithId = IncomingMessage & { [ASSIGNED]?: string }

/** The request's id, put in its headers (kept or made): the upstream gets it with them. */
export function assignRequestId(req: IncomingMessage): string {
  const sent = req.headers[REQUEST_ID_HEADER]
  const id = typeof sent === 'string' && KEPT_ID.test(sent) ? sent : randomUUID()
  req.headers[REQUEST_ID_HEADER] = id
  ;(req as WithId)[ASSIGNED] = id
  return id
}

/** The id assignRequestId gave the request, for its log lines; none where `requestId` is off. */
export function requestIdOf(req: IncomingMessage): string | undefined {
  return (req as WithId)[ASSIGNED]
}

/**
 * The X-Request-Id of an answer written without the handler's ServerResponse (an upgrade's), which a
 * header of the same name from the upstream replaces, as it does on a request's; none where it is off.
 */
export function requestIdHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const id = requestIdOf(req)
  return id === undefined ? {} : { [REQUEST_ID_HEADER]: id }
}
