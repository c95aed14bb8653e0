/**
 * Reads SNI from the first bytes of a TLS connection (RFC 8446 4.1.2, RFC 6066 3),
 * so a plain net server can choose the tls.Server that terminates the connection before any TLS is done.
 * The caller pushes each chunk into a ClientHelloReader until the result is not `incomplete`. A hello
 * whose SNI could be read two ways (duplicate extensions, several host names, a NUL in the name) is
 * refused, as OpenSSL refuses it, so the name that picks the policy here is the name the TLS stack then
 * sees.
 */

export type ClientHelloResult =
  | { readonly kind: 'incomplete' }
  /** A letter first, as a request line begins (after empty lines, RFC 9112 2.2): plain HTTP sent to the TLS port. */
  | { readonly kind: 'plain-http' }
  /** Neither a TLS handshake record nor plain HTTP: an SSLv2-format hello, which Node does not speak, another record, bytes of no protocol. */
  | { readonly kind: 'not-tls' }
  | {
      readonly kind: 'invalid'
      /** What is wrong with it, for the refusal's log line. */
      readonly reason: string
    }
  | { readonly kind: 'hello'; readonly serverName: string | undefined }

const RECORD_HEADER = 5
const MAX_RECORD = 16 * 1024 // RFC 8446 5.1: a plaintext fragment is at most 2^14 bytes
/**
 * The most the parser waits for: a ClientHello not ended by then is `invalid`, so a caller that buffers
 * until a verdict holds no more.
 */
export const MAX_CLIENT_HELLO_BYTES = MAX_RECORD + RECORD_HEADER

const CR = 0x0d
const LF = 0x0a
/** The empty lines a request line may follow here: a few, as clients send them; more is no HTTP worth the 400. */
const MAX_EMPTY_LINE_BYTES = 64
const CONTENT_HANDSHAKE = 22
const HANDSHAKE_CLIENT_HELLO = 1
const EXT_SERVER_NAME = 0
const NAME_TYPE_HOST_NAME = 0

/**
 * Reads a ClientHello as its bytes arrive: `push` each chunk, until the result is not 'incomplete'. Each
 * complete record's header is walked once, however the hello is cut: a client sending it in one-byte
 * records, a record per packet, costs a step per record, not a walk over every record so far on each
 * chunk.
 */
export class ClientHelloReader {
  private readonly received = new Accumulator()
  /** How far the complete records have been walked. */
  private readonly walk: RecordWalk = { offset: 0, collected: 0, handshakeType: -1, bodyLength: 0 }

  /** Every byte pushed so far, to hand on with the connection. */
  get bytes(): Buffer {
    return this.received.bytes
  }

  push(chunk: Buffer): ClientHelloResult {
    const data = this.received.append(chunk)
    if (data.length === 0) return { kind: 'incomplete' }
    let lineStart = 0
    while (lineStart < data.length && lineStart <= MAX_EMPTY_LINE_BYTES && (data[lineStart] === CR || data[lineStart] === LF)) lineStart++
    if (lineStart > MAX_EMPTY_LINE_BYTES) return { kind: 'not-tls' }
    if (lineStart === data.length) return { kind: 'incomplete' }
    if (isLetter(data[lineStart]!)) return { kind: 'plain-http' }
    if (data[0] !== CONTENT_HANDSHAKE || (data.length > 1 && data[1] !== 3)) return { kind: 'not-tls' }
    const hello = reassemble(data, this.walk)
    if (!Buffer.isBuffer(hello)) return hello
    try {
      return readClientHello(new Cursor(hello))
    } catch (error) {
      if (error instanceof Malformed) return { kind: 'invalid', reason: error.message }
      throw error
    }
  }
}

function isLetter(byte: number): boolean {
  return (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
}

interface RecordWalk {
  /** Where the first record not yet walked begins. */
  offset: number
  /** Handshake bytes in the records walked. */
  collected: number
  /** The handshake header (type, 24-bit body length), read as its bytes come; -1 before the first. */
  handshakeType: number
  bodyLength: number
}

/**
 * The ClientHello handshake message (header included), from one record or from the fragments of
 * consecutive handshake records (legal, RFC 8446 5.1, and a known way to hide SNI from naive parsers).
 * Walks on from `walk`, which it moves past each complete record; a record still arriving is read again
 * on the next chunk. Nothing is copied until the message is whole.
 */
function reassemble(data: Buffer, walk: RecordWalk): Buffer | ClientHelloResult {
  for (;;) {
    const { offset } = walk
    if (offset + RECORD_HEADER > MAX_CLIENT_HELLO_BYTES) return invalid('ClientHello longer than 16 KiB')
    if (offset + RECORD_HEADER > data.length) return { kind: 'incomplete' }
    if (data[offset] !== CONTENT_HANDSHAKE) return invalid('ClientHello interleaved with another record type')
    if (data[offset + 1] !== 3) return invalid('record version is not 3.x')
    const length = data.readUInt16BE(offset + 3)
    // RFC 8446 5.1: zero-length handshake fragments MUST NOT be sent.
    if (length === 0 || length > MAX_RECORD) return invalid(`handshake record of ${length} bytes`)
    const end = offset + RECORD_HEADER + length
    if (end > MAX_CLIENT_HELLO_BYTES) return invalid('ClientHello longer than 16 KiB')
    const complete = end <= data.length
    const step = complete ? walk : { ...walk }

    // The 4-byte handshake header (type, 24-bit length) may itself be split across records.
    const available = Math.min(end, data.length) - offset - RECORD_HEADER
    for (let i = 0; i < available && step.collected + i < 4; i++) {
      const byte = data[offset + RECORD_HEADER + i]!
      if (step.collected + i === 0) step.handshakeType = byte
      else step.bodyLength = step.bodyLength * 256 + byte
    }
    step.collected += available
    if (step.collected > 0 && step.handshakeType !== HANDSHAKE_CLIENT_HELLO) return invalid('first handshake message is not a ClientHello')
    if (step.collected >= 4) {
      const messageLength = 4 + step.bodyLength
      if (messageLength > MAX_RECORD) return invalid('ClientHello longer than 16 KiB')
      if (step.collected >= messageLength) {
        // The usual case, one record, needs no copy.
        if (offset === 0) return data.subarray(RECORD_HEADER, RECORD_HEADER + messageLength)
        return joinFragments(data, messageLength)
      }
    }
    if (!complete) return { kind: 'incomplete' }
    walk.offset = end
  }
}

/** Copies the first `messageLength` handshake bytes out of records that reassemble has checked. */
function joinFragments(data: Buffer, messageLength: number): Buffer {
  const message = Buffer.alloc(messageLength)
  let written = 0
  for (let offset = 0; written < messageLength; ) {
    const length = data.readUInt16BE(offset + 3)
    const start = offset + RECORD_HEADER
    written += data.copy(message, written, start, start + Math.min(length, messageLength - written))
    offset = start + length
  }
  return message
}

function readClientHello(message: Cursor): ClientHelloResult {
  message.skip(4) // handshake type and length, checked by reassemble
  if (message.u8() !== 3) throw new Malformed('legacy_version is not 3.x')
  message.skip(1 + 32) // minor version, random
  if (message.block(1).remaining > 32) throw new Malformed('session id longer than 32 bytes')
  const suites = message.block(2).remaining
  if (suites === 0 || suites % 2 !== 0) throw new Malformed('bad cipher_suites length')
  if (message.block(1).remaining === 0) throw new Malformed('no compression methods')
  // An SSLv3-style hello may end here, without extensions.
  if (message.remaining === 0) return { kind: 'hello', serverName: undefined }
  const extensions = message.block(2)
  message.end('bytes after the extensions')

  let serverName: string | undefined
  const seen = new Set<number>()
  while (extensions.remaining > 0) {
    const type = extensions.u16()
    const body = extensions.block(2)
    // RFC 8446 4.2: at most one extension of each type; otherwise which SNI counts is a matter of opinion.
    if (seen.has(type)) throw new Malformed(`extension ${type} appears twice`)
    seen.add(type)
    if (type === EXT_SERVER_NAME) serverName = readServerName(body)
  }
  return { kind: 'hello', serverName }
}

/**
 * RFC 6066 3: one host_name entry. Like OpenSSL we accept no other name type and no second entry, and
 * refuse bytes that are not printable ASCII (a NUL could cut the name short in C code downstream).
 */
function readServerName(body: Cursor): string {
  const list = body.block(2)
  body.end('bytes after the server name list')
  if (list.u8() !== NAME_TYPE_HOST_NAME) throw new Malformed('server name is not a host_name')
  const name = list.block(2)
  list.end('more than one server name')
  if (name.remaining === 0) throw new Malformed('empty server name')
  const bytes = name.bytes(name.remaining)
  for (const byte of bytes) if (byte < 0x21 || byte > 0x7e) throw new Malformed('server name is not printable ASCII')
  return bytes.toString('latin1').toLowerCase()
}

/**
 * The bytes received so far, contiguous for the parser. A ClientHello usually arrives in one chunk and
 * is used as it is; one that trickles in is copied into storage that doubles, not concatenated anew at
 * every chunk.
 */
class Accumulator {
  private received: Buffer = Buffer.alloc(0)
  private storage: Buffer | undefined

  get bytes(): Buffer {
    return this.received
  }

  append(chunk: Buffer): Buffer {
    if (this.received.length === 0) return (this.received = chunk)
    const length = this.received.length + chunk.length
    if (!this.storage || this.storage.length < length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * length, 1024))
      this.received.copy(grown)
      this.storage = grown
    }
    chunk.copy(this.storage, this.received.length)
    return (this.received = this.storage.subarray(0, length))
  }
}

function invalid(reason: string): ClientHelloResult {
  return { kind: 'invalid', reason }
}

/** Thrown inside the parser only; ClientHelloReader.push turns it into an 'invalid' result. */
class Malformed extends Error {}

/** A bounds-checked reader over `buffer[start, limit)`: reading past `limit` is a malformed hello, never a RangeError. */
class Cursor {
  private readonly buffer: Buffer
  private pos: number
  private readonly limit: number

  constructor(buffer: Buffer, start = 0, limit = buffer.length) {
    this.buffer = buffer
    this.pos = start
    this.limit = limit
  }

  get remaining(): number {
    return this.limit - this.pos
  }

  skip(n: number): void {
    this.need(n)
    this.pos += n
  }

  u8(): number {
    this.need(1)
    return this.buffer[this.pos++]!
  }

  u16(): number {
    this.need(2)
    const value = this.buffer.readUInt16BE(this.pos)
    this.pos += 2
    return value
  }

  bytes(n: number): Buffer {
    this.need(n)
    const bytes = this.buffer.subarray(this.pos, this.pos + n)
    this.pos += n
    return bytes
  }

  /** A TLS vector (`opaque x<0..2^8-1>` and the like): a length of `width` bytes, then that many bytes. */
  block(width: 1 | 2): Cursor {
    const length = width === 1 ? this.u8() : this.u16()
    this.need(length)
    const inner = new Cursor(this.buffer, this.pos, this.pos + length)
    this.pos += length
    return inner
  }

  /** Requires that nothing is left, naming what would have been. */
  end(what: string): void {
    if (this.remaining !== 0) throw new Malformed(what)
  }

  private need(n: number): void {
    if (n > this.remaining) throw new Malformed('length field runs past its enclosing block')
  }
}
