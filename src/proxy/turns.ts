/**
 * The turns of a connection's requests. Node parses pipelined requests as they come, but a request is
 * answered only once the response ahead of it has gone out, as nginx answers them one at a time: what
 * must not write into that response (a refusal, an Upgrade) waits for it here.
 */
import http from 'node:http'

/** What a connection's turns depend on: its latest response; 'upgraded' once out of Node's HTTP parser. */
export interface ResponseAhead {
  readonly lastResponse?: http.ServerResponse | 'upgraded'
}

/** Runs `run` once the response going out ahead on this connection has gone out (busy), else at once. */
export function inTurn(connection: ResponseAhead, run: () => void): void {
  if (busy(connection)) connection.lastResponse.once('finish', run)
  else run()
}

/**
 * A response is still going out on this connection, or still holds it (pipelined requests wait for
 * it). It holds the socket until Node's own 'finish' handler detaches it, which can come a tick after
 * its last write completed (writableFinished; on Node 20, a plaintext write completes at once): a
 * request parsed in between must not take the socket from it.
 */
export function busy<C extends ResponseAhead>(connection: C): connection is C & { readonly lastResponse: http.ServerResponse } {
  const last = connection.lastResponse
  return last instanceof http.ServerResponse && (!last.writableFinished || last.socket !== null)
}
