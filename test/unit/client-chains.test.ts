/** The client chains remembered for each TLS policy's resumed sessions, across reloads, and what is remembered by client certificate. */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { policyId } from '../../src/tls/ingress.js'
import { ClientChainsByPolicy, RecentByCertificate } from '../../src/tls/peer-certificates.js'

it('keeps the chains of the policies a reload keeps, and frees those of the policies it removes', () => {
  const kept = policyId({ clientCAs: { pem: 'CA A' }, clientCertRequired: true, crl: [], minVersion: 'TLSv1.2' })
  const removed = policyId({ clientCAs: { pem: 'CA B' }, clientCertRequired: true, crl: [], minVersion: 'TLSv1.2' })
  const byPolicy = new ClientChainsByPolicy()
  const keptChains = byPolicy.of(kept)
  const removedChains = byPolicy.of(removed)
  assert.equal(byPolicy.of(removed), removedChains, 'one set of chains per policy')
  // The gateway passes each new snapshot's policies, a map by id.
  byPolicy.keepOnly(new Set([kept]))
  assert.equal(byPolicy.of(kept), keptChains)
  assert.notEqual(byPolicy.of(removed), removedChains, 'a removed policy that comes back starts with none remembered')
})

it('remembers the last certificates it was given, and forgets the one longest unremembered', () => {
  const recent = new RecentByCertificate<string>(2)
  recent.remember('A', 'a')
  recent.remember('B', 'b')
  recent.remember('A', 'a again')
  recent.remember('C', 'c')
  assert.deepEqual(['A', 'B', 'C'].map((fingerprint) => recent.get(fingerprint)), ['a again', undefined, 'c'])
})
