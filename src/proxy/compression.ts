/**
 * routes[].compress: a response the upstream sent uncompressed is compressed on its way to a client
 * that accepts it, as Caddy's encode, Traefik's compress and nginx's gzip do: Brotli or gzip, as the
 * client's Accept-Encoding prefers (Brotli among equals), for the types that gain from it (text,
 * JSON, JavaScript, XML, SVG, WebAssembly), of a known length of 1 KiB or more, or none (a stream).
 * Each chunk the upstream sends is flushed through the encoder as it comes, so a streamed response
 * (a long poll, NDJSON) reaches the client as the upstream writes it, not when the encoder's window
 * fills. A response whose representation may so vary says `Vary: Accept-Encoding`, to every client.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream'
import zlib from 'node:zlib'

export type ContentCoding = 'br' | 'gzip'

/** Below this Content-Length a body is sent as it is, as with Traefik's minResponseBodyBytes: a small body gains too little. */
const MIN_COMPRESSED_LENGTH = 1024

/** Media types compressed, but for text/event-stream (each event must reach its client whole and at once). */
const COMPRESSIBLE = new Set(['application/json', 'application/javascript', 'application/x-javascript', 'application/xml', 'application/wasm', 'image/svg+xml'])

/**
 * Brotli's quality for responses compressed on the fly: 4 compresses about as fast as gzip's default
 * level 6 and smaller; the default, 11, is for files compressed once, at a hundred times the time.
 */
const BROTLI_QUALITY = 4

/**
 * Whether a response may be compressed for some client, whatever this one accepts: a body of a type
 * that gains, not encoded already (Content-Encoding), nor a range of one (206), nor to be left as it
 * is (Cache-Control: no-transform, RFC 9111 5.2.2.6), nor too small to gain.
 */
export function compressible(method: string | undefined, statusCode: number, headers: IncomingHttpHeaders): boolean {
  if (method === 'HEAD' || statusCode < 200 || statusCode === 204 || statusCode === 206 || statusCode === 304) return false
  if (headers['content-encoding'] !== undefined && headers['content-encoding'] !== 'identity') return false
  if (/(^|,)\s*no-transform\s*(,|$)/i.test(String(headers['cache-control'] ?? ''))) return false
  const length = headers['content-length']
  if (length !== undefined && Number(length) < MIN_COMPRESSED_LENGTH) return false
  const type = String(headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  return (type.startsWith('text/') && type !== 'text/event-stream') || COMPRESSIBLE.has(type) || /\+(json|xml)$/.test(type)
}

/**
 * The coding the client's Accept-Encoding (RFC 9110 12.5.3) takes with the highest weight, Brotli
 * before gzip among equals; undefined where it takes neither (no header: identity alone). `*` stands
 * for a coding the header does not name.
 */
export function acceptedCoding(acceptEncoding: string | undefined): ContentCoding | undefined {
  if (!acceptEncoding) return undefined
  const weights = new Map<string, number>()
  for (const element of acceptEncoding.split(',')) {
    const [coding, ...parameters] = element.split(';').map((part) => part.trim().toLowerCase())
    if (!coding) continue
    const q = parameters.find((parameter) => parameter.startsWith('q='))
    weights.set(coding, q === undefined ? 1 : Number(q.slice(2)) || 0)
  }
  const weightOf = (coding: ContentCoding) => weights.get(coding) ?? weights.get('*') ?? 0
  const [best] = (['br', 'gzip'] as const).filter((coding) => weightOf(coding) > 0).sort((a, b) => weightOf(b) - weightOf(a))
  return best
}

/** `headers` (the client's response head) for a body that varies by Accept-Encoding, compressed with `coding` where it is given. */
export function compressedHead(headers: OutgoingHttpHeaders, coding: ContentCoding | undefined): OutgoingHttpHeaders {
  const vary = String(headers.vary ?? '')
  if (vary.trim() !== '*' && !/(^|,)\s*accept-encoding\s*(,|$)/i.test(vary)) headers.vary = vary ? `${vary}, Accept-Encoding` : 'Accept-Encoding'
  if (!coding) return headers
  headers['content-encoding'] = coding
  delete headers['content-length']
  // Ranges of the identity body are no ranges of this one.
  delete headers['accept-ranges']
  // The same entity, no longer byte for byte (RFC 9110 8.8.1), as nginx weakens it.
  const etag = headers.etag
  if (typeof etag === 'string' && etag.startsWith('"')) headers.etag = `W/${etag}`
  return headers
}

/**
 * A stream that compresses what is written to it with `coding` into `client`; what is written is
 * flushed out at once (write then flushed). Closing either end closes the other: a client gone ends
 * the encoder, and an encoder destroyed (a stalled client, relayChunk) ends the client's response.
 */
export function compressingInto(client: Writable, coding: ContentCoding): CompressingStream {
  const encoder =
    coding === 'br'
      ? zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY } })
      : zlib.createGzip()
  pipeline(encoder, client, () => {})
  return Object.assign(encoder, {
    // Not once the client has gone, which destroyed it.
    flushed: () => !encoder.destroyed && (coding === 'br' ? encoder.flush() : (encoder as zlib.Gzip).flush(zlib.constants.Z_SYNC_FLUSH)),
  })
}

export type CompressingStream = (zlib.Gzip | zlib.BrotliCompress) & { readonly flushed: () => void }
