/**
 * `proxyProtocol.trustedIPs`: a connection from a trusted load balancer begins with a PROXY header
 * (built with proxy-protocol-js, as HAProxy writes it), and the client it names is the client in
 * X-Forwarded-For, X-Real-IP and the logs, on both listeners and for passthrough; a trusted source
 * that sends none is closed, and an untrusted one's header is no request at all.
 */
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import tls from 'node:tls'
import * as pp from 'proxy-protocol-js'
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { rawExchange, rawUntilClosed } from '../helpers/raw.js'
import { startEchoUpstream, type EchoReply, type EchoUpstream } from '../helpers/upstream.js'

const V1_HEADER = Buffer.from(new pp.V1ProxyProtocol(pp.INETProtocol.TCP4, new pp.Peer('192.0.2.7', 51234), new pp.Peer('10.0.0.1', 443)).build())
const ipv6 = (last: number) => pp.IPv6Address.createFrom([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last])
const V2_HEADER = Buffer.from(
  new pp.V2ProxyProtocol(pp.Command.PROXY, pp.TransportProtocol.STREAM, new pp.IPv6ProxyAddress(ipv6(7), 51234, ipv6(1), 443)).build(),
)
const V2_LOCAL = Buffer.from(new pp.V2ProxyProtocol(pp.Command.LOCAL, pp.TransportProtocol.UNSPEC, new pp.UnspecProxyAddress()).build())

describe('proxyProtocol', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  let gw: TestGateway
  let untrusting: TestGateway

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    const to = `upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }`
    const routes = `
accessLog: true
routes:
  - { name: open, host: open.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }, ${to} }
  - { name: pass, host: pass.test, tls: passthrough, upstream: { url: 'tcp://127.0.0.1:${upstream.port}' } }
  - { name: plain, host: plain.test, ${to} }
`
    const listen = 'listen: { https: 127.0.0.1:0, http: 127.0.0.1:0 }'
    gw = await startGateway(`${listen}\nproxyProtocol: { trustedIPs: [10.0.0.0/8, 127.0.0.1] }\n${routes}`)
    untrusting = await startGateway(`${listen}\nproxyProtocol: { trustedIPs: [10.0.0.0/8] }\n${routes}`)
  })
  after(async () => {
    await gw.close()
    await untrusting.close()
    await upstream.close()
  })

  /** A request to `host` on a connection that begins with `header`, as a load balancer opens it. */
  function throughBalancer(target: TestGateway, listener: 'http' | 'https', host: string, header?: Buffer): Promise<EchoReply> {
    const port = target.ports[listener]!
    const connect = () => {
      const socket = net.connect(port, '127.0.0.1')
      if (header) socket.write(header)
      // The echo upstream's certificate, for passthrough, names up.test.
      return listener === 'https' ? tls.connect({ socket, servername: host, ca: pki.caS.cert, checkServerIdentity: () => undefined }) : socket
    }
    return new Promise((resolve, reject) => {
      // No agent: an agent opens its own connections, not createConnection's.
      const req = (listener === 'https' ? https : http).request({ port, headers: { host }, createConnection: connect })
      req.on('response', (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as EchoReply) : reject(new Error(`${res.statusCode}: ${body}`))))
      })
      req.on('error', reject).end()
    })
  }

  it('takes the client a v1 header names on the http listener: X-Forwarded-For, X-Real-IP and the access log', async () => {
    const reply = await throughBalancer(gw, 'http', 'plain.test', V1_HEADER)
    assert.equal(reply.headers['x-forwarded-for'], '192.0.2.7')
    assert.equal(reply.headers['x-real-ip'], '192.0.2.7')
    await eventually(async () => gw.logs.some((line) => line.msg === 'request' && line.client === '192.0.2.7'), 3000, 'the access line')
  })

  it('takes the client a v2 header names before the TLS handshake, and the connection address for LOCAL', async () => {
    assert.equal((await throughBalancer(gw, 'https', 'open.test', V2_HEADER)).headers['x-forwarded-for'], '2001:db8::7')
    assert.equal((await throughBalancer(gw, 'https', 'open.test', V2_LOCAL)).headers['x-forwarded-for'], '127.0.0.1')
  })

  it('passes a passthrough route the TLS stream without the header', async () => {
    assert.equal((await throughBalancer(gw, 'https', 'pass.test', V1_HEADER)).servername, 'pass.test')
  })

  it('reads a header that comes in pieces, the request in the read of its end or after it', async () => {
    const request = 'GET / HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n'
    const header = V1_HEADER.toString()
    for (const pieces of [[header.slice(0, 9), header.slice(9) + request], [header, request]]) {
      const answer = await rawExchange(gw.ports.http!, pieces)
      assert.match(answer, /^HTTP\/1\.1 200 /)
      assert.match(answer, /"x-forwarded-for": "192\.0\.2\.7"/)
    }
  })

  it('closes a trusted source connection that sends no header, unanswered, and says why', async () => {
    assert.equal(await rawUntilClosed(gw.ports.http!, 'GET / HTTP/1.1\r\nHost: plain.test\r\n\r\n'), '')
    await eventually(async () => gw.logs.some((line) => line.msg === 'PROXY protocol header refused; connection closed' && line.reason === 'no PROXY protocol header'), 3000, 'the refusal line')
  })

  it('serves an untrusted source as it comes: its header is no request, and its client is its own', async () => {
    assert.match(await rawUntilClosed(untrusting.ports.http!, `${V1_HEADER}GET / HTTP/1.1\r\nHost: plain.test\r\n\r\n`), /^HTTP\/1\.1 400 /)
    assert.equal((await throughBalancer(untrusting, 'http', 'plain.test')).headers['x-forwarded-for'], '127.0.0.1')
    await assert.rejects(throughBalancer(untrusting, 'https', 'open.test', V2_HEADER))
  })

  it('applies a reload that trusts the source to its next connections', async () => {
    await writeFile(untrusting.configFile, (await readFile(untrusting.configFile, 'utf8')).replace('trustedIPs: [10.0.0.0/8]', 'trustedIPs: [127.0.0.0/8]'))
    assert.equal((await untrusting.gateway.reload()).ok, true)
    assert.equal((await throughBalancer(untrusting, 'https', 'open.test', V2_HEADER)).headers['x-forwarded-for'], '2001:db8::7')
  })
})
