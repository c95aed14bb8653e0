/**
 * Structured JSON logs (pino); human-readable when stdout is a terminal. Certificates and keys are
 * never logged: callers log route names, reasons and error codes, and a refused certificate's
 * identity only (tls/certificate-identity.ts).
 */
import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

/** What PORTCULLIS_LOG_LEVEL may be: pino's levels, most severe first, and `silent`. */
const LOG_LEVELS: readonly string[] = [
  ...Object.entries(pino.levels.values)
    .sort(([, a], [, b]) => b - a)
    .map(([name]) => name),
  'silent',
]

/** PORTCULLIS_LOG_LEVEL as pino spells the levels (`WARN` is `warn`). */
export function configuredLogLevel(): string | undefined {
  return process.env.PORTCULLIS_LOG_LEVEL?.toLowerCase()
}

/**
 * The usage error of a PORTCULLIS_LOG_LEVEL that is no level, which the gateway refuses before it reads
 * its config, and `check` too, so that a config it passes starts.
 */
export function logLevelRefusal(): string | undefined {
  const level = configuredLogLevel()
  if (level === undefined || LOG_LEVELS.includes(level)) return undefined
  return `PORTCULLIS_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not '${process.env.PORTCULLIS_LOG_LEVEL}'`
}

/**
 * The most the log holds back for a reader of stdout that does not keep up (a log collector stalled):
 * past it, lines are dropped, rather than kept until the process runs out of memory.
 */
const LOG_BUFFER_BYTES = 16 * 1024 * 1024

/** The process's log: the logger, and how it ends before the process exits. */
export interface ProcessLog {
  readonly logger: Logger
  /**
   * The log is ended, so that what it still holds goes out, for at most `waitMs`, then stdout is let
   * go. Not flush(): sonic-boom's returns at once, even with a write in flight and lines waiting behind
   * it. Nor pino's own exit hook: it writes synchronously, which sonic-boom 4 retries without end on a
   * pipe that no one reads (a log collector or journald gone, or stalled), and the process would not
   * exit.
   */
  close(waitMs?: number): Promise<void>
}

export function createLog(bufferBytes = LOG_BUFFER_BYTES): ProcessLog {
  const base = { level: configuredLogLevel() ?? 'info', base: { service: 'portcullis' }, timestamp: pino.stdTimeFunctions.isoTime }
  if (process.stdout.isTTY) {
    const destination = pretty({ colorize: true, ignore: 'pid,hostname,service', translateTime: 'SYS:HH:MM:ss.l' })
    return { logger: pino(base, destination), close: once((waitMs) => endDestination(destination, waitMs)) }
  }
  // Buffered, as pino's default is: a slow reader of stdout never stalls the event loop.
  const destination = pino.destination({ dest: 1, sync: false, maxLength: bufferBytes })
  const logger = pino(base, destination)
  // Once the reader has caught up (everything held back is written), a line says what was lost.
  let dropped = 0
  const reportDropped = () => {
    if (dropped === 0) return
    logger.warn({ dropped }, `${dropped} log lines dropped: stdout was not read fast enough`)
    dropped = 0
  }
  destination.on('drop', () => dropped++)
  destination.on('drain', reportDropped)
  return {
    logger,
    close: once((waitMs) => {
      // At exit, when no drain comes any more: the last lines are kept, whatever the buffer holds.
      ;(destination as unknown as { maxLength: number }).maxLength = 0
      reportDropped()
      return endDestination(destination, waitMs)
    }),
  }
}

/** `close`, run the first time only: a second stop signal may come while the first one's close runs. */
function once(close: ProcessLog['close']): ProcessLog['close'] {
  let closing: Promise<void> | undefined
  return (waitMs) => (closing ??= close(waitMs))
}

/** Ends sonic-boom on stdout, or pino-pretty's stream in front of it, waiting at most `waitMs` for it. */
async function endDestination(destination: LogDestination, waitMs = 1000): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs)
    destination.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
    destination.end()
  })
  destination.destroy()
}

interface LogDestination {
  end(): void
  once(event: 'close', listener: () => void): void
  destroy(): void
}

/**
 * Code and message only: never a stack or a certificate in the log. The cause's, unless said already.
 * Whatever was thrown: a bug may throw a string, or null, and its summary must not throw in turn.
 */
export function errorSummary(thrown: unknown): { code?: string; message: string } {
  const error = thrown as { code?: string; message?: unknown; cause?: { message?: string } } | null | undefined
  if (typeof error?.message !== 'string') return { message: `thrown: ${String(thrown)}` }
  const code = error.code
  const cause = error.cause?.message
  return { ...(code && { code }), message: cause && !error.message.includes(cause) ? `${error.message}: ${cause}` : error.message }
}

/**
 * The most lines (or list entries) of one kind a config load or reload puts in the log: a CA file that
 * 1,000 routes name, or a rotation of every route's files, would otherwise log thousands at each reload.
 */
export const MAX_LOGGED_AT_A_LOAD = 20

/** `lines` as the log takes them: the first MAX_LOGGED_AT_A_LOAD, then one that counts the rest (`N ${more}`). */
export function cappedForLog(lines: readonly string[], more: string): string[] {
  if (lines.length <= MAX_LOGGED_AT_A_LOAD) return [...lines]
  return [...lines.slice(0, MAX_LOGGED_AT_A_LOAD), `${lines.length - MAX_LOGGED_AT_A_LOAD} ${more}`]
}

/**
 * Lines a second, each, for what clients cause at will (a refused handshake, a failed passthrough
 * connection, a tunnel closed at its timeout): a scanner must not flood the log. Metrics count them all.
 */
export const CLIENT_CAUSED_LOG_LIMIT = { lines: 50, intervalMs: 1000 } as const

/**
 * A log line for an event that clients can cause at will, or that comes in floods (a refused
 * handshake, a limit reached thousands of times a second), so that a scanner cannot flood the log:
 * at most `lines` lines at once per `intervalMs`, then, while it goes on, one line per interval with
 * how many events it stands for (`count`; not one event's fields, such as a client address, which
 * would be taken for all of theirs), as nginx's "worker_connections are not enough" would be if it
 * were not logged per accept. Quiet once the events stop; the next is logged at once. Metrics count
 * every event.
 */
export function limitedLog(
  logger: Logger,
  level: 'info' | 'warn',
  message: string,
  { lines, intervalMs }: { readonly lines: number; readonly intervalMs: number },
): (fields: object) => void {
  /** Running while an interval is open; the lines it logged, and the events it held back. */
  let interval: NodeJS.Timeout | undefined
  let logged = 0
  let heldBack = 0
  const endOfInterval = () => {
    interval = undefined
    if (heldBack === 0) return
    logger[level]({ count: heldBack }, `${message}: ${heldBack} more in the last ${intervalMs / 1000} s`)
    // The summary is the first line of the next interval.
    heldBack = 0
    logged = 1
    interval = setTimeout(endOfInterval, intervalMs).unref()
  }
  return (fields) => {
    if (!interval) {
      logged = 0
      interval = setTimeout(endOfInterval, intervalMs).unref()
    }
    if (logged < lines) {
      logged++
      logger[level]({ ...fields, count: 1 }, message)
    } else {
      heldBack++
    }
  }
}
