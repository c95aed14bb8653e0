/**
 * Walking DER (X.690) where it lies, without decoding it into objects: what crl-der.ts and cert-der.ts
 * read CRLs and certificates with. Only DER's definite lengths are read; anything else throws.
 */

export const BOOLEAN = 0x01
export const INTEGER = 0x02
export const BIT_STRING = 0x03
export const OCTET_STRING = 0x04
export const OBJECT_IDENTIFIER = 0x06
export const SEQUENCE = 0x30
export const SET = 0x31

/** One DER element: its tag, and where its content starts and the element ends in the buffer. */
export interface Element {
  readonly tag: number
  readonly headerStart: number
  readonly start: number
  readonly end: number
}

/** The element at `at`, which must end by `limit`, and have tag `tag` if given. */
export function element(der: Uint8Array, at: number, limit: number, tag?: number): Element {
  if (at + 2 > limit) throw new Error('DER ends inside an element')
  let length = der[at + 1]!
  let start = at + 2
  if (length & 0x80) {
    const bytes = length & 0x7f
    // 0x80 is BER's indefinite length, which DER forbids; four bytes are more than a CRL or a
    // certificate needs.
    if (bytes === 0 || bytes > 4 || start + bytes > limit) throw new Error('DER has a length DER does not allow')
    length = 0
    for (let i = 0; i < bytes; i++) length = length * 256 + der[start + i]!
    start += bytes
  }
  const found: Element = { tag: der[at]!, headerStart: at, start, end: start + length }
  if (found.end > limit) throw new Error('DER element runs past its container')
  if (tag !== undefined) expectTag(found, tag)
  return found
}

/** The bytes from `start` to `end`, as a Buffer over the same memory (no copy), for toString(). */
export function bytes(der: Uint8Array, start: number, end: number): Buffer {
  return Buffer.from(der.buffer, der.byteOffset + start, end - start)
}

/** The whole element, header included, over the same memory. */
export function wholeElement(der: Uint8Array, found: Element): Uint8Array {
  return der.subarray(found.headerStart, found.end)
}

export function expectTag(found: Element, tag: number): void {
  if (found.tag !== tag) throw new Error(`DER has tag 0x${found.tag.toString(16)} where 0x${tag.toString(16)} belongs`)
}

/** What `read` returns; its errors name what it was reading: "CRL: DER ends inside an element". */
export function reading<T>(what: string, read: () => T): T {
  try {
    return read()
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}`, { cause: error })
  }
}

/**
 * A serial number (an INTEGER) in lower-case hexadecimal, without the sign byte DER puts before a first
 * byte above 0x7f. A certificate's and a CRL entry's are written alike, so that the one can be looked
 * up among the others.
 */
export function serialNumberHex(der: Uint8Array, serial: Element): string {
  expectTag(serial, INTEGER)
  const signByte = serial.end - serial.start > 1 && der[serial.start] === 0 && der[serial.start + 1]! > 0x7f
  return bytes(der, signByte ? serial.start + 1 : serial.start, serial.end).toString('hex')
}
