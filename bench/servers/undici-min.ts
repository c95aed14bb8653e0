/**
 * The minimal undici proxy of the research notes' perf-baseline.md: node:https in, one undici Pool
 * (keep-alive, mutual TLS) out, `pool.stream()` writing straight into the client's response. No
 * routing, no metrics, and undici's own TLS session cache, as a user would have it: it holds sessions
 * through WeakRefs, so the first full GC after a session arrives (under load, every second or two)
 * drops it and a connection the pool adds later is a full handshake (portcullis keeps its pool's
 * session; see bench/README.md).
 */
import https from 'node:https'
import { Pool, type Dispatcher } from 'undici'
import { endToEnd, ingressTlsOptions, readServerArgs, upstreamTlsOptions } from './args.js'

const args = readServerArgs()
const upstream = upstreamTlsOptions(args)
const pool = new Pool(`https://127.0.0.1:${args.upstreamPort}`, {
  connections: 64,
  keepAliveTimeout: 60_000,
  connect: upstream,
})

https
  .createServer(ingressTlsOptions(args), (req, res) => {
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
    // undici takes the SNI from each request's Host unless told: pin the upstream's name.
    const options: Dispatcher.RequestOptions & { servername: string } = {
      path: req.url!,
      method: req.method as Dispatcher.HttpMethod,
      headers: endToEnd(req.headers),
      body: hasBody ? req : null,
      servername: upstream.servername,
    }
    pool.stream(
      options,
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, endToEnd(headers))
        return res
      },
      (error) => {
        if (!error) return
        if (!res.headersSent) res.writeHead(502).end()
        else res.destroy()
      },
    )
  })
  .listen(args.port, '127.0.0.1')
