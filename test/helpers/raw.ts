/**
 * Raw bytes to a listener, for requests no well-behaved client library would send.
 */
import net from 'node:net'

/** Writes `request` and resolves with everything received until the server closes or goes quiet. */
export function rawExchange(port: number, request: string | Buffer, quietMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const finish = () => {
      socket.destroy()
      resolve(Buffer.concat(chunks).toString('latin1'))
    }
    let timer = setTimeout(finish, quietMs)
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      clearTimeout(timer)
      timer = setTimeout(finish, quietMs)
    })
    socket.on('close', () => {
      clearTimeout(timer)
      finish()
    })
    socket.on('error', (error) => (chunks.length > 0 ? finish() : reject(error)))
    socket.write(request)
  })
}
