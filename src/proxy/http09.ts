/**
 * HTTP/0.9 is not served, and a request of it is refused as soon as its line has come. Node's parser
 * (llhttp) reads a request line without a version (`GET /`, HTTP/0.9's simple request) as version 0.9,
 * and then reads a header block after it, as for HTTP/1.x: a block that an HTTP/0.9 client, which
 * waits for its answer after the line, never sends. The request would reach no handler, and the
 * connection would wait for the headers timeout (20 s, then 408). Nothing of the parser's state
 * reaches JavaScript before the block ends, and Node hands a connection's bytes to the parser in C++;
 * the one place to see them is the callback Node's server gives the parser for each read, where the
 * read's bytes can be asked for. That callback is wrapped for a connection's first request line only:
 * a client that sends its request at once costs one check on one read, and the callback is Node's own
 * again after. An HTTP/0.9 line behind a request on a keep-alive connection is left to the headers
 * timeout: no client speaks HTTP/1.1 and then HTTP/0.9. The line kept so far also tells the answer to
 * a version refused in a later read (http-versions.ts).
 */
import type { Duplex } from 'node:stream'
import type { ParseError } from './http-versions.js'

/** Node's HTTP parser of a connection, as far as it is read here (internals of node:http). */
interface NodeParser {
  readonly constructor: { readonly kOnExecute?: unknown }
  /** The request whose headers were parsed last; none yet on a connection's first request. */
  readonly incoming: unknown
  /** A copy of the read the parser just took, while its per-read callback runs. */
  readonly getCurrentBuffer?: () => Buffer
  [callback: number]: unknown
}

/** Node's per-read callback: the bytes parsed, or the parser's error. */
type OnExecute = (parsed: number | Error) => void

const CR = 0x0d
const LF = 0x0a

/**
 * Calls `refuse` with the method of `socket`'s first request line if the parser read it as HTTP/0.9:
 * a line without a version, or `HTTP/0.9` written out (a version no HTTP/1 message carries). Called
 * once Node's server has taken the socket. On a Node whose parser no longer has the callback, nothing
 * is watched, and such a request gets the 408.
 */
export function refuseHttp09Line(socket: Duplex, refuse: (method: string) => void): void {
  const parser = (socket as Duplex & { parser?: NodeParser }).parser
  const onExecute = parser?.constructor.kOnExecute
  if (!parser || typeof onExecute !== 'number' || typeof parser[onExecute] !== 'function' || !parser.getCurrentBuffer) return
  // Bytes the socket read before the server took it reach the parser without the callback: the watch
  // would begin in the middle of the request and could take a header line for the request line.
  if (socket.readableLength > 0) return
  const nodeOnExecute = parser[onExecute] as OnExecute
  const firstLine = new FirstLine()
  const watch: OnExecute = (parsed) => {
    // A parse error ends the watch, and takes what came of the line before this read, for a refused
    // version whose first digits came in an earlier read (http-versions.ts).
    if (parsed instanceof Error) {
      parser[onExecute] = nodeOnExecute
      ;(parsed as ParseError).lineBefore = firstLine.head
      nodeOnExecute(parsed)
      return
    }
    // A request parsed whole (the usual first read) ends the watch at once.
    const line = parser.incoming ? '' : firstLine.add(parser.getCurrentBuffer!())
    if (line !== undefined) parser[onExecute] = nodeOnExecute
    nodeOnExecute(parsed)
    if (line && isHttp09(line)) refuse(line.slice(0, line.indexOf(' ')))
  }
  parser[onExecute] = watch
}

/**
 * A connection's first request line, read by read. Only the line is kept, and each read is looked
 * at once: the empty lines a server ignores before it (RFC 9112 2.2) have no bound but the headers
 * timeout, and a client could send megabytes of them.
 */
class FirstLine {
  /** The line as far as it has come, from its first byte. */
  head = ''

  /** The whole line once its end is in `read`; undefined until then. */
  add(read: Buffer): string | undefined {
    const start = this.head === '' ? afterEmptyLines(read) : 0
    const end = read.indexOf(LF, start)
    if (end === -1) {
      this.head += read.toString('latin1', start)
      return undefined
    }
    const line = this.head + read.toString('latin1', start, end)
    return line.endsWith('\r') ? line.slice(0, -1) : line
  }
}

/** Where a request line may begin in `read`: past the CR and LF bytes at its start. */
function afterEmptyLines(read: Buffer): number {
  let at = 0
  while (at < read.length && (read[at] === CR || read[at] === LF)) at++
  return at
}

/**
 * The parser has taken the line without an error, so it is a method, a target and at most a version,
 * between spaces; with no version, or HTTP/0.9, it read the line as HTTP/0.9.
 */
function isHttp09(line: string): boolean {
  const words = line.split(' ').filter(Boolean)
  return words.length === 2 || words[2] === 'HTTP/0.9'
}
