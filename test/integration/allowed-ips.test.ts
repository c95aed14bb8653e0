/**
 * A route's allowedIPs and deniedIPs: a request from an address they do not take is answered 403 on a connection
 * that stays open, whatever SNI the connection was made with, WebSocket upgrades included; the
 * address a trusted load balancer's PROXY header names is the one checked; and a passthrough
 * connection from such an address is closed before any upstream is reached.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import { after, before, describe, it } from 'node:test'
import * as pp from 'proxy-protocol-js'
import WebSocket from 'ws'
import { httpsRequest } from '../helpers/client.js'
import { loggedAfter, requestsCounted, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js'

/** The load balancer: connections from this loopback address begin with a PROXY header. */
const BALANCER = '127.0.0.2'

describe('allowedIPs', () => {
  let gw: TestGateway
  let upstream: EchoUpstream
  let pki: TestPki

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream(pki.up)
    const to = `upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }`
    const tlsOf = `tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }`
    gw = await startGateway(`
listen: { https: 127.0.0.1:0, http: 127.0.0.1:0 }
proxyProtocol: { trustedIPs: [${BALANCER}] }
routes:
  - { name: loopback, host: open.test, allowedIPs: [127.0.0.0/8, '::1'], ${tlsOf}, ${to} }
  - { name: office, host: a.test, allowedIPs: [10.0.0.0/8], ${tlsOf}, ${to} }
  - { name: office-plain, host: office.test, allowedIPs: [10.0.0.0/8], ${to} }
  - { name: office-path, host: open.test, path: /office, allowedIPs: [10.0.0.0/8], ${tlsOf}, ${to} }
  - { name: blocked, host: blocked.test, deniedIPs: ['127.0.0.1', '::1'], ${to} }
  - { name: loopback-but, host: but.test, allowedIPs: [127.0.0.0/8], deniedIPs: [127.0.0.1], ${to} }
  - { name: office-pass, host: pass.test, tls: passthrough, allowedIPs: [10.0.0.0/8], upstream: { url: 'tcp://127.0.0.1:${upstream.port}' } }
`)
  })
  after(async () => {
    await gw.close()
    await upstream.close()
    await pki.cleanup()
  })

  it('serves an address the route takes and answers 403 to one it does not, on the same connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const on = (host: string) =>
      new Promise<{ status: number; socket: net.Socket }>((resolve, reject) => {
        http
          .get({ port: gw.ports.http, host: '127.0.0.1', headers: { host }, agent }, (res) => {
            res.resume().on('end', () => resolve({ status: res.statusCode!, socket: res.socket }))
          })
          .on('error', reject)
      })
    const forbidden = await on('office.test')
    assert.equal(forbidden.status, 403)
    assert.equal((await on('office.test')).socket, forbidden.socket, 'the connection stays open after a 403')
    agent.destroy()
    assert.equal(await requestsCounted(gw, 'route="office-plain",method="GET"', 403), 2)
  })

  /** The status of a request for `host` through the load balancer, its PROXY header naming `client`. */
  const from = async (client: string, host: string) => {
    const header = new pp.V1ProxyProtocol(pp.INETProtocol.TCP4, new pp.Peer(client, 51234), new pp.Peer('10.0.0.1', 80)).build()
    const socket = net.connect({ port: gw.ports.http!, host: '127.0.0.1', localAddress: BALANCER })
    socket.write(`${header}GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
    let answer = ''
    for await (const chunk of socket) answer += String(chunk)
    return answer.split(' ', 2)[1]
  }

  it('with deniedIPs, answers 403 to an address listed, whatever allowedIPs take, and serves others', async () => {
    assert.deepEqual(await Promise.all([from('127.0.0.1', 'blocked.test'), from('192.0.2.7', 'blocked.test')]), ['403', '200'])
    assert.deepEqual(await Promise.all([from('127.0.0.1', 'but.test'), from('127.0.0.9', 'but.test'), from('192.0.2.7', 'but.test')]), ['403', '200', '403'])
  })

  it('holds whatever SNI the connection was made with, and by path', async () => {
    const request = (host: string, path = '/') => httpsRequest({ port: gw.ports.https!, servername: 'open.test', host, path, ca: pki.caS.cert })
    assert.equal((await request('open.test')).status, 200)
    assert.equal((await request('a.test')).status, 403)
    assert.equal((await request('open.test', '/office/x')).status, 403)
  })

  it('refuses a WebSocket upgrade with 403', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports.http}/`, { headers: { host: 'office.test' } })
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, http.IncomingMessage]
    assert.equal(res.statusCode, 403)
  })

  it("checks the client a trusted load balancer's PROXY header names", async () => {
    assert.equal(await from('10.1.2.3', 'office.test'), '200')
    assert.equal(await from('192.0.2.7', 'office.test'), '403')
  })

  it('closes a passthrough connection from an address the route does not take, before any upstream', async () => {
    const since = gw.logs.length
    const handshakesBefore = upstream.connections.length
    const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'pass.test', ca: pki.caS.cert, checkServerIdentity: () => undefined })
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException]
    assert.equal(error.code, 'ECONNRESET')
    const logged = await loggedAfter(gw, since, "passthrough connection closed: the route's allowedIPs or deniedIPs do not take its address")
    assert.deepEqual([logged.route, logged.client], ['office-pass', '127.0.0.1'])
    assert.equal(upstream.connections.length, handshakesBefore)
  })

  it('refuses what is not an address or a range, naming it', async () => {
    await assert.rejects(
      startGateway(`listen: { http: 127.0.0.1:0 }\nroutes:\n  - { host: x.test, allowedIPs: [10.0.0.0/8, 10.0.0.0/33], upstream: { url: 'http://127.0.0.1:1' } }\n`),
      (error: Error & { issues?: { path: string; message: string }[] }) => {
        assert.deepEqual(
          error.issues?.map(({ path, message }) => `${path}: ${message}`),
          ["routes[0].allowedIPs[1]: '10.0.0.0/33' is not an IP address or a CIDR range (e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)"],
        )
        return true
      },
    )
  })
})
