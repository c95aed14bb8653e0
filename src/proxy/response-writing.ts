/**
 * Node keeps no public handle on the response that holds a socket; released-sockets.ts and
 * finish-deadline.ts both need it, so the one read of Node's internal field is here.
 */
import type http from 'node:http'
import type { Duplex } from 'node:stream'

/**
 * The response Node is writing on `socket` now (its `_httpMessage`, set while a response holds the
 * socket, from assignSocket to detachSocket); null between responses. Undefined on a Node that no
 * longer keeps it.
 */
export function responseWriting(socket: Duplex): http.ServerResponse | null | undefined {
  return (socket as Duplex & { _httpMessage?: http.ServerResponse | null })._httpMessage
}
