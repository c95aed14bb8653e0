/**
 * Raw bytes to a listener, for requests no well-behaved client library would send: plaintext to a
 * port, or over TLS to a host that SNI names.
 */
import net from 'node:net'
import tls from 'node:tls'

/**
 * A TLS listener's port and the CA that verifies its certificate; the name sent in SNI (none without),
 * a client certificate, how the server's name is checked.
 */
export type TlsTarget = { readonly port: number; readonly ca: string } & Pick<tls.ConnectionOptions, 'servername' | 'cert' | 'key' | 'checkServerIdentity'>

/** A plaintext listener's port, or a TLS one. */
export type RawTarget = number | TlsTarget

/** What is written: at once, or piece by piece, PIECE_GAP_MS apart, for a server to read in several reads. */
type RawRequest = string | Buffer | readonly string[]

const PIECE_GAP_MS = 50

/**
 * The longest wait for the first byte of an answer: a busy machine, or a request that first opens its
 * upstream connection, can take longer to begin answering than a quiet spell lasts.
 */
const ANSWER_WITHIN_MS = 5000

/**
 * Writes `request` and resolves with everything received until the server closes, or goes quiet for
 * `quietMs` once it has begun to answer (after ANSWER_WITHIN_MS if it never does).
 */
export function rawExchange(target: RawTarget, request: RawRequest, quietMs = 500): Promise<string> {
  return exchange(target, request, { quietMs })
}

/**
 * Writes `request` and resolves with everything received once the server closes the connection;
 * rejects if it is still open after `withinMs`. For answers after which the connection must close.
 */
export function rawUntilClosed(target: RawTarget, request: RawRequest, withinMs = 5000): Promise<string> {
  return exchange(target, request, { closedWithinMs: withinMs })
}

/** What ends an exchange besides the server's close: a quiet spell, or a deadline for the close. */
type Until = { readonly quietMs: number } | { readonly closedWithinMs: number }

function exchange(target: RawTarget, request: RawRequest, until: Until): Promise<string> {
  return new Promise((resolve, reject) => {
    // A TLS socket holds what is written before its handshake ends, and sends it after.
    const socket = typeof target === 'number' ? net.connect(target, '127.0.0.1') : tls.connect({ host: '127.0.0.1', ...target })
    const chunks: Buffer[] = []
    let timer: NodeJS.Timeout | undefined
    const settle = (error?: Error) => {
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(Buffer.concat(chunks).toString('latin1'))
    }
    const arm = () => {
      clearTimeout(timer)
      timer =
        'quietMs' in until
          ? setTimeout(() => settle(), chunks.length === 0 ? Math.max(until.quietMs, ANSWER_WITHIN_MS) : until.quietMs)
          : setTimeout(() => settle(new Error(`the connection was still open ${until.closedWithinMs} ms after the request`)), until.closedWithinMs)
    }
    arm()
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if ('quietMs' in until) arm()
    })
    socket.on('close', () => settle())
    socket.on('error', (error) => settle(chunks.length > 0 ? undefined : error))
    if (typeof request === 'string' || Buffer.isBuffer(request)) socket.write(request)
    else writeInPieces(socket, request)
  })
}

function writeInPieces(socket: net.Socket, pieces: readonly string[]): void {
  const [piece, ...rest] = pieces
  if (piece === undefined || socket.destroyed) return
  socket.write(piece)
  setTimeout(() => writeInPieces(socket, rest), PIECE_GAP_MS)
}
