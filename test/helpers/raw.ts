/**
 * Raw bytes to a listener, for requests no well-behaved client library would send.
 */
import net from 'node:net'

/**
 * The longest wait for the first byte of an answer: a busy machine, or a request that first opens its
 * upstream connection, can take longer to begin answering than a quiet spell lasts.
 */
const ANSWER_WITHIN_MS = 5000

/**
 * Writes `request` and resolves with everything received until the server closes, or goes quiet for
 * `quietMs` once it has begun to answer (after ANSWER_WITHIN_MS if it never does).
 */
export function rawExchange(port: number, request: string | Buffer, quietMs = 500): Promise<string> {
  return exchange(port, request, { quietMs })
}

/**
 * Writes `request` and resolves with everything received once the server closes the connection;
 * rejects if it is still open after `withinMs`. For answers after which the connection must close.
 */
export function rawUntilClosed(port: number, request: string | Buffer, withinMs = 5000): Promise<string> {
  return exchange(port, request, { closedWithinMs: withinMs })
}

/** What ends an exchange besides the server's close: a quiet spell, or a deadline for the close. */
type Until = { readonly quietMs: number } | { readonly closedWithinMs: number }

function exchange(port: number, request: string | Buffer, until: Until): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
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
    socket.write(request)
  })
}
