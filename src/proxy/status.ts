/**
 * Answers from the gateway itself (no route, misdirected, upstream failed), with the standard reason
 * phrases and, at most, a fixed sentence of the gateway's: error texts and upstream details go to the
 * log, never to the client.
 */
import { STATUS_CODES, type OutgoingHttpHeaders, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { dropWhatFollows } from './lingering-close.js'

function statusBody(status: number, detail: string | undefined): string {
  return `${status} ${STATUS_CODES[status] ?? ''}${detail ? `: ${detail}` : ''}\n`
}

/** A short plain-text answer, with `headers` of the request's own (a redirect's Location). */
export function sendStatus(res: ServerResponse, status: number, detail?: string, headers: OutgoingHttpHeaders = {}): void {
  const body = statusBody(status, detail)
  res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/**
 * How long a refusal of a few hundred bytes, written without a ServerResponse, may take to go out: a
 * client that has not taken it by then is not reading, and a TLS socket that OpenSSL stopped after a
 * fatal alert of an unknown code never finishes a write at all (responses have the same bound,
 * finish-deadline.ts).
 */
const REFUSAL_WRITE_DEADLINE_MS = 5_000

/**
 * The same answer where there is no ServerResponse (before HTTP, or on an Upgrade), then close: the
 * socket is destroyed once the answer is out, not left to a client that never closes its side; or,
 * `lingering` (a client that may still be sending: the body of a request refused at its head), once
 * the client has stopped sending (lingering-close.ts). It carries Date, as a ServerResponse does and
 * RFC 9110 6.6.1 asks of a 4xx, and `headers` of the request's own (a redirect's Location, its X-Request-Id).
 */
export function endWithStatus(
  socket: Duplex,
  status: number,
  detail?: string,
  { lingering = false, headers = {} }: { lingering?: boolean; headers?: OutgoingHttpHeaders } = {},
): void {
  const body = statusBody(status, detail)
  const deadline = setTimeout(() => socket.destroy(), REFUSAL_WRITE_DEADLINE_MS).unref()
  socket.once('close', () => clearTimeout(deadline))
  socket.once('finish', () => {
    clearTimeout(deadline)
    if (lingering) dropWhatFollows(socket as Socket)
    else socket.destroy()
  })
  const head = {
    Date: new Date().toUTCString(),
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  }
  socket.end(responseHead(status, head, ['Connection: close']) + body)
}

/**
 * An HTTP/1.1 response head written by hand, for a socket that has no ServerResponse: the status line,
 * `connectionLines` (what becomes of the connection: `Connection: close`, or the Upgrade's two), then
 * `headers`.
 */
export function responseHead(status: number, headers: OutgoingHttpHeaders, connectionLines: readonly string[]): string {
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`, ...connectionLines]
  for (const [name, value] of Object.entries(headers)) {
    for (const v of [value ?? []].flat()) lines.push(`${name}: ${v}`)
  }
  return `${lines.join('\r\n')}\r\n\r\n`
}
