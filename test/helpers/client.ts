/**
 * Real HTTPS and HTTP clients for tests: every option spelled out, nothing pooled (agent: false) unless
 * a test passes an agent of its own, so a test controls SNI, Host and client certificate independently.
 */
import http from 'node:http'
import https from 'node:https'
import tls, { type SecureVersion } from 'node:tls'

/**
 * Whether a TLS server sees the chain its client sent: Node 24.21's getPeerCertificate(true) gives the
 * leaf without issuers (Node 20 and 24.22 give the chain), so the gateway sends no Client-Cert-Chain.
 */
export const serverSeesClientChain = !process.versions.node.startsWith('24.21.')

export interface Reply {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

export interface RequestOptions {
  readonly port: number
  /** Host header; default: the servername. */
  readonly host?: string
  readonly path?: string
  readonly method?: string
  readonly headers?: Record<string, string>
  readonly body?: string
}

export interface TlsRequestOptions extends RequestOptions {
  /** SNI; undefined sends none. */
  readonly servername?: string
  readonly ca: string
  readonly cert?: string
  readonly key?: string
  readonly minVersion?: SecureVersion
  readonly maxVersion?: SecureVersion
  readonly ciphers?: string
  /** A TLS session to resume. */
  readonly session?: Buffer
  /** An agent that keeps its connections alive, for a test of what comes on a reused one. */
  readonly agent?: https.Agent
}

function collect(req: http.ClientRequest, body: string | undefined): Promise<Reply> {
  return new Promise((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

export function httpsRequest(options: TlsRequestOptions): Promise<Reply> {
  const host = options.host ?? options.servername
  const req = https.request({
    host: '127.0.0.1',
    port: options.port,
    // An empty servername tells Node to send no SNI.
    servername: options.servername ?? '',
    // The chain is always verified against `ca`; the name only when SNI was sent (without SNI the
    // gateway serves its default certificate, whatever its name).
    checkServerIdentity: (_host, cert) =>
      options.servername ? tls.checkServerIdentity(options.servername, cert) : undefined,
    ca: options.ca,
    ...(options.cert && { cert: options.cert, key: options.key }),
    ...(options.minVersion && { minVersion: options.minVersion }),
    ...(options.maxVersion && { maxVersion: options.maxVersion }),
    ...(options.ciphers && { ciphers: options.ciphers }),
    ...(options.session && { session: options.session }),
    agent: options.agent ?? false,
    method: options.method ?? 'GET',
    path: options.path ?? '/',
    headers: { ...(host && { host }), ...options.headers },
  })
  return collect(req, options.body)
}

export function httpRequest(options: RequestOptions): Promise<Reply> {
  const req = http.request({
    host: '127.0.0.1',
    port: options.port,
    agent: false,
    method: options.method ?? 'GET',
    path: options.path ?? '/',
    headers: { ...(options.host && { host: options.host }), ...options.headers },
  })
  return collect(req, options.body)
}

export interface SessionExchangeOptions {
  readonly port: number
  /** SNI and Host. */
  readonly servername: string
  readonly version: SecureVersion
  readonly ca: string
  readonly cert?: string
  readonly key?: string
  /** A TLS session to offer. */
  readonly session?: Buffer
  /** The request's path; default /. */
  readonly path?: string
}

/**
 * One request on a new TLS connection of one version, offering a session: whether it resumed, the
 * status (none where the handshake was refused) and the newest session the server gave (the one
 * offered if none came; TLS 1.3 tickets come after the handshake, with the answer).
 */
export async function sessionExchange(options: SessionExchangeOptions): Promise<{ resumed: boolean; status: string | undefined; session: Buffer | undefined }> {
  const { servername, version, session } = options
  const socket = tls.connect({
    port: options.port,
    host: '127.0.0.1',
    servername,
    ca: options.ca,
    minVersion: version,
    maxVersion: version,
    ...(options.cert && { cert: options.cert, key: options.key }),
    ...(session && { session }),
  })
  let next = session
  socket.on('session', (ticket: Buffer) => (next = ticket))
  let reply = ''
  socket.on('data', (chunk: Buffer) => (reply += chunk.toString()))
  // A refused handshake ends in an error (TLS 1.3: after secureConnect); only the reply matters.
  socket.on('error', () => {})
  const closed = new Promise((resolve) => socket.once('close', resolve))
  const resumed = await Promise.race([
    new Promise<boolean>((resolve) => socket.once('secureConnect', () => resolve(socket.isSessionReused()))),
    closed.then(() => false),
  ])
  socket.write(`GET ${options.path ?? '/'} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`)
  await closed
  return { resumed, status: /^HTTP\/1\.1 (\d+)/.exec(reply)?.[1], session: next }
}
