/** TLS ticket keys: the same for a policy wherever the secret is, different for another policy, secret or period. */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { policyId } from '../../src/tls/ingress.js'
import { newTicketSecret, TicketKeyRotation, ticketKeys, ticketLifetimeSeconds } from '../../src/tls/ticket-keys.js'

it('derives 48 bytes per policy from the secret, the same in every process that has it', () => {
  const secret = newTicketSecret()
  const open = policyId({ clientCertRequired: true, crl: [], minVersion: 'TLSv1.2' })
  const mtls = policyId({ clientCAs: { pem: 'CA PEM' }, clientCertRequired: true, crl: [], minVersion: 'TLSv1.2' })
  const optional = policyId({ clientCAs: { pem: 'CA PEM' }, clientCertRequired: false, crl: [], minVersion: 'TLSv1.2' })
  assert.equal(ticketKeys(secret, open, 1).length, 48)
  assert.deepEqual(ticketKeys(Buffer.from(secret), open, 1), ticketKeys(secret, open, 1), 'a worker with a copy of the secret')
  assert.notDeepEqual(ticketKeys(secret, mtls, 1), ticketKeys(secret, open, 1), 'other client CAs')
  assert.notDeepEqual(ticketKeys(secret, optional, 1), ticketKeys(secret, mtls, 1), 'a certificate optional, not required')
  assert.notDeepEqual(ticketKeys(newTicketSecret(), open, 1), ticketKeys(secret, open, 1), 'another start')
  assert.notDeepEqual(ticketKeys(secret, open, 2), ticketKeys(secret, open, 1), 'the next hour')
})

it('advertises tickets for as long as their keys last, in whole seconds and never 0 (OpenSSL would read 7200 s)', () => {
  assert.equal(ticketLifetimeSeconds(3_600_000), 3600)
  assert.equal(ticketLifetimeSeconds(1500), 2)
  assert.equal(ticketLifetimeSeconds(200), 1)
})

it('moves the keys on to each period as it begins, and at no other time', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 10_500 })
  const rotation = new TicketKeyRotation(1000)
  assert.equal(rotation.epoch, 10)
  const periods: number[] = []
  rotation.start((epoch) => periods.push(epoch))
  t.mock.timers.tick(499)
  assert.deepEqual(periods, [], 'half a period to go')
  t.mock.timers.tick(1)
  assert.deepEqual(periods, [11])
  t.mock.timers.tick(999)
  assert.deepEqual(periods, [11])
  t.mock.timers.tick(1)
  assert.deepEqual(periods, [11, 12])
  assert.equal(rotation.epoch, 12)
  rotation.stop()
  t.mock.timers.tick(5000)
  assert.deepEqual(periods, [11, 12], 'none after stop()')
})
