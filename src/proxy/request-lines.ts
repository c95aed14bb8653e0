/**
 * Each request line of a connection as it comes, read by read. Nothing of a request reaches JavaScript
 * before its head is parsed whole, and Node hands a connection's bytes to its HTTP parser (llhttp) in
 * C++; the one place to see them is the callback Node's server gives the parser for each read, where
 * the read's bytes can be asked for (a copy). Two answers need a line before its head is parsed: an
 * HTTP/0.9 line, to which no head follows (http09.ts), and a version the parser refuses in a read that
 * holds only its last digits (http-versions.ts), on any request of the connection.
 *
 * The callback is wrapped for the connection's life, and another is set for each request's first byte,
 * but a read is copied only while a request's head has come in part: a request whose head comes in one
 * read (nearly all of them) costs two calls and a few comparisons. Only the line is kept, and each read
 * is looked at once: the empty lines a server ignores before it (RFC 9112 2.2) have no bound but the
 * headers timeout, and a client could send megabytes of them.
 */
import type { Duplex } from 'node:stream'
import type { ParseError } from './http-versions.js'

/** Node's HTTP parser of a connection, as far as it is read here (internals of node:http). */
interface NodeParser {
  readonly constructor: { readonly kOnExecute?: unknown; readonly kOnMessageBegin?: unknown }
  /** The request whose head was parsed last, until it is answered and read; none before the first. */
  readonly incoming: { readonly complete: boolean } | null
  /** A copy of the read the parser just took, while its per-read callback runs. */
  readonly getCurrentBuffer?: () => Buffer
  [callback: number]: unknown
}

/** Node's per-read callback: the bytes parsed, or the parser's error. */
type OnExecute = (parsed: number | Error) => void

const CR = 0x0d
const LF = 0x0a

/**
 * Calls `onFirstLine` with `socket`'s first request line if it came before its head was parsed (as an
 * HTTP/0.9 line comes), and hands a parse error in a request line what of the line came in earlier
 * reads (ParseError.lineBefore). Called once Node's server has taken the socket. On a Node whose parser
 * no longer has the per-read callback, nothing is watched: an HTTP/0.9 request gets the headers
 * timeout's 408, and a split version 400. Without the callback for a request's first byte, only a line
 * begun in the read that completed the request before it goes unwatched (400 for a split version).
 */
export function watchRequestLines(socket: Duplex, onFirstLine: (line: string) => void): void {
  const parser = (socket as Duplex & { parser?: NodeParser }).parser
  const { kOnExecute: onExecute, kOnMessageBegin: onMessageBegin } = parser?.constructor ?? {}
  if (!parser || typeof onExecute !== 'number' || typeof parser[onExecute] !== 'function' || !parser.getCurrentBuffer) return
  // Bytes the socket read before the server took it reach the parser without the callback: the watch
  // would begin in the middle of the request and could take a header line for the request line.
  if (socket.readableLength > 0) return
  const nodeOnExecute = parser[onExecute] as OnExecute
  /** The request whose head was parsed last (none yet), and the one whose end began `line`. */
  let request = parser.incoming
  let lineAfter = request
  /** What the parser held when the latest request began: the request before it, unless Node let go of it. */
  let begunBehind = request
  // Node's server leaves the callback for a request's first byte to its users (Node 20 to 24).
  if (typeof onMessageBegin === 'number' && parser[onMessageBegin] == null) {
    parser[onMessageBegin] = () => {
      begunBehind = parser.incoming
    }
  }
  /** The next request's line while it comes; none from its end until the request before it is complete. */
  let line: RequestLine | undefined = new RequestLine()
  let firstLine = true
  const watch: OnExecute = (parsed) => {
    // A parse error ends the connection, and the watch.
    if (parsed instanceof Error) {
      parser[onExecute] = nodeOnExecute
      ;(parsed as ParseError).lineBefore = line?.head ?? ''
      nodeOnExecute(parsed)
      return
    }
    // A head parsed whole in this read (the usual case) ends its line unread. Node lets go of a request
    // once it is answered and read to its end: no head is parsed then.
    const headParsed = parser.incoming !== request && parser.incoming !== null
    const whole = headParsed ? undefined : line?.add(parser.getCurrentBuffer!())
    if (headParsed || whole !== undefined) line = undefined
    if (headParsed) request = parser.incoming
    nodeOnExecute(parsed)
    // Only the first line is known to begin where a read begins: one pipelined behind a request may
    // begin in that request's last read, and what came of it later is not the whole line.
    if (firstLine && whole) onFirstLine(whole)
    if (!line && request?.complete && lineAfter !== request) {
      // The next request began in the read that completed this one if it began while this one was held.
      line = begunBehind === request ? RequestLine.endOf(parser.getCurrentBuffer!()) : new RequestLine()
      lineAfter = request
      firstLine = false
    }
  }
  parser[onExecute] = watch
}

/** A request line, read by read. */
class RequestLine {
  /** The line as far as it has come, from its first byte. */
  head = ''

  /**
   * The line of a request that began in `read` behind the end of the request before it, whose
   * offset the parser does not tell: the read's last line, unfinished if the request line is. It may
   * begin with the end of a body, which a version at the line's end does not reach.
   */
  static endOf(read: Buffer): RequestLine {
    const line = new RequestLine()
    line.head = read.toString('latin1', read.lastIndexOf(LF) + 1)
    return line
  }

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
