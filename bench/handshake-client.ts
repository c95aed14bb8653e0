/**
 * Load generator of scenario c: new TLS connection per request, with a client certificate, no session
 * resumption (no session is offered). Each of `concurrency` loops connects, sends one
 * `Connection: close` request, reads the whole answer and starts over. Prints "measuring" when the
 * warm-up ends, then one JSON line.
 * Run as its own process on the load core: `node --import tsx bench/handshake-client.ts '<json>'`.
 */
import { readFileSync } from 'node:fs'
import tls from 'node:tls'

export interface HandshakeClientArgs {
  readonly port: number
  readonly servername: string
  readonly ca: string
  readonly cert: string
  readonly key: string
  readonly concurrency: number
  readonly warmupSeconds: number
  readonly durationSeconds: number
}

export interface HandshakeClientResult {
  readonly ok: number
  readonly errors: number
  /** Connect to last byte of the answer, per connection. */
  readonly p50Ms: number
  readonly p99Ms: number
}

function once(args: HandshakeClientArgs, secureContext: tls.SecureContext): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = ''
    const socket = tls.connect({ host: '127.0.0.1', port: args.port, servername: args.servername, secureContext })
    socket.setEncoding('utf8')
    // Write, do not end: a half-close (close_notify) before the answer makes servers drop the request.
    socket.once('secureConnect', () => {
      socket.write(`GET / HTTP/1.1\r\nHost: ${args.servername}\r\nConnection: close\r\n\r\n`)
    })
    socket.on('data', (chunk: string) => (answer += chunk))
    socket.once('end', () => socket.end())
    socket.once('error', () => resolve(false))
    socket.once('close', () => resolve(answer.startsWith('HTTP/1.1 200')))
  })
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as HandshakeClientArgs
  // One context for every connection, as an HTTP client's agent keeps one: building it from the PEM
  // files per connection cost the generator about a third of its CPU, and the generator, not the
  // server, then set the rate.
  // X25519 alone, as wrk and nginx (OpenSSL 3.0) negotiate: a Node 24 generator would otherwise make
  // the Node servers, and them alone, do the costlier X25519MLKEM768.
  const secureContext = tls.createSecureContext({ ca: readFileSync(args.ca), cert: readFileSync(args.cert), key: readFileSync(args.key), ecdhCurve: 'X25519' })
  const warmEnd = performance.now() + args.warmupSeconds * 1000
  const end = warmEnd + args.durationSeconds * 1000
  let measuring = false
  let ok = 0
  let errors = 0
  const latencies: number[] = []
  const loop = async () => {
    for (;;) {
      const t0 = performance.now()
      if (t0 >= end) return
      if (!measuring && t0 >= warmEnd) {
        measuring = true
        process.stdout.write('measuring\n')
      }
      const success = await once(args, secureContext)
      if (!measuring) continue
      if (success) ok++
      else errors++
      latencies.push(performance.now() - t0)
    }
  }
  await Promise.all(Array.from({ length: args.concurrency }, loop))
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
  const result: HandshakeClientResult = { ok, errors, p50Ms: at(0.5), p99Ms: at(0.99) }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

void main()
