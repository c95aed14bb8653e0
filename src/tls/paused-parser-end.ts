/**
 * undici 7 throws from an upstream socket's 'end' when its response parser is paused: the gateway
 * pauses it while a slow client takes the body, and an upstream that closes the connection right
 * after its last bytes (a `Connection: close` answer, or one whose body ends at the close) then ended
 * the process with an uncaught `AssertionError: assert(!this.paused)` (nodejs/undici#5360; undici 8,
 * which fixes it, needs Node 22). A keep-alive answer so closed failed as cut short ("other side
 * closed"). As undici 8 does, the parser is resumed first, so the response completes, or fails as cut
 * short, as it would have unpaused. Its last bytes are in the client's buffer already: the finish
 * deadline bounds a client that never takes them.
 */
import { createRequire } from 'node:module'
import type { Duplex } from 'node:stream'

const require = createRequire(import.meta.url)
/** The socket's HTTP/1 parser, where undici's client keeps it. */
const { kParser } = require('undici/lib/core/symbols.js') as { kParser: symbol }

interface Parser {
  readonly paused: boolean
  resume(): void
}

/** Before undici's own 'end' listener, which connect adds later, resumes the socket's parser if paused. */
export function resumeParserAtEnd(socket: Duplex): void {
  socket.prependListener('end', () => {
    const parser = (socket as Duplex & { [kParser]?: Parser })[kParser]
    if (parser?.paused) parser.resume()
  })
}
