/**
 * RecheckQueue promises "one check a turn of the event loop", so that a reload that finds thousands
 * of connections open does not stall the requests in flight. The gateway asks for every check in one
 * synchronous loop (ConnectionRechecks.recheckAll, connection-rechecks.ts), as this test does.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { after, before, it } from 'node:test'
import type { TLSSocket } from 'node:tls'
import type { TlsPolicy } from '../../src/tls/ingress.js'
import { RecheckQueue } from '../../src/tls/recheck-queue.js'
import { ClientTrust } from '../../src/tls/recheck.js'
import { makeTestPki, type TestPki } from '../helpers/pki.js'

let pki: TestPki
before(async () => (pki = await makeTestPki()))
after(() => pki.cleanup())

it('lets the event loop turn between the checks of the WebSockets one reload finds', async () => {
  const chain = [new X509Certificate(pki.leaf.cert), new X509Certificate(pki.int.cert)]
  const trust = new ClientTrust([new X509Certificate(pki.root.cert)], [pki.crlRootEmpty.pem, pki.crlIntEmpty.pem])
  // The CRLs parsed and verified, as after the first tunnel of a reload.
  assert.equal((await trust.check(chain)).pass, true)

  const tunnels = 50
  let checked = 0
  let checkedWhenTimerRan = -1
  const verifiedUnder = {
    clientChain: () => {
      checked++
      if (checked === 1) {
        // A timer due before the second check begins: a turn of the event loop runs it.
        setTimeout(() => (checkedWhenTimerRan = checked), 0)
        const due = performance.now() + 5
        while (performance.now() < due);
      }
      return chain
    },
  } as unknown as TlsPolicy
  const policyNow = { clientTrust: trust } as unknown as TlsPolicy
  const fullHandshake = { isSessionReused: () => false } as unknown as TLSSocket
  const rechecks = new RecheckQueue()
  const verdicts = await Promise.all(Array.from({ length: tunnels }, () => rechecks.recheckClient(fullHandshake, verifiedUnder, policyNow)))
  await new Promise((resolve) => setTimeout(resolve, 20))

  assert.ok(verdicts.every((verdict) => verdict.pass))
  assert.ok(checkedWhenTimerRan >= 1 && checkedWhenTimerRan <= 2, `a timer due after the first check ran only after ${checkedWhenTimerRan} of ${tunnels} checks`)
})
