/**
 * Upstreams for the tests: the echo service the demo runs (demo/echo-upstream.ts) for most, and any
 * server a test writes for a misbehaviour of its own, listening on an ephemeral loopback port.
 */
import http from 'node:http'
import type { AddressInfo, Server } from 'node:net'

export { startEchoUpstream, type EchoReply, type EchoUpstream } from '../../demo/echo-upstream.js'

/** Listens on an ephemeral loopback port; resolves with the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** A plain HTTP upstream that answers with its name at once, except for /hold (see startHoldingUpstream). */
export interface HoldingUpstream {
  readonly url: string
  readonly server: http.Server
  /** The requests for /hold it holds now. */
  held(): number
  /** Every request it has been sent. */
  arrivals(): number
  /** Answers each request it holds, `<name> held`. */
  release(): void
  close(): void
}

/** Holds each request for /hold until the test calls release(): a request in flight for as long as a test needs. */
export async function startHoldingUpstream(name: string): Promise<HoldingUpstream> {
  const held: http.ServerResponse[] = []
  let arrivals = 0
  const server = http.createServer((req, res) => {
    arrivals++
    if (req.url === '/hold') held.push(res)
    else res.end(name)
  })
  return {
    url: `http://127.0.0.1:${await listenOnLoopback(server)}`,
    server,
    held: () => held.length,
    arrivals: () => arrivals,
    release: () => held.splice(0).forEach((res) => res.end(`${name} held`)),
    close: () => {
      server.closeAllConnections()
      server.close()
    },
  }
}
