/**
 * `httpsRedirect`: the http listener sends a request for a route with `tls` (mutual TLS and passthrough
 * included) to the same host and path over HTTPS, on the public port it names, with 308; routes
 * without `tls` are served there as before, and a Host no route has still gets 404.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { httpRequest, httpsRequest } from '../helpers/client.js'
import { seriesValue, startGateway, type TestGateway } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { rawExchange, rawUntilClosed } from '../helpers/raw.js'
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream.js'

describe('httpsRedirect', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  let gw: TestGateway
  let on8443: TestGateway

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    const cert = `cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}`
    const to = `upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test }`
    const routes = `
routes:
  - { name: open, host: open.test, tls: { ${cert} }, ${to} }
  - { name: mtls, host: a.test, tls: { ${cert}, clientCAs: ${pki.caA.certFile} }, ${to} }
  - { name: pass, host: pass.test, tls: passthrough, upstream: { url: 'tcp://127.0.0.1:${upstream.port}' } }
  - { name: plain, host: plain.test, ${to} }
`
    gw = await startGateway(`listen: { https: 127.0.0.1:0, http: 127.0.0.1:0 }\nhttpsRedirect: 443\n${routes}`)
    on8443 = await startGateway(`listen: { https: 127.0.0.1:0, http: 127.0.0.1:0 }\nhttpsRedirect: 8443\n${routes}`)
  })
  after(async () => {
    await gw.close()
    await on8443.close()
    await upstream.close()
  })

  const ask = (target: TestGateway, host: string, path = '/', method = 'GET') => httpRequest({ port: target.ports.http!, host, path, method })

  it('sends a request for a TLS route to its host and path over HTTPS with 308, without the port for 443', async () => {
    const reply = await ask(gw, 'open.test', '/orders/7?expand=items')
    assert.equal(reply.status, 308)
    assert.equal(reply.headers.location, 'https://open.test/orders/7?expand=items')
    // 308, not 301: a POST is sent on as a POST, body and all.
    assert.equal((await ask(gw, 'open.test', '/orders', 'POST')).headers.location, 'https://open.test/orders')
    assert.equal((await ask(on8443, 'open.test', '/x')).headers.location, 'https://open.test:8443/x')
    assert.equal(upstream.requests.length, 0, 'nothing reaches the upstream over plaintext')
  })

  it('names the host as routing read it, and the path as it was checked', async () => {
    assert.equal((await ask(on8443, 'Open.Test.:8080', '/a//b/../c')).headers.location, 'https://open.test:8443/a/c')
    const absolute = await rawExchange(gw.ports.http!, 'GET http://OPEN.test/x?y HTTP/1.1\r\nHost: plain.test\r\n\r\n')
    assert.match(absolute, /^HTTP\/1\.1 308 /)
    assert.match(absolute, /\r\nLocation: https:\/\/open\.test\/x\?y\r\n/i)
  })

  it('redirects mutual TLS and passthrough routes too, and the location is served over HTTPS', async () => {
    assert.equal((await ask(gw, 'a.test', '/p')).headers.location, 'https://a.test/p')
    assert.equal((await ask(gw, 'pass.test', '/p')).headers.location, 'https://pass.test/p')
    const followed = await httpsRequest({ port: gw.ports.https!, servername: 'a.test', ca: pki.caS.cert, cert: pki.cliA.cert, key: pki.cliA.key, path: '/p' })
    assert.equal(followed.status, 200)
  })

  it('serves plaintext routes, answers 404 to an unknown host, and counts the 308s under no route', async () => {
    const counted = () => seriesValue(gw, 'portcullis_requests_total{route="(none)",method="GET",code="308"}')
    const before = await counted()
    assert.equal((await ask(gw, 'plain.test')).status, 200)
    assert.equal((await ask(gw, 'nowhere.test')).status, 404)
    await ask(gw, 'open.test')
    assert.equal((await counted()) - before, 1)
  })

  it('keeps the connection after a 308, and redirects a WebSocket upgrade, closing it', async () => {
    const twice = await rawExchange(gw.ports.http!, 'GET /1 HTTP/1.1\r\nHost: open.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: open.test\r\n\r\n')
    assert.equal(twice.match(/^HTTP\/1\.1 308 /gm)?.length, 2, twice)
    const upgrade = await rawUntilClosed(
      gw.ports.http!,
      'GET /ws HTTP/1.1\r\nHost: open.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    assert.match(upgrade, /^HTTP\/1\.1 308 /)
    assert.match(upgrade, /\r\nLocation: https:\/\/open\.test\/ws\r\n/)
  })
})
