/**
 * The PROXY protocol header as HAProxy's encoders write it (headers built with proxy-protocol-js, not
 * by the parser's own rules): where it ends, the client address it names, and what is refused.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as pp from 'proxy-protocol-js'
import { parseProxyHeader } from '../../src/proxy/proxy-protocol.js'

const v1 = (family: pp.INETProtocol, source: string, destination: string) =>
  Buffer.from(new pp.V1ProxyProtocol(family, new pp.Peer(source, 51234), new pp.Peer(destination, 443)).build(), 'latin1')

function v2(command: pp.Command, address: pp.IPv4ProxyAddress | pp.IPv6ProxyAddress | pp.UnspecProxyAddress): Buffer {
  return Buffer.from(new pp.V2ProxyProtocol(command, pp.TransportProtocol.STREAM, address).build())
}

const v2Of4 = (command = pp.Command.PROXY) =>
  v2(command, new pp.IPv4ProxyAddress(pp.IPv4Address.createFrom([192, 0, 2, 7]), 51234, pp.IPv4Address.createFrom([10, 0, 0, 1]), 443))
const ipv6 = (last: number) => pp.IPv6Address.createFrom([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last])
const REQUEST = Buffer.from('GET / HTTP/1.1\r\n')

describe('parseProxyHeader', () => {
  it('reads a v1 header: its length and client address; UNKNOWN names none', () => {
    const header = v1(pp.INETProtocol.TCP4, '192.0.2.7', '10.0.0.1')
    assert.deepEqual(parseProxyHeader(Buffer.concat([header, REQUEST])), { kind: 'header', length: header.length, source: '192.0.2.7' })
    const six = v1(pp.INETProtocol.TCP6, '2001:DB8:0:0::7', '2001:db8::1')
    assert.deepEqual(parseProxyHeader(six), { kind: 'header', length: six.length, source: '2001:db8::7' }, 'written as Node writes a socket address')
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'header', length: 15, source: undefined })
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')), { kind: 'header', length: 35, source: undefined })
  })

  it('reads a v2 header, its addresses and any TLVs counted in its length; LOCAL and AF_UNSPEC name none', () => {
    const header = v2Of4()
    assert.deepEqual(parseProxyHeader(Buffer.concat([header, REQUEST])), { kind: 'header', length: 28, source: '192.0.2.7' })
    const six = v2(pp.Command.PROXY, new pp.IPv6ProxyAddress(ipv6(7), 51234, ipv6(1), 443))
    assert.deepEqual(parseProxyHeader(six), { kind: 'header', length: 52, source: '2001:db8::7' })
    assert.deepEqual(parseProxyHeader(v2Of4(pp.Command.LOCAL)), { kind: 'header', length: 28, source: undefined })
    assert.deepEqual(parseProxyHeader(v2(pp.Command.PROXY, new pp.UnspecProxyAddress())), { kind: 'header', length: 16, source: undefined })
    // A TLV (PP2_TYPE_AUTHORITY) after the addresses: the length covers it.
    const tlv = Buffer.from([0x02, 0x00, 0x05, ...Buffer.from('a.com')])
    const withTlv = Buffer.concat([header, tlv])
    withTlv.writeUInt16BE(12 + tlv.length, 14)
    assert.deepEqual(parseProxyHeader(withTlv), { kind: 'header', length: 36, source: '192.0.2.7' })
  })

  it('waits for the rest of a header that came in part, at every byte', () => {
    for (const header of [v1(pp.INETProtocol.TCP4, '192.0.2.7', '10.0.0.1'), v2Of4()]) {
      for (let cut = 0; cut < header.length; cut++) assert.deepEqual(parseProxyHeader(header.subarray(0, cut)), { kind: 'incomplete' }, `${cut} bytes`)
    }
  })

  it('refuses what is no header, and a malformed one', () => {
    const invalid = (bytes: Buffer) => parseProxyHeader(bytes).kind
    assert.equal(invalid(REQUEST), 'invalid', 'an HTTP request')
    assert.equal(invalid(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8])), 'invalid', 'a TLS ClientHello')
    for (const line of [
      'PROXY TCP4 192.0.2.300 10.0.0.1 1 443',
      'PROXY TCP4 2001:db8::7 10.0.0.1 1 443',
      'PROXY TCP6 192.0.2.7 10.0.0.1 1 443',
      'PROXY TCP4 192.0.2.7 10.0.0.1 65536 443',
      'PROXY TCP4 192.0.2.7 10.0.0.1 01 443',
      'PROXY TCP4 192.0.2.7 10.0.0.1 1 443 more',
      'PROXY TCP4 192.0.2.7  10.0.0.1 1 443',
      'PROXY UDP4 192.0.2.7 10.0.0.1 1 443',
    ]) {
      assert.equal(invalid(Buffer.from(`${line}\r\n`)), 'invalid', line)
    }
    assert.equal(invalid(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)), 'invalid', 'no CRLF within 107 bytes')
    const otherVersion = v2Of4()
    otherVersion[12] = 0x11
    assert.equal(invalid(otherVersion), 'invalid', 'version 1 in a v2 block')
    const short = v2Of4()
    short.writeUInt16BE(4, 14)
    assert.equal(invalid(short.subarray(0, 20)), 'invalid', 'a length too short for its IPv4 addresses')
  })
})
