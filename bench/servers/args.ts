/** What the bench passes to a server process (JSON in argv[2]), and the ingress options they share. */
import { readFileSync } from 'node:fs'
import type { ServerOptions } from 'node:https'
import type { BenchPki } from '../pki.js'

export interface ServerArgs {
  readonly port: number
  readonly ingressMtls: boolean
  readonly pki: BenchPki
  readonly upstreamPort: number
  readonly upstreamName: string
}

export function readServerArgs(): ServerArgs {
  const raw = process.argv[2]
  if (!raw) throw new Error('usage: <server>.ts <json ServerArgs>')
  return JSON.parse(raw) as ServerArgs
}

/** Ingress TLS as every peer has it: the localhost certificate; with mTLS, a verified client cert. */
export function ingressTlsOptions(args: ServerArgs): ServerOptions {
  return {
    cert: readFileSync(args.pki.server.cert),
    key: readFileSync(args.pki.server.key),
    ...(args.ingressMtls && { ca: readFileSync(args.pki.ca), requestCert: true, rejectUnauthorized: true }),
    keepAliveTimeout: 300_000,
  }
}

/** The proxies' identity towards the upstream, and the CA and name that verify it. */
export function upstreamTlsOptions(args: ServerArgs) {
  return {
    ca: readFileSync(args.pki.ca),
    cert: readFileSync(args.pki.gateway.cert),
    key: readFileSync(args.pki.gateway.key),
    servername: args.upstreamName,
    rejectUnauthorized: true,
  }
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

/** Headers without the hop-by-hop ones: the least a proxy must do. */
export function endToEnd(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
  }
  return out
}
