/**
 * The private parts of Node that portcullis leans on, each asserted on the running Node and named
 * with the module that needs it. Behaviour tests cover what each hook is for, but on a Node that
 * renamed one they fail far from the cause (a 408 where a 400 was due, a handshake counted under no
 * route); this file says which hook went. Real loopback connections, handed over as the gateway hands
 * them (a TCP server emits each socket into the TLS server).
 */
import assert from 'node:assert/strict'
import { executionAsyncResource } from 'node:async_hooks'
import { once } from 'node:events'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import tls, { TLSSocket } from 'node:tls'
import { makeTestPki, type TestPki } from '../helpers/pki.js'
import { listenOnLoopback } from '../helpers/upstream.js'

/** What is read of a server connection's internals, as the modules named in each test read it. */
type Internals = Record<string, unknown> & { _handle?: Record<string, unknown> | null }
const internals = (value: object) => value as unknown as Internals

describe('the Node internals portcullis uses', () => {
  let pki: TestPki

  before(async () => {
    pki = await makeTestPki()
  })
  after(() => pki.cleanup())

  it('a TLS server connection: SNICallback called on its TLSSocket (tls/ingress.ts), _parent (client-address.ts), _handle.verifyError (tls/peer-certificates.ts), _handle.onhandshakestart (tls/renegotiation.ts)', async () => {
    let sniThis: unknown
    const tlsServer = tls.createServer({
      cert: pki.srv.cert,
      key: pki.srv.key,
      ca: pki.caA.cert,
      requestCert: true,
      // Kept open with a chain that does not verify, so that the verdict can be read.
      rejectUnauthorized: false,
      SNICallback(this: unknown, _serverName, callback) {
        sniThis = this
        callback(null, undefined)
      },
    })
    const handedOver: net.Socket[] = []
    const tcpServer = net.createServer((socket) => {
      handedOver.push(socket)
      tlsServer.emit('connection', socket)
    })
    const port = await listenOnLoopback(tcpServer)
    try {
      const secured = once(tlsServer, 'secureConnection') as Promise<[TLSSocket]>
      const client = tls.connect({ port, host: '127.0.0.1', servername: 'a.test', ca: pki.caS.cert, cert: pki.cliB.cert, key: pki.cliB.key })
      client.on('error', () => {})
      const [connection] = await secured
      client.destroy()

      assert.ok(sniThis instanceof TLSSocket, 'SNICallback is no longer called as a method of the connection')
      assert.equal(sniThis, connection)
      assert.equal(internals(connection)._parent, handedOver[0], '_parent is not the TCP socket handed to the TLS server')
      const handle = internals(connection)._handle
      assert.equal(typeof handle?.verifyError, 'function', '_handle.verifyError() is gone')
      assert.equal((handle!.verifyError as () => { code?: string } | null).call(handle)?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
      assert.equal(typeof handle?.onhandshakestart, 'function', '_handle.onhandshakestart is gone')
    } finally {
      tcpServer.close()
    }
  })

  it("an HTTP server connection: its parser's per-read and first-byte callbacks (proxy/request-lines.ts), _httpMessage (proxy/finish-deadline.ts), IncomingMessage._dump (proxy/request-body.ts)", async () => {
    const server = http.createServer()
    const port = await listenOnLoopback(server)
    try {
      const requested = once(server, 'request') as Promise<[IncomingMessage, ServerResponse]>
      const client = http.get({ port, host: '127.0.0.1', path: '/' })
      client.on('error', () => {})
      const [req, res] = await requested
      const parser = internals(req.socket).parser as (Record<number | string, unknown> & { constructor: Record<string, unknown> }) | undefined
      assert.ok(parser, 'the socket has no parser')
      const { kOnExecute, kOnMessageBegin } = parser.constructor
      assert.equal(typeof kOnExecute, 'number', 'HTTPParser.kOnExecute is gone')
      assert.equal(typeof parser[kOnExecute as number], 'function', 'the parser has no per-read callback')
      assert.equal(typeof kOnMessageBegin, 'number', 'HTTPParser.kOnMessageBegin is gone')
      assert.equal(parser[kOnMessageBegin as number] ?? null, null, "Node's server now sets the callback for a request's first byte")
      assert.equal(typeof parser.getCurrentBuffer, 'function', 'the parser has no getCurrentBuffer()')
      assert.equal(parser.incoming, req, 'parser.incoming is not the request parsed last')
      assert.equal(internals(req.socket)._httpMessage, res, '_httpMessage is not the response being written')
      assert.equal(typeof internals(req)._dump, 'function', 'IncomingMessage._dump is gone')
      res.end()
      client.destroy()
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })

  it('a process.nextTick task is its callback\'s async resource (next-tick-shapes.ts)', async () => {
    const resource = await new Promise<object>((resolve) => process.nextTick(() => resolve(executionAsyncResource())))
    assert.equal(typeof resource, 'object')
    assert.ok('callback' in resource, 'the resource in a nextTick callback is not its task')
  })
})
