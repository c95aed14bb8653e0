import type http from 'node:http'
import { WebSocketServer } from 'ws'

/** Makes `server` a WebSocket upstream that answers each message with `echo <message>`. */
export function echoWebSockets<S extends http.Server>(server: S): S {
  new WebSocketServer({ server }).on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data.toString()}`)))
  return server
}
