/**
 * How a trusted proxy's X-Forwarded-For names the client: from the right, over the trusted proxies'
 * addresses, to the first that is not one; never what the client wrote to the left of its own.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { inRanges, parseIpRange } from '../../src/config/ip-ranges.js'
import { forwardedClient } from '../../src/proxy/forwarded-for.js'

const trusts = inRanges(['10.0.0.0/8', '2001:db8::/32'].map((text) => parseIpRange(text)!))
const LB = '10.0.0.1'
const clientOf = (header: string | undefined) => forwardedClient(header, LB, trusts)

test('takes the rightmost address that is not a trusted proxy', () => {
  assert.equal(clientOf('203.0.113.5'), '203.0.113.5')
  assert.equal(clientOf('198.51.100.1, 203.0.113.5'), '203.0.113.5', 'what the client wrote itself stands to the left')
  assert.equal(clientOf('203.0.113.5, 10.1.1.1, 10.2.2.2'), '203.0.113.5', 'proxies behind proxies')
  assert.equal(clientOf('2001:db8::7, 2001:db9::1'), '2001:db9::1')
})

test('takes the peer without the header, and the leftmost address when every one is trusted', () => {
  assert.equal(clientOf(undefined), LB)
  assert.equal(clientOf(''), LB)
  assert.equal(clientOf('10.9.9.9, 10.1.1.1'), '10.9.9.9')
})

test('stops at an entry that is no address, at the last trusted one', () => {
  assert.equal(clientOf('203.0.113.5, unknown'), LB)
  assert.equal(clientOf('203.0.113.5, _hidden, 10.1.1.1'), '10.1.1.1')
  assert.equal(clientOf('203.0.113.5,,10.1.1.1'), '10.1.1.1', 'an empty entry')
  assert.equal(clientOf('203.0.113.5/24'), LB)
  assert.equal(clientOf('300.0.113.5'), LB)
})

test('reads an address with a port and spaces around it', () => {
  assert.equal(clientOf(' 203.0.113.5:51234 '), '203.0.113.5')
  assert.equal(clientOf('[2001:db9::1]:443, 10.1.1.1'), '2001:db9::1')
  assert.equal(clientOf('[203.0.113.5]:443'), '203.0.113.5')
  assert.equal(clientOf('2001:db9::1:443'), '2001:db9::1:443', 'an IPv6 address without brackets is taken whole')
})
