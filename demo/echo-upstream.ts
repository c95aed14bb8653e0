/**
 * A small HTTPS service that requires a client certificate and answers with who called it and what it
 * received. The demo runs it behind the gateway; the tests use it as a real upstream.
 */
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'

export interface EchoReply {
  readonly method: string
  readonly url: string
  readonly headers: Record<string, string | string[] | undefined>
  /** Subject CN of the client certificate the gateway presented, or null. */
  readonly clientCertCN: string | null
  readonly servername: string | null
  readonly body: string
}

export interface EchoUpstreamOptions {
  readonly cert: string
  readonly key: string
  /** CA bundle that verifies callers; with it, a client certificate is required. */
  readonly clientCA?: string
  readonly port?: number
  readonly host?: string
}

export interface EchoUpstream {
  readonly server: https.Server
  readonly port: number
  /** Client certificate CNs of every TLS connection accepted, in order. */
  readonly connections: (string | null)[]
  /** The target (`/path?query`) of every request received, in order: what reached this upstream. */
  readonly requests: string[]
  close(): Promise<void>
}

/** The subject CN of the certificate a TLS peer presented, or null when it presented none. */
function peerCommonName(socket: TLSSocket): string | null {
  const cn = socket.getPeerCertificate()?.subject?.CN
  return (Array.isArray(cn) ? cn[0] : cn) ?? null
}

export async function startEchoUpstream(options: EchoUpstreamOptions): Promise<EchoUpstream> {
  const connections: (string | null)[] = []
  const requests: string[] = []
  const server = https.createServer(
    {
      cert: options.cert,
      key: options.key,
      ...(options.clientCA && { ca: options.clientCA, requestCert: true, rejectUnauthorized: true }),
    },
    (req, res) => {
      requests.push(req.url ?? '')
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const socket = req.socket as TLSSocket
        const reply: EchoReply = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          clientCertCN: peerCommonName(socket),
          servername: socket.servername || null,
          body: Buffer.concat(chunks).toString('utf8'),
        }
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(`${JSON.stringify(reply, null, 2)}\n`)
      })
    },
  )
  server.on('secureConnection', (socket: TLSSocket) => {
    connections.push(peerCommonName(socket))
  })
  await new Promise<void>((resolve, reject) => {
    // A port taken (the demo's is fixed) rejects, rather than crash the process as an unhandled 'error'.
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    server,
    port: (server.address() as AddressInfo).port,
    connections,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
