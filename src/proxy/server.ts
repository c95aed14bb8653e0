/**
 * The one HTTP server behind every listener, for the life of the process. The plaintext listener hands
 * it raw sockets; each TLS policy server hands it the sockets it verified, and the policy is remembered
 * per socket. Every request is routed on the snapshot current when it arrives, so a reload reaches
 * keep-alive connections at their next request, and a request in flight finishes where it started.
 */
import http from 'node:http'
import type { Duplex } from 'node:stream'
import type { Snapshot } from '../snapshot.js'
import type { TlsPolicy } from '../tls/ingress.js'

/** Slowloris and idle keep-alive bounds, as nginx and Envoy set them by default. */
const HTTP_SERVER_OPTIONS: http.ServerOptions = {
  requestTimeout: 60_000,
  headersTimeout: 20_000,
  keepAliveTimeout: 65_000,
  maxHeaderSize: 16 * 1024,
  noDelay: true,
}

export interface RequestHandlers {
  readonly request: (snapshot: Snapshot, policy: TlsPolicy | undefined, req: http.IncomingMessage, res: http.ServerResponse) => void
  readonly upgrade: (snapshot: Snapshot, policy: TlsPolicy | undefined, req: http.IncomingMessage, socket: Duplex, head: Buffer) => void
}

export interface RequestServer {
  /** A plaintext socket (no policy), or a TLS socket that passed `policy`'s client authentication. */
  accept(socket: Duplex, policy?: TlsPolicy): void
  /**
   * Closes idle keep-alive connections now and every other one after its current response; the
   * gateway destroys what is left when the grace period ends.
   */
  drain(): void
}

export function createRequestServer(current: () => Snapshot, handlers: RequestHandlers): RequestServer {
  const server = http.createServer(HTTP_SERVER_OPTIONS)
  // This server never listens: connections arrive through accept(). Node starts the connection tracking
  // behind closeIdleConnections() and the headersTimeout/requestTimeout checks (slowloris) on
  // 'listening', so emit it; close() stops that tracking again.
  server.emit('listening')
  const policyOf = new WeakMap<object, TlsPolicy>()
  let draining = false

  server.on('request', (req, res) => {
    if (draining) res.shouldKeepAlive = false
    handlers.request(current(), policyOf.get(req.socket), req, res)
  })
  server.on('upgrade', (req, socket, head) => handlers.upgrade(current(), policyOf.get(req.socket), req, socket, head))

  return {
    accept(socket, policy) {
      if (draining) {
        socket.destroy()
        return
      }
      if (policy) policyOf.set(socket, policy)
      server.emit('connection', socket)
    },
    drain() {
      draining = true
      server.close()
    },
  }
}
