/**
 * Whether a request that failed on a pooled upstream connection may be sent again (proxy/resend.ts):
 * the pool (upstream.ts) tracks each of its connections here from its connect until it closes.
 */
import type { Socket } from 'node:net'

interface SocketAddresses {
  readonly localAddress?: string
  readonly localPort?: number
  readonly remoteAddress?: string
  readonly remotePort?: number
}

const addressKey = ({ localAddress, localPort, remoteAddress, remotePort }: SocketAddresses) =>
  JSON.stringify([localAddress, localPort, remoteAddress, remotePort])

/**
 * Whether each open connection of one pool had read an answer before the request now on it was
 * written. A pooled connection the upstream closed under a request had: sending the request again is
 * safe. A new one that died part way through its first answer has read bytes too, but had not: the
 * request may be what killed it. undici's errors carry a copy of the socket's addresses, never the
 * socket, so the entries are keyed by both ends of the connection (the kernel gives one local port to
 * connections to different upstreams).
 */
export class ConnectionAnswers {
  private readonly answeredBeforeRequest = new Map<string, () => boolean>()

  /** The connection an upstream request failed on had answered an earlier request. */
  hadAnswered(error: Error): boolean {
    const socket = (error as { socket?: SocketAddresses }).socket
    return socket !== undefined && this.answeredBeforeRequest.get(addressKey(socket))?.() === true
  }

  /** Each new connection of the pool, from its connect until it closes. */
  track(socket: Socket): void {
    const { localAddress, localPort, remoteAddress, remotePort } = socket
    const addresses: SocketAddresses = { localAddress, localPort, remoteAddress, remotePort }
    const key = addressKey(addresses)
    // undici writes a request without a body (the only kind sent again) in one write. bytesRead counts
    // response bytes only, on a TLS socket too.
    let readBeforeLastWrite = 0
    const write = socket.write
    socket.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
      readBeforeLastWrite = socket.bytesRead
      return write.apply(this, args)
    } as Socket['write']
    const answered = () => readBeforeLastWrite > 0
    this.answeredBeforeRequest.set(key, answered)
    // undici fails the request in its own 'close' listener, which runs after this one. Only this
    // connection's entry: a later one with the same addresses may have taken the key by then.
    socket.once('close', () =>
      setImmediate(() => {
        if (this.answeredBeforeRequest.get(key) === answered) this.answeredBeforeRequest.delete(key)
      }),
    )
    // undici's own socket errors carry the addresses; one the socket raises (a reset) gets them here.
    socket.on('error', (socketError: Error & { socket?: SocketAddresses }) => {
      socketError.socket ??= addresses
    })
  }
}
