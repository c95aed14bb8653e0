/** A body read whole from a peer that may send without end: an OCSP responder's, an auth service's. */
import type { Readable } from 'node:stream'

/** `body` read to its end, as one buffer; past `limit` bytes, it is destroyed and this throws, naming it `what`. */
export async function boundedBody(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of body) {
    length += (chunk as Buffer).length
    if (length > limit) {
      body.destroy()
      throw new Error(`${what} is over ${limit} bytes`)
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}
