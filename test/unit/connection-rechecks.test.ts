/**
 * RequestServer.recheckConnections over real sockets, with reloads whose checks the test settles by
 * hand: two reloads close together (checks run one a turn, so with thousands of connections or a large
 * CRL a reload's checks take seconds), and an Upgrade that waits for a check its client fails.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { RequestServer, type ReloadedPolicies } from '../../src/proxy/server.js'
import type { TlsPolicy } from '../../src/tls/ingress.js'
import { eventually } from '../helpers/gateway.js'

const P0 = { id: 'p0' } as TlsPolicy
const P1 = { id: 'p1' } as TlsPolicy

/** A reload after which new handshakes get `policyNow`, whose checks pass or fail as `passes` settles. */
function reloadTo(policyNow: TlsPolicy, passes: Promise<boolean>): ReloadedPolicies {
  return { policyNow: () => policyNow, clientPasses: () => passes, recheckWebSocket: async () => undefined }
}

/** A promise and its resolve. */
function verdict(): { promise: Promise<boolean>; settle: (passed: boolean) => void } {
  let settle!: (passed: boolean) => void
  return { promise: new Promise((resolve) => (settle = resolve)), settle }
}

/** Resolves true if `socket` ends within `ms`. */
function endsWithin(socket: net.Socket, ms: number): Promise<boolean> {
  const ended = once(socket, 'end').then(() => true)
  return Promise.race([ended, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))])
}

describe('the re-checks of keep-alive connections after a reload', () => {
  let listener: net.Server
  let server: RequestServer
  /** What the handlers were asked to do: proxy an upgrade, or count a refusal. */
  const handled: string[] = []

  before(async () => {
    const handlers = {
      request: (_snapshot: unknown, _policy: unknown, req: { url?: string }) => void handled.push(`request ${req.url}`),
      upgrade: async () => void handled.push('upgrade'),
      refused: (_snapshot: unknown, status: number) => void handled.push(`refused ${status}`),
    }
    server = new RequestServer(() => undefined as never, handlers)
    listener = net.createServer((socket) => server.accept(socket, P0)).listen(0, '127.0.0.1')
    await once(listener, 'listening')
  })
  after(async () => {
    listener.close()
    await server.close()
  })

  /** A client connection, accepted under P0; `allowHalfOpen`: it keeps its side open once the gateway has closed its own. */
  async function connect({ allowHalfOpen = false } = {}): Promise<net.Socket> {
    const client = net.connect({ port: (listener.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen })
    client.on('error', () => undefined)
    await once(client, 'connect')
    await new Promise((resolve) => setImmediate(resolve))
    return client
  }

  it('leaves a connection open when a second reload puts its host back under its policy before the first one’s check fails', { timeout: 5000 }, async () => {
    const client = await connect()
    const first = verdict()
    server.recheckConnections(reloadTo(P1, first.promise))
    server.recheckConnections(reloadTo(P0, Promise.resolve(true)))
    first.settle(false)
    assert.equal(await endsWithin(client, 500), false, 'closed by the verdict of a check against P1, which no config serves now')
    client.destroy()
  })

  // The handler went on to forward it, and took a limits.requests slot that no close of its response
  // ever gave back.
  it('counts a request that waited for the check, and does not handle it, once the request server has refused its malformed body', { timeout: 5000 }, async () => {
    handled.length = 0
    // Which holds the connection open after the 400, until the verdict.
    const client = await connect({ allowHalfOpen: true })
    const check = verdict()
    server.recheckConnections(reloadTo(P1, check.promise))
    let answer = ''
    client.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk))
    client.write('POST /malformed HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')
    await eventually(async () => answer.startsWith('HTTP/1.1 400 '), 3000, 'the 400')
    check.settle(true)
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.deepEqual(handled, ['refused 400'], 'counted as a refusal, and never handled')
    client.destroy()
  })

  it('answers 421 to an Upgrade that waited for the check its client failed, rather than make it a WebSocket', { timeout: 5000 }, async () => {
    handled.length = 0
    const client = await connect()
    const check = verdict()
    server.recheckConnections(reloadTo(P1, check.promise))
    client.write('GET /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
    await new Promise((resolve) => setTimeout(resolve, 50))
    check.settle(false)
    let answer = ''
    client.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk))
    await once(client, 'end')
    assert.match(answer, /^HTTP\/1\.1 421 /)
    assert.deepEqual(handled, ['refused 421'])
    client.destroy()
  })
})
