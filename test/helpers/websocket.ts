import type http from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import { startGateway, type TestGateway } from './gateway.js'
import { listenOnLoopback } from './upstream.js'

/** Makes `server` a WebSocket upstream that answers each message with `echo <message>`. */
export function echoWebSockets<S extends http.Server>(server: S): S {
  new WebSocketServer({ server }).on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data.toString()}`)))
  return server
}

/** Listens with `upstream`, and starts a gateway with one plain-HTTP route to it: ws.test. */
export async function gatewayInFrontOf(upstream: http.Server): Promise<TestGateway> {
  await listenOnLoopback(upstream)
  return startGateway(`
listen: { http: 127.0.0.1:0 }
routes:
  - { host: ws.test, upstream: { url: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}' } }
`)
}
