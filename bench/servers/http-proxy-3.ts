/**
 * http-proxy-3 as the design card had it: node:https in, a keep-alive https.Agent with the client
 * certificate out. Without an agent http-proxy(-3) sends `Connection: close` (one handshake per
 * request); without an error listener it throws.
 */
import https from 'node:https'
import { createProxyServer } from 'http-proxy-3'
import { ingressTlsOptions, readServerArgs, upstreamTlsOptions } from './args.js'

const args = readServerArgs()
const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ...upstreamTlsOptions(args) })
const proxy = createProxyServer({
  target: `https://127.0.0.1:${args.upstreamPort}`,
  agent,
  secure: true,
})
proxy.on('error', (_error, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502).end()
  else res.destroy()
})

https.createServer(ingressTlsOptions(args), (req, res) => proxy.web(req, res)).listen(args.port, '127.0.0.1')
