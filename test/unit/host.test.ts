import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { addressHost, isRouteHost, isWildcardHost, lookupHost, normalizeHost, normalizeServerName } from '../../src/routing/host.js'

const label63 = 'a'.repeat(63)
// 4 labels of 63 plus 3 dots = 255; trimmed to exactly 253 and 254.
const name253 = `${label63}.${label63}.${label63}.${'a'.repeat(61)}`
const name254 = `${label63}.${label63}.${label63}.${'a'.repeat(62)}`

// [Host header or SNI name, expected routing key]
const NORMALIZE: ReadonlyArray<readonly [string | undefined, string | undefined]> = [
  ['a.test', 'a.test'],
  ['Orders.Example.COM', 'orders.example.com'],
  ['localhost', 'localhost'],
  ['internal_svc.local', 'internal_svc.local'],
  ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
  ['127.0.0.1', '127.0.0.1'],
  // the ends of each range of characters a name may hold
  ['AZ.az.09-_', 'az.az.09-_'],

  // ports: up to 5 digits, at most 65535; an empty one is the default (RFC 3986 3.2.3)
  ['a.test:8443', 'a.test'],
  ['a.test:0', 'a.test'],
  ['a.test:65535', 'a.test'],
  ['a.test:9090', 'a.test'],
  ['127.0.0.1:8080', '127.0.0.1'],
  ['a.test:65536', undefined],
  ['a.test:123456', undefined],
  ['a.test:', 'a.test'],
  ['a.test:+80', undefined],
  ['a.test:8x', undefined],
  ['a.test: 80', undefined],
  ['a.test:80:80', undefined],
  [':443', undefined],

  // one trailing dot is the same name (CVE-2022-23632), two is an empty label
  ['a.test.', 'a.test'],
  ['A.Test.:443', 'a.test'],
  ['a.test..', undefined],
  ['.a.test', undefined],
  ['a..test', undefined],
  ['.', undefined],
  ['..', undefined],

  // IPv6 only in brackets; no zone id, no IPvFuture
  ['[::1]', '::1'],
  ['[::1]:8443', '::1'],
  ['[2001:DB8::A]', '2001:db8::a'],
  ['[FAfa:9::1]', 'fafa:9::1'],
  ['[::ffff:127.0.0.1]:80', '::ffff:127.0.0.1'],
  ['::1', undefined],
  ['2001:db8::1:8443', undefined],
  ['[::1', undefined],
  ['[::1]x', undefined],
  ['[::1]:', '::1'],
  ['[::1]:99999', undefined],
  ['[::1]]', undefined],
  ['[[::1]]', undefined],
  ['[]', undefined],
  ['[a.test]', undefined],
  ['[1.2.3.4]', undefined],
  ['[fe80::1%eth0]', undefined],
  ['[fe80::1%25eth0]', undefined],
  ['[v1.fe]', undefined],
  ['[::1]:80@evil.test', undefined],

  // lengths: label 63, name 253 (254 with the trailing dot)
  [`${label63}.test`, `${label63}.test`],
  [`${label63}a.test`, undefined],
  [name253, name253],
  [`${name253}.`, name253],
  [name254, undefined],

  // not a host: empty, whitespace, userinfo, path, query, other characters
  [undefined, undefined],
  ['', undefined],
  [' ', undefined],
  [' a.test', undefined],
  ['a.test ', undefined],
  ['a .test', undefined],
  ['a.test\t', undefined],
  ['a.test\r\nX-Injected: 1', undefined],
  ['a.test\0.evil.test', undefined],
  ['user@a.test', undefined],
  ['user:pw@a.test', undefined],
  ['a.test@evil.test', undefined],
  ['a.test/path', undefined],
  ['a.test\\evil.test', undefined],
  ['a.test?x', undefined],
  ['a.test#x', undefined],
  ['a%2etest', undefined],
  ['*.a.test', undefined],
  ['a.test,b.test', undefined],
  ['bücher.example', undefined],
  ['\u212Aelvin.test', undefined], // Kelvin sign: toLowerCase would turn it into an ASCII `k`
]

describe('normalizeHost', () => {
  for (const [raw, expected] of NORMALIZE) {
    test(`${JSON.stringify(raw)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizeHost(raw), expected)
    })
  }
})

describe('normalizeServerName', () => {
  test('is normalizeHost for a bare name', () => {
    assert.equal(normalizeServerName('Orders.Example.COM.'), 'orders.example.com')
    assert.equal(normalizeServerName(undefined), undefined)
    assert.equal(normalizeServerName('a..test'), undefined)
  })
  test('refuses a port or an IPv6 literal, which SNI cannot carry', () => {
    assert.equal(normalizeServerName('a.test:443'), undefined)
    assert.equal(normalizeServerName('[::1]'), undefined)
  })
})

// The route of a ClientHello without SNI is that of the address the client connected to.
describe('addressHost', () => {
  test('is the IPv4 address of an IPv4-mapped one (a dual-stack listener), and any other as it is', () => {
    assert.equal(addressHost('::ffff:10.0.0.1'), '10.0.0.1')
    for (const address of ['10.0.0.1', '::1', '::ffff:abcd:1', undefined]) assert.equal(addressHost(address), address, String(address))
  })
})

const IS_WILDCARD: ReadonlyArray<readonly [string, boolean]> = [
  ['*.example.com', true],
  ['*.com', true],
  ['*.internal_svc', true],
  ['example.com', false],
  ['*', false],
  ['*.', false],
  ['*example.com', false],
  ['**.example.com', false],
  ['*.*.example.com', false],
  ['a.*.example.com', false],
  ['a*.example.com', false],
  ['*.a..b', false],
  ['*.example.com:443', false],
]

describe('isWildcardHost', () => {
  for (const [pattern, expected] of IS_WILDCARD) {
    test(`${pattern} → ${expected}`, () => assert.equal(isWildcardHost(pattern), expected))
  }
})

// [wildcard, normalised host, matches]: exactly one extra label, as for certificate wildcards
const WILDCARD_MATCHES: ReadonlyArray<readonly [string, string, boolean]> = [
  ['*.example.com', 'a.example.com', true],
  ['*.example.com', 'a-b_c.example.com', true],
  ['*.example.com', 'example.com', false],
  ['*.example.com', 'a.b.example.com', false],
  ['*.example.com', '.example.com', false],
  ['*.example.com', 'aexample.com', false],
  ['*.example.com', 'a.notexample.com', false],
  ['*.example.com', 'a.example.com.evil', false],
  ['*.example.com', 'a.example.co', false],
  ['*.com', 'example.com', true],
]

describe('lookupHost with a wildcard entry', () => {
  for (const [pattern, host, expected] of WILDCARD_MATCHES) {
    test(`${pattern} ${expected ? 'matches' : 'does not match'} ${host}`, () => {
      assert.equal(lookupHost(new Map([[pattern, 'route']]), host) === 'route', expected)
    })
  }
  test('an exact entry hides the wildcard', () => {
    const byHost = new Map([
      ['*.example.com', 'wildcard'],
      ['a.example.com', 'exact'],
    ])
    assert.equal(lookupHost(byHost, 'a.example.com'), 'exact')
    assert.equal(lookupHost(byHost, 'b.example.com'), 'wildcard')
  })
})

// What routes.yaml accepts as `host`: a DNS name as normalizeHost produces it, a wildcard of one, or an IPv4 address.
const ROUTE_HOSTS: ReadonlyArray<readonly [string, boolean]> = [
  ['example.com', true],
  ['*.example.com', true],
  ['127.0.0.1', true],
  ['internal_svc.local', true],
  ['*.internal_svc', true],
  ['a1.test', true],
  ['1a.test', true],
  ['a-b.test', true],
  // Hostile-input pass: these loaded as names, and no client could mean them (RFC 1123 2.1, RFC 3696 2).
  ['-', false],
  ['a-.example.com', false],
  ['-a.example.com', false],
  ['*.-a.test', false],
  ['01.2.3.4', false],
  ['1.1.1.1.1', false],
  ['256.1.1.1', false],
  ['1.2.3', false],
  ['0x7f.0.0.1', false],
  ['a.123', false],
  ['*.1.2.3', false],
  ['Example.com', false],
  ['example.com.', false],
  ['example.com:443', false],
  ['*.*.example.com', false],
  ['a.*.example.com', false],
  ['open example', false],
  ['[::1]', false],
  [`${'a'.repeat(64)}.test`, false],
  [`${'a.'.repeat(127)}aa`, false],
]

describe('isRouteHost', () => {
  for (const [host, expected] of ROUTE_HOSTS) {
    test(`${host.length > 40 ? `${host.slice(0, 20)}… (${host.length} chars)` : host} → ${expected}`, () => {
      assert.equal(isRouteHost(host), expected)
    })
  }
})
