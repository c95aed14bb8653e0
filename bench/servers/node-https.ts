/** node:https answering a 3-byte body itself: Node's own TLS ceiling, no proxying (scenario c). */
import https from 'node:https'
import { ingressTlsOptions, readServerArgs } from './args.js'

const args = readServerArgs()
https
  .createServer(ingressTlsOptions(args), (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 })
    res.end('ok\n')
  })
  .listen(args.port, '127.0.0.1')
