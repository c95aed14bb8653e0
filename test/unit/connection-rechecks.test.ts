/**
 * ConnectionRechecks over a RequestServer and real TLS connections, with reloads whose checks the test
 * settles by hand: two reloads close together (checks run one a turn, so with thousands of connections
 * or a large CRL a reload's checks take seconds), and an Upgrade that waits for a check its client
 * fails. Only the snapshot and the TLS policies are stand-ins: a snapshot gives every new handshake the
 * one policy it names, and a policy's check of a client passes or fails as the test settles it.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import tls from 'node:tls'
import { pino } from 'pino'
import { ConnectionRechecks } from '../../src/connection-rechecks.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { RequestServer } from '../../src/proxy/server.js'
import type { Snapshot } from '../../src/snapshot/snapshot.js'
import type { TlsPolicy } from '../../src/tls/ingress.js'
import { PASS, refused } from '../../src/tls/recheck.js'
import { eventually } from '../helpers/gateway.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'

/** The policy every connection is verified under; its client sent no certificate. */
const P0 = { id: 'p0', clientChain: () => [] } as unknown as TlsPolicy

/** A policy whose check of a client passes or fails as `passes` settles. */
function checkedBy(passes: Promise<boolean>): TlsPolicy {
  return { id: 'p1', requiresClientCert: true, clientTrust: { check: async () => ((await passes) ? PASS : refused('CERT_REVOKED')) } } as unknown as TlsPolicy
}

/** A snapshot under which every new handshake gets `policy`. */
function snapshotOf(policy: TlsPolicy): Snapshot {
  return { ingressFor: () => ({ kind: 'terminate', policy }) } as unknown as Snapshot
}

/** A promise and its resolve. */
function verdict(): { promise: Promise<boolean>; settle: (passed: boolean) => void } {
  let settle!: (passed: boolean) => void
  return { promise: new Promise((resolve) => (settle = resolve)), settle }
}

/** Resolves true if `socket` ends within `ms`. */
function endsWithin(socket: tls.TLSSocket, ms: number): Promise<boolean> {
  const ended = once(socket, 'end').then(() => true)
  return Promise.race([ended, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))])
}

describe('the re-checks of keep-alive connections after a reload', () => {
  let pki: TestPki
  let listener: tls.Server
  let server: RequestServer
  let rechecks: ConnectionRechecks
  let serving: Snapshot
  /** What the handlers were asked to do: proxy an upgrade, or count a refusal. */
  const handled: string[] = []

  before(async () => {
    pki = await makeTestPki()
    const handlers = {
      request: (_snapshot: unknown, _policy: unknown, req: { url?: string }) => void handled.push(`request ${req.url}`),
      upgrade: async () => void handled.push('upgrade'),
      refused: (_snapshot: unknown, status: number) => void handled.push(`refused ${status}`),
    }
    server = new RequestServer(() => undefined as never, handlers)
    serving = snapshotOf(P0)
    rechecks = new ConnectionRechecks(createMetrics({ defaultMetrics: false }), pino({ level: 'silent' }), () => serving, server, () => undefined)
    listener = tls.createServer({ key: pki.srv.key, cert: pki.srv.cert }, (socket) => server.accept(socket, P0)).listen(0, '127.0.0.1')
    await once(listener, 'listening')
  })
  after(async () => {
    listener.close()
    await server.close()
    await pki.cleanup()
  })

  /** A reload to `snapshot`, as Gateway.apply makes it once the snapshot serves. */
  function reloadTo(snapshot: Snapshot): void {
    serving = snapshot
    rechecks.recheckAll(snapshot)
  }

  /** A client connection, accepted under P0; `allowHalfOpen`: it keeps its side open once the gateway has closed its own. */
  async function connect({ allowHalfOpen = false } = {}): Promise<tls.TLSSocket> {
    const accepted = once(listener, 'secureConnection')
    const port = (listener.address() as AddressInfo).port
    // tls.connect hands allowHalfOpen to its TLSSocket, though its type does not list it.
    const client = tls.connect({ port, host: '127.0.0.1', servername: 'a.test', ca: pki.caS.cert, allowHalfOpen } as tls.ConnectionOptions)
    client.on('error', () => undefined)
    await Promise.all([once(client, 'secureConnect'), accepted])
    return client
  }

  it('leaves a connection open when a second reload puts its host back under its policy before the first one’s check fails', { timeout: 5000 }, async () => {
    const client = await connect()
    const first = verdict()
    reloadTo(snapshotOf(checkedBy(first.promise)))
    reloadTo(snapshotOf(P0))
    first.settle(false)
    assert.equal(await endsWithin(client, 500), false, 'closed by the verdict of a check against p1, which no config serves now')
    client.destroy()
  })

  // The handler went on to forward it, and took a limits.requests slot that no close of its response
  // ever gave back.
  it('counts a request that waited for the check, and does not handle it, once the request server has refused its malformed body', { timeout: 5000 }, async () => {
    handled.length = 0
    // Which holds the connection open after the 400, until the verdict.
    const client = await connect({ allowHalfOpen: true })
    const check = verdict()
    reloadTo(snapshotOf(checkedBy(check.promise)))
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
    reloadTo(snapshotOf(checkedBy(check.promise)))
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
