/**
 * The HTTPS listener's first step: read the ClientHello from the raw TCP bytes, decide by its SNI which
 * TLS policy server terminates the connection (or which passthrough upstream gets the raw stream), and
 * hand the socket over with the bytes put back. Nothing is decrypted here.
 */
import net from 'node:net'
import { clientAddressOf } from '../client-address.js'
import type { IngressDecision } from '../snapshot/snapshot.js'
import { endWithStatus } from './status.js'
import { passThrough, type PassthroughHooks } from './passthrough.js'
import { ClientHelloReader, type ClientHelloResult } from '../tls/client-hello.js'
import type { HandshakeOutcome } from '../tls/ingress.js'

/** How long a new connection has to send its ClientHello. */
export const CLIENT_HELLO_TIMEOUT_MS = 10_000

interface SniDispatchHooks {
  readonly decide: (serverName: string | undefined, localAddress: string | undefined) => IngressDecision
  /**
   * A connection that never got to a handshake: no ClientHello within CLIENT_HELLO_TIMEOUT_MS
   * (`timeout`), plain HTTP (`protocol_version`, what OpenSSL would say), a malformed ClientHello
   * (`other`, with what is wrong with it as the detail) or one that no TLS policy takes (`other`), or a
   * close part way through one (`connection_reset`). One that closes without sending a byte (a TCP
   * health check) is not a handshake, and is not reported.
   */
  readonly onRefused: (outcome: HandshakeOutcome) => void
  /** What happens to the connections of passthrough routes. */
  readonly passthrough: PassthroughHooks
}

/** Reports a connection refused before its handshake (SniDispatchHooks.onRefused), timed from its accept. */
type Refuse = (reason: HandshakeOutcome['reason'], detail?: string) => void

export class SniDispatcher {
  /** The connections still waiting for their ClientHello. */
  private readonly waiting = new Set<net.Socket>()
  private draining = false

  constructor(private readonly hooks: SniDispatchHooks) {}

  /** A new connection to the HTTPS listener: its ClientHello is read, and the connection handed on. */
  dispatch(socket: net.Socket): void {
    const { waiting } = this
    const started = performance.now()
    const clientAddress = clientAddressOf(socket)
    const refuse: Refuse = (reason, detail) =>
      this.hooks.onRefused({ route: undefined, clientAddress, durationSeconds: (performance.now() - started) / 1000, reason, ...(detail && { detail }), resumed: false })
    // Dropped once the ClientHello is read: onClose, which lives as long as the socket, shares this scope.
    let received: ClientHelloReader | undefined = new ClientHelloReader()
    waiting.add(socket)
    const timer = setTimeout(() => {
      stopWaiting()
      refuse('timeout')
      socket.destroy()
    }, CLIENT_HELLO_TIMEOUT_MS)
    const stopWaiting = () => {
      clearTimeout(timer)
      waiting.delete(socket)
    }
    // Stays for the life of the socket: an error (a client that resets while the gateway answers it)
    // must never go unhandled, and the TLS or passthrough side that takes over destroys the socket too.
    const onError = () => socket.destroy()
    // Still waiting when it closes: the client left part way through its ClientHello.
    const onClose = () => {
      if (waiting.has(socket) && received!.bytes.length > 0) refuse('connection_reset')
      stopWaiting()
    }
    const onData = (chunk: Buffer) => {
      const hello = received!.push(chunk)
      if (hello.kind === 'incomplete') return
      const buffered = received!.bytes
      received = undefined
      stopWaiting()
      socket.off('data', onData)
      socket.pause()
      this.handOver(socket, hello, buffered, refuse)
    }
    socket.on('data', onData)
    socket.on('error', onError)
    socket.once('close', onClose)
  }

  /**
   * The drain begins: the connections still waiting for their ClientHello close `windowMs` from now
   * (they have sent no request, but one may be on its way, as RequestServer.drain allows for).
   */
  drain(windowMs: number): void {
    this.draining = true
    const closeThem = () => {
      for (const socket of this.waiting) {
        // Our close, not the client's: not a refused handshake.
        this.waiting.delete(socket)
        socket.destroy()
      }
    }
    if (this.waiting.size > 0) setTimeout(closeThem, windowMs).unref()
  }

  /**
   * What becomes of a connection once its ClientHello is read (`buffered`, paused, not yet handed
   * back). During the drain a passthrough connection is closed: a tunnel begun then would hold the
   * shutdown for the whole grace period, as a WebSocket would.
   */
  private handOver(
    socket: net.Socket,
    hello: Exclude<ClientHelloResult, { kind: 'incomplete' }>,
    buffered: Buffer,
    refuse: Refuse,
  ): void {
    if (hello.kind === 'plain-http') {
      refuse('protocol_version')
      // nginx answers plain HTTP on its TLS port the same way. The request's body may still be coming.
      endWithStatus(socket, 400, 'plain HTTP was sent to the HTTPS port', { lingering: true })
      return
    }
    if (hello.kind === 'not-tls') {
      // As OpenSSL ends a handshake that gets no TLS record ("wrong version number"): unanswered.
      refuse('protocol_version')
      socket.destroy()
      return
    }
    if (hello.kind === 'invalid') {
      refuse('other', hello.reason)
      socket.destroy()
      return
    }
    const decision = this.hooks.decide(hello.serverName, socket.localAddress)
    if (decision.kind === 'reject') {
      refuse('other')
      socket.destroy()
    } else if (decision.kind === 'passthrough') {
      if (this.draining) socket.destroy()
      else passThrough(socket, buffered, decision.route, this.hooks.passthrough)
    } else {
      socket.unshift(buffered)
      decision.policy.accept(socket, hello.serverName, decision.route)
    }
  }
}
