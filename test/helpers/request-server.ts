/** A RequestServer fed one loopback connection, for the tests of what it does with a connection's bytes. */
import { once } from 'node:events'
import net from 'node:net'
import { RequestServer, type RequestHandlers } from '../../src/proxy/server.js'

/** The server's end of the connection (`accepted`) and the client's; `request` takes each request in its turn. */
export async function requestServerConnection(request: RequestHandlers['request']) {
  const handlers = { request, upgrade: async () => undefined, refused: () => undefined }
  const server = new RequestServer(() => undefined as never, handlers)
  const listener = net.createServer().listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1')
  const [accepted] = (await once(listener, 'connection')) as [net.Socket]
  server.accept(accepted)
  const close = async () => {
    client.destroy()
    listener.close()
    await server.close()
  }
  return { accepted, client, close }
}
