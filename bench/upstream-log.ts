/**
 * Upstream connections opened during a run, read from the upstream nginx's connection log (one line per
 * connection, at its first request; format CONNECTION_LOG_FORMAT). This counts the same way for every
 * peer, including those that export no metrics, and proves the client certificate on each connection.
 */
import { openSync, readSync, closeSync, statSync } from 'node:fs'

export interface UpstreamConnections {
  /** Connections whose first request fell in the window. */
  readonly opened: number
  /** Of those, TLS sessions resumed (`$ssl_session_reused` = r). */
  readonly resumed: number
  /** Of those on the mTLS port, connections without a client certificate DN (should be 0). */
  readonly withoutClientCert: number
}

export class ConnectionLog {
  constructor(
    private readonly file: string,
    private readonly mtlsPort: number,
  ) {}

  /** The current end of the log: pass it to `since` after the run. */
  mark(): number {
    try {
      return statSync(this.file).size
    } catch {
      return 0
    }
  }

  since(offset: number): UpstreamConnections {
    const text = this.readFrom(offset)
    let opened = 0
    let resumed = 0
    let withoutClientCert = 0
    for (const line of text.split('\n')) {
      const match = /^\S+ (\d+) \d+ (\S+) \S+ "(.*)"$/.exec(line)
      if (!match) continue
      opened++
      if (match[2] === 'r') resumed++
      if (Number(match[1]) === this.mtlsPort && (match[3] === '' || match[3] === '-')) withoutClientCert++
    }
    return { opened, resumed, withoutClientCert }
  }

  private readFrom(offset: number): string {
    let fd: number
    try {
      fd = openSync(this.file, 'r')
    } catch {
      return ''
    }
    try {
      const size = statSync(this.file).size
      const buffer = Buffer.alloc(Math.max(0, size - offset))
      readSync(fd, buffer, 0, buffer.length, offset)
      return buffer.toString('utf8')
    } finally {
      closeSync(fd)
    }
  }
}
