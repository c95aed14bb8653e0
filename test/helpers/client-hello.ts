/**
 * The first TLS record a real Node client sends, caught by a TCP server that never answers: bytes for
 * the ClientHello parser's tests, and a ClientHello to send part or all of by hand.
 */
import net from 'node:net'
import tls from 'node:tls'
import { listenOnLoopback } from './upstream.js'

export async function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer()
  const port = await listenOnLoopback(server)
  try {
    const received = new Promise<Buffer>((resolve) => {
      server.once('connection', (socket) => {
        let bytes = Buffer.alloc(0)
        socket.on('data', (chunk: Buffer) => {
          bytes = Buffer.concat([bytes, chunk])
          // Read the record length here rather than trust the parser under test.
          if (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt16BE(3)) {
            socket.destroy()
            resolve(bytes)
          }
        })
      })
    })
    const client = tls.connect({ host: '127.0.0.1', port, ...options })
    client.on('error', () => {}) // the server hangs up mid-handshake, by design
    const bytes = await received
    client.destroy()
    return bytes
  } finally {
    server.close()
  }
}
