import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import tls from 'node:tls'
import { ClientHelloReader, MAX_CLIENT_HELLO_BYTES, type ClientHelloResult } from '../../src/tls/client-hello.js'
import { captureClientHello } from '../helpers/client-hello.js'

const ALPN = ['h2', 'http/1.1']

// [name, client options, expected result]. An IP host with no servername sends no SNI.
const CAPTURES: ReadonlyArray<readonly [string, tls.ConnectionOptions, ClientHelloResult]> = [
  ['TLS 1.3 with SNI and ALPN', { servername: 'a.test', ALPNProtocols: ALPN }, hello('a.test')],
  ['TLS 1.2 with SNI and ALPN', { servername: 'a.test', ALPNProtocols: ALPN, maxVersion: 'TLSv1.2' }, hello('a.test')],
  ['TLS 1.3 without SNI', { ALPNProtocols: ['http/1.1'] }, hello(undefined)],
  ['TLS 1.2 without SNI or ALPN', { maxVersion: 'TLSv1.2' }, hello(undefined)],
  ['mixed-case SNI', { servername: 'Orders.Example.COM' }, hello('orders.example.com')],
]
const captured = new Map<string, Buffer>()

before(async () => {
  for (const [name, options] of CAPTURES) captured.set(name, await captureClientHello(options))
})

/** The verdict on bytes pushed at once. */
function parseClientHello(bytes: Buffer): ClientHelloResult {
  return new ClientHelloReader().push(bytes)
}

function hello(serverName: string | undefined): ClientHelloResult {
  return { kind: 'hello', serverName }
}

describe('real ClientHellos', () => {
  for (const [name, , expected] of CAPTURES) {
    test(`${name}: parsed`, () => {
      assert.deepEqual(parseClientHello(captured.get(name)!), expected)
    })

    test(`${name}: every truncation is incomplete`, () => {
      const bytes = captured.get(name)!
      for (let n = 0; n < bytes.length; n++) {
        assert.deepEqual(parseClientHello(bytes.subarray(0, n)), { kind: 'incomplete' }, `first ${n} bytes`)
      }
    })

    test(`${name}: split into two records at every point`, () => {
      const payload = handshakePayload(captured.get(name)!)
      for (let cut = 1; cut < payload.length; cut++) {
        const bytes = Buffer.concat([record(payload.subarray(0, cut)), record(payload.subarray(cut))])
        assert.deepEqual(parseClientHello(bytes), expected, `cut at ${cut}`)
      }
    })

    test(`${name}: three records, every truncation incomplete`, () => {
      const payload = handshakePayload(captured.get(name)!)
      const bytes = Buffer.concat([record(payload.subarray(0, 2)), record(payload.subarray(2, 40)), record(payload.subarray(40))])
      assert.deepEqual(parseClientHello(bytes), expected)
      for (let n = 0; n < bytes.length; n++) assert.equal(parseClientHello(bytes.subarray(0, n)).kind, 'incomplete', `first ${n} bytes`)
    })

    test(`${name}: bytes after the hello (early data) are ignored`, () => {
      const bytes = Buffer.concat([captured.get(name)!, record(Buffer.from('later'), 23)])
      assert.deepEqual(parseClientHello(bytes), expected)
    })

    test(`${name}: any single corrupted byte gives a result, never an exception`, () => {
      const bytes = captured.get(name)!
      for (let i = 0; i < bytes.length; i++) {
        for (const value of [0x00, 0xff, bytes[i]! ^ 0x01]) {
          const mutated = Buffer.from(bytes)
          mutated[i] = value
          assert.ok(KINDS.has(parseClientHello(mutated).kind), `byte ${i} = ${value}`)
        }
      }
    })
  }
})

const KINDS = new Set(['incomplete', 'plain-http', 'not-tls', 'invalid', 'hello'])

// Synthetic hellos, for what no real client sends. A TLS vector is its length in `width` bytes, then its bytes.
function vec(width: 1 | 2 | 3, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts)
  const length = Buffer.alloc(width)
  length.writeUIntBE(body.length, 0, width)
  return Buffer.concat([length, body])
}
const u8 = (n: number) => Buffer.of(n)
const u16 = (n: number) => Buffer.of(n >> 8, n & 0xff)
const text = (s: string) => Buffer.from(s, 'latin1')
const extension = (type: number, body: Buffer) => Buffer.concat([u16(type), vec(2, body)])
const sni = (...names: string[]) => extension(0, vec(2, ...names.map((name) => Buffer.concat([u8(0), vec(2, text(name))]))))
const alpn = (...protocols: string[]) => extension(16, vec(2, ...protocols.map((p) => vec(1, text(p)))))
/** legacy_version, random, then session id, cipher suites and compression methods as given. */
const fields = (session: Buffer, suites: Buffer, compression: Buffer) =>
  Buffer.concat([u16(0x0303), Buffer.alloc(32), session, suites, compression])
const clientHelloBody = (...tail: Buffer[]) => Buffer.concat([fields(vec(1), vec(2, u16(0x1301)), vec(1, u8(0))), ...tail])
const handshake = (body: Buffer, type = 1) => Buffer.concat([u8(type), vec(3, body)])
const withExtensions = (...extensions: Buffer[]) => record(handshake(clientHelloBody(vec(2, ...extensions))))

function record(payload: Buffer, type = 22): Buffer {
  return Buffer.concat([u8(type), u16(0x0301), vec(2, payload)])
}

function handshakePayload(bytes: Buffer): Buffer {
  return bytes.subarray(5, 5 + bytes.readUInt16BE(3))
}

/** A hello padded (RFC 7685 padding extension) so that its one record is `recordLength` bytes long. */
function paddedHello(recordLength: number): Buffer {
  const fixed = withExtensions(sni('a.test'), extension(21, Buffer.alloc(0))).length - 5
  return withExtensions(sni('a.test'), extension(21, Buffer.alloc(recordLength - fixed)))
}

// [name, bytes, expected kind, expected server name when a hello]
const SYNTHETIC: ReadonlyArray<readonly [string, Buffer, ClientHelloResult['kind'], string?]> = [
  ['plain HTTP', text('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n'), 'plain-http'],
  ['one byte of plain HTTP', text('G'), 'plain-http'],
  ['plain HTTP after empty lines (RFC 9112 2.2)', text('\r\n\r\nGET / HTTP/1.1\r\n'), 'plain-http'],
  ['empty lines alone so far', text('\r\n\r\n'), 'incomplete'],
  ['more than 64 bytes of empty lines', text('\r\n'.repeat(40)), 'not-tls'],
  ['a PROXY protocol v1 header, which nginx answers as HTTP too', text('PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n'), 'plain-http'],
  ['SSLv2-format hello', Buffer.from('802b0100020012', 'hex'), 'not-tls'],
  ['handshake byte, then not version 3', Buffer.from('16ffff', 'hex'), 'not-tls'],
  ['an alert record', Buffer.from('15030100020228', 'hex'), 'not-tls'],
  ['a PROXY protocol v2 header', Buffer.from('0d0a0d0a000d0a515549540a21', 'hex'), 'not-tls'],
  ['lone handshake byte', u8(22), 'incomplete'],
  ['record header only', Buffer.from('1603010100', 'hex'), 'incomplete'],
  ['random bytes', Buffer.from('9a1f9e00c3777e01d2', 'hex'), 'not-tls'],

  ['minimal hello with SNI', withExtensions(sni('a.test')), 'hello', 'a.test'],
  ['upper-case SNI is lower-cased', withExtensions(sni('A.TEST')), 'hello', 'a.test'],
  ['trailing dot kept for normalizeHost to judge', withExtensions(sni('a.test.')), 'hello', 'a.test.'],
  ['hello without extensions (SSLv3 style)', record(handshake(clientHelloBody())), 'hello', undefined],
  ['empty extensions block', withExtensions(), 'hello', undefined],
  ['unknown extensions are skipped', withExtensions(extension(0xfe0d, Buffer.alloc(9)), sni('a.test')), 'hello', 'a.test'],
  ['largest hello that fits the cap', paddedHello(16384), 'hello', 'a.test'],

  ['ServerHello', record(handshake(clientHelloBody(), 2)), 'invalid'],
  ['two server_name extensions', withExtensions(sni('a.test'), sni('b.test')), 'invalid'],
  ['two host names in one extension', withExtensions(sni('a.test', 'b.test')), 'invalid'],
  ['name type other than host_name', withExtensions(extension(0, vec(2, u8(1), vec(2, text('a.test'))))), 'invalid'],
  ['empty server name list', withExtensions(extension(0, vec(2))), 'invalid'],
  ['empty host name', withExtensions(sni('')), 'invalid'],
  ['NUL in host name', withExtensions(sni('a.test\0.evil.test')), 'invalid'],
  ['space in host name', withExtensions(sni('a test')), 'invalid'],
  ['non-ASCII host name', withExtensions(sni('b\xfccher.test')), 'invalid'],
  ['bytes after the server name list', withExtensions(extension(0, Buffer.concat([vec(2, u8(0), vec(2, text('a'))), u8(0)]))), 'invalid'],
  ['two ALPN extensions', withExtensions(alpn('h2'), alpn('h2')), 'invalid'],
  ['extension longer than the block', withExtensions(Buffer.from('0000ffff', 'hex')), 'invalid'],
  ['bytes after the extensions', record(handshake(clientHelloBody(vec(2, sni('a.test')), u8(0)))), 'invalid'],
  ['session id over 32 bytes', record(handshake(fields(vec(1, Buffer.alloc(33)), vec(2, u16(0x1301)), vec(1, u8(0))))), 'invalid'],
  ['no cipher suites', record(handshake(fields(vec(1), vec(2), vec(1, u8(0))))), 'invalid'],
  ['odd cipher suites length', record(handshake(fields(vec(1), vec(2, u8(1)), vec(1, u8(0))))), 'invalid'],
  ['no compression methods', record(handshake(fields(vec(1), vec(2, u16(0x1301)), vec(1)))), 'invalid'],
  ['hello body shorter than its fields', record(handshake(Buffer.alloc(10))), 'invalid'],
  ['zero-length record', Buffer.from('1603010000', 'hex'), 'invalid'],
  ['record over 2^14 bytes', Buffer.from('1603014001', 'hex'), 'invalid'],
  ['hello declaring 16 MiB', Buffer.from('1603010004' + '01ffffff', 'hex'), 'invalid'],
  ['hello one byte over the cap', paddedHello(16385), 'invalid'],
  ['alert between two hello fragments', Buffer.concat([record(handshake(clientHelloBody()).subarray(0, 10)), record(u16(0x0228), 21)]), 'invalid'],
]

describe('synthetic bytes', () => {
  for (const [name, bytes, kind, serverName] of SYNTHETIC) {
    test(`${name} → ${kind}`, () => {
      const result = parseClientHello(bytes)
      assert.equal(result.kind, kind)
      if (result.kind === 'hello') assert.equal(result.serverName, serverName)
    })
  }
})

describe('bounded buffering', () => {
  test('a hello in one-byte records, pushed a byte at a time, is refused at the cap and stays cheap', () => {
    const payload = handshake(clientHelloBody(vec(2, extension(21, Buffer.alloc(8000)))))
    const bytes = Buffer.concat([...payload].map((byte) => record(u8(byte))))
    // A bound for a blow-up, not a speed test (bench/ measures): a parser that copied the fragments on
    // every chunk took minutes here.
    const reader = new ClientHelloReader()
    const started = performance.now()
    for (let n = 0; n <= MAX_CLIENT_HELLO_BYTES + 10; n++) {
      const expected = n < MAX_CLIENT_HELLO_BYTES - 10 ? 'incomplete' : n < MAX_CLIENT_HELLO_BYTES ? undefined : 'invalid'
      const kind = reader.push(bytes.subarray(n, n + 1)).kind
      if (expected) assert.equal(kind, expected, `first ${n + 1} bytes`)
      else assert.ok(kind === 'incomplete' || kind === 'invalid', `first ${n + 1} bytes: ${kind}`)
      if (kind === 'invalid') break
    }
    const elapsed = performance.now() - started
    assert.ok(elapsed < 5000, `16,000 pushes took ${elapsed.toFixed(0)} ms`)
  })

  test('a hello cut anywhere and pushed in pieces reads as it does whole', () => {
    const payload = handshake(clientHelloBody(vec(2, sni('pieces.test'), extension(21, Buffer.alloc(300)))))
    const bytes = Buffer.concat([record(payload.subarray(0, 3)), record(payload.subarray(3, 100)), record(payload.subarray(100))])
    for (let size = 1; size <= 7; size++) {
      const reader = new ClientHelloReader()
      let result: ClientHelloResult = { kind: 'incomplete' }
      for (let n = 0; n < bytes.length; n += size) result = reader.push(bytes.subarray(n, n + size))
      assert.deepEqual(result, hello('pieces.test'), `pieces of ${size} bytes`)
      assert.deepEqual(reader.bytes, bytes, 'every byte kept, to hand on')
    }
  })

  test('the largest hello is incomplete one byte short of the cap', () => {
    const bytes = paddedHello(16384)
    assert.equal(bytes.length, MAX_CLIENT_HELLO_BYTES)
    assert.equal(parseClientHello(bytes.subarray(0, MAX_CLIENT_HELLO_BYTES - 1)).kind, 'incomplete')
  })

  test('garbage after a handshake header never throws', () => {
    // Deterministic xorshift, so a failure reproduces.
    let state = 0x2545f491
    const next = () => ((state ^= state << 13), (state ^= state >>> 17), (state ^= state << 5), state >>> 24)
    for (let round = 0; round < 2000; round++) {
      const bytes = Buffer.from([0x16, 0x03, 0x01, ...Array.from({ length: 2 + (round % 300) }, next)])
      const { kind } = parseClientHello(bytes)
      assert.ok(KINDS.has(kind))
      assert.ok(kind !== 'incomplete' || bytes.length < MAX_CLIENT_HELLO_BYTES)
    }
  })
})
