/**
 * Upstreams for the tests: the echo service the demo runs (demo/echo-upstream.ts) for most, and any
 * server a test writes for a misbehaviour of its own, listening on an ephemeral loopback port.
 */
import type { AddressInfo, Server } from 'node:net'

export { startEchoUpstream, type EchoReply, type EchoUpstream } from '../../demo/echo-upstream.js'

/** Listens on an ephemeral loopback port; resolves with the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}
