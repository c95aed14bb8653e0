/**
 * A chunked request body on its way upstream, over real sockets: one-byte chunks go on copied
 * together, and while the body is not taken the client's connection is held, not a buffer of one
 * Buffer per chunk (a body of tiny chunks to a slow upstream was 4 MB of heap a connection).
 */
import assert from 'node:assert/strict'
import type http from 'node:http'
import type { Readable } from 'node:stream'
import { test } from 'node:test'
import { forwardedBody } from '../../src/proxy/request-body.js'
import { readsHeld } from '../../src/proxy/read-hold.js'
import { eventually } from '../helpers/gateway.js'
import { requestServerConnection } from '../helpers/request-server.js'

const ONE_BYTE_CHUNK = '1\r\na\r\n'

/** A request server whose handler takes each request's body as forwardedBody makes it, and reads none of it. */
async function uploadConnection() {
  const uploads: { req: http.IncomingMessage; body: Readable }[] = []
  const connection = await requestServerConnection((_snapshot, _policy, req, res) => {
    uploads.push({ req, body: forwardedBody(req, res, undefined) })
  })
  connection.client.write('POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n')
  await eventually(async () => uploads.length === 1, 5000, 'the request')
  return { upload: uploads[0]!, ...connection }
}

/** Every chunk `body` passes on, until its end. */
async function chunksOf(body: Readable): Promise<Buffer[]> {
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return chunks
}

/** `size` bytes counting on from `from`, each a different byte for 251 in a row. */
const bytes = (from: number, size: number) => Buffer.from(Array.from({ length: size }, (_, i) => (from + i) % 251))
/** One chunk of the chunked coding. */
const codedChunk = (data: Buffer) => Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')])

test('passes one-byte chunks on copied together, and every chunk in its order', async () => {
  const { upload, client, close } = await uploadConnection()
  try {
    const chunks = chunksOf(upload.body)
    // 20,000 of one byte, then small and large ones mixed (1 KiB and up go on as they are), ending small.
    const sizes = [...Array<number>(20_000).fill(1), 1023, 1024, 5000, 1, 7, 20_000, 3]
    let sent = 0
    const data = sizes.map((size) => bytes((sent += size) - size, size))
    client.write(Buffer.concat([...data.map(codedChunk), Buffer.from('0\r\n\r\n')]))
    const received = await chunks
    assert.deepEqual(Buffer.concat(received), Buffer.concat(data))
    // One each before: 20,007.
    assert.ok(received.length < 100, `${received.length} chunks`)
  } finally {
    await close()
  }
})

test('holds the connection while the body is not taken, and reads it all once it is', async () => {
  const { upload, accepted, client, close } = await uploadConnection()
  const chunkCount = 400_000
  try {
    let written = 0
    const batch = ONE_BYTE_CHUNK.repeat(1000)
    const write = () => {
      while (written < chunkCount) {
        written += 1000
        if (!client.write(written === chunkCount ? batch + '0\r\n\r\n' : batch)) return void client.once('drain', write)
      }
    }
    write()
    await eventually(async () => readsHeld(accepted) && accepted.isPaused(), 5000, 'the hold')
    // Held, it is read no further.
    const heldAt = upload.body.readableLength
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(upload.body.readableLength, heldAt)
    // What was read is in `body`, joined: none of it waits in `req`, a Buffer per byte (16,000 of them
    // before, some 4 MB).
    assert.equal(upload.req.readableLength, 0)
    // Its buffer (16 KiB on Node 20, 64 KiB from Node 22), and what the read that filled it brought.
    assert.ok(heldAt <= upload.body.readableHighWaterMark + 32 * 1024, `${heldAt} bytes in the body`)
    const received = Buffer.concat(await chunksOf(upload.body))
    assert.equal(received.length, chunkCount)
    assert.equal(received.toString().replaceAll('a', ''), '')
    assert.equal(readsHeld(accepted), false)
  } finally {
    await close()
  }
})
