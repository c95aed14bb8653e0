/**
 * Clients too slow to be worth waiting for (catalogue LA-05, LA-06): no ClientHello, part of one, a
 * handshake left unfinished, request headers dripped a line a second. Each is closed at the gateway's
 * own timeout (10 s for the TLS handshake, 20 s for the headers), counted, and the others served.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import { captureClientHello } from '../helpers/client-hello.js'
import { httpsRequest } from '../helpers/client.js'
import { seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback } from '../helpers/upstream.js'

const HANDSHAKE_TIMEOUT_MS = 10_000
const HEADERS_TIMEOUT_MS = 20_000
/** How late a timeout may be seen: Node checks the headers timeout once a second; a busy machine. */
const LATE_MS = 2_500

describe('slow clients', () => {
  let pki: TestPki
  let upstream: http.Server
  let gw: TestGateway

  before(async () => {
    pki = await makeTestPki()
    upstream = http.createServer((_req, res) => res.end('ok'))
    await listenOnLoopback(upstream)
    gw = await startGateway(`
listen: { https: 127.0.0.1:0 }
routes:
  - { name: open, host: open.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
`)
  })
  after(async () => {
    await gw.close()
    upstream.close()
    await pki.cleanup()
  })

  /** Resolves with how long after now `socket` closed, and what it was sent. */
  const closedAfter = (socket: net.Socket) => {
    const started = performance.now()
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
    socket.on('error', () => undefined)
    return once(socket, 'close').then(() => ({ ms: performance.now() - started, received }))
  }
  const timeouts = (route: string) => seriesValue(gw, `portcullis_tls_handshakes_total{side="ingress",route="${route}",result="error",reason="timeout"}`)

  it('closes each at its timeout, counts the handshakes as timeouts, and serves other clients meanwhile', { timeout: 60_000 }, async () => {
    const before = { none: await timeouts('(none)'), open: await timeouts('open') }
    const hello = await captureClientHello({ servername: 'open.test' })
    const connect = async (bytes: Buffer | string) => {
      const socket = net.connect(gw.ports.https!, '127.0.0.1')
      await once(socket, 'connect')
      socket.write(bytes)
      return socket
    }
    // Nothing, half a ClientHello: never handed to TLS. A whole one: a handshake never finished.
    const handshakes = (await Promise.all(['', hello.subarray(0, hello.length >> 1), hello].map(connect))).map(closedAfter)
    const dripping = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'open.test', ca: pki.caS.cert })
    await once(dripping, 'secureConnect')
    const dripped = closedAfter(dripping)
    dripping.write('GET / HTTP/1.1\r\nHost: open.test\r\n')
    const drip = setInterval(() => dripping.writable && dripping.write('X-Slow: 1\r\n'), 1000)
    try {
      assert.equal((await httpsRequest({ port: gw.ports.https!, servername: 'open.test', ca: pki.caS.cert })).status, 200, 'served meanwhile')
      for (const { ms } of await Promise.all(handshakes)) assert.ok(ms >= HANDSHAKE_TIMEOUT_MS - 100 && ms < HANDSHAKE_TIMEOUT_MS + LATE_MS, `${ms} ms`)
      assert.deepEqual({ none: (await timeouts('(none)')) - before.none, open: (await timeouts('open')) - before.open }, { none: 2, open: 1 })
      const { ms, received } = await dripped
      assert.ok(ms >= HEADERS_TIMEOUT_MS - 100 && ms < HEADERS_TIMEOUT_MS + LATE_MS, `${ms} ms`)
      assert.match(received, /^HTTP\/1\.1 408 /)
    } finally {
      clearInterval(drip)
      dripping.destroy()
    }
  })
})
