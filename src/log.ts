/**
 * Structured JSON logs (pino); human-readable when stdout is a terminal. Certificates and keys are
 * never logged: callers log route names, reasons and error codes only.
 */
import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

/** What PORTCULLIS_LOG_LEVEL may be: pino's levels, most severe first, and `silent`. */
export const LOG_LEVELS: readonly string[] = [
  ...Object.entries(pino.levels.values)
    .sort(([, a], [, b]) => b - a)
    .map(([name]) => name),
  'silent',
]

/** PORTCULLIS_LOG_LEVEL as pino spells the levels (`WARN` is `warn`). */
export function configuredLogLevel(): string | undefined {
  return process.env.PORTCULLIS_LOG_LEVEL?.toLowerCase()
}

export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  const level = options.level ?? configuredLogLevel() ?? 'info'
  const base = { level, base: { service: 'portcullis' }, timestamp: pino.stdTimeFunctions.isoTime }
  if (options.pretty ?? process.stdout.isTTY) {
    return pino(base, pretty({ colorize: true, ignore: 'pid,hostname,service', translateTime: 'SYS:HH:MM:ss.l' }))
  }
  // Buffered (pino's default): a slow reader of stdout never stalls the event loop.
  return pino(base)
}

/**
 * Before the process exits: what the logs still hold goes out, for at most `waitMs`, then stdout is let
 * go. pino's own exit hook would write it synchronously, and sonic-boom 4 retries that without end on
 * a pipe that no one reads (a log collector or journald gone, or stalled): the process would not exit.
 */
export async function closeLogs(logger: Logger, waitMs = 1000): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs)
    logger.flush(() => {
      clearTimeout(timer)
      resolve()
    })
  })
  const destination = (logger as unknown as Record<symbol, { destroy?: () => void } | undefined>)[pino.symbols.streamSym]
  destination?.destroy?.()
}

/**
 * A log line that clients can cause at will (a refused handshake, a passthrough connection to a dead
 * upstream): at most `perSecond` lines a second, so that a scanner cannot flood the log. The lines
 * left out are counted, and their number is logged with the first line of a later second. Metrics
 * count every event.
 */
export function rateLimitedLog(
  logger: Logger,
  level: 'info' | 'warn',
  message: string,
  perSecond: number,
  now = Date.now,
): (fields: object) => void {
  let windowStart = -Infinity
  let logged = 0
  let left = 0
  return (fields) => {
    const time = now()
    if (time - windowStart >= 1000) {
      if (left > 0) logger[level]({ notLogged: left }, `${message}: ${left} more before this were not logged`)
      windowStart = time
      logged = 0
      left = 0
    }
    if (logged < perSecond) {
      logged++
      logger[level](fields, message)
    } else {
      left++
    }
  }
}

/** Code and message only: never a stack or a certificate in the log. */
export function errorSummary(error: Error): { code?: string; message: string } {
  const code = (error as { code?: string }).code
  const cause = error.cause as { code?: string; message?: string } | undefined
  return { ...(code && { code }), message: cause?.message ? `${error.message}: ${cause.message}` : error.message }
}

/**
 * A warning for an event that comes in floods (a limit reached, thousands of times a second): the first
 * at once, then at most one line every `intervalMs` while it goes on, with how many events it stands for
 * (`count`), as nginx's "worker_connections are not enough" would be if it were not logged per accept.
 * Metrics count every event.
 */
export function floodLog(logger: Logger, message: string, intervalMs: number): (fields: object) => void {
  /** Running while lines are held back; a line once it ends, if any were. */
  let quietPeriod: NodeJS.Timeout | undefined
  let heldBack = 0
  let lastFields: object = {}
  const endOfQuietPeriod = () => {
    quietPeriod = undefined
    if (heldBack === 0) return
    logger.warn({ ...lastFields, count: heldBack }, `${message}: ${heldBack} more in the last ${intervalMs / 1000} s`)
    heldBack = 0
    quietPeriod = setTimeout(endOfQuietPeriod, intervalMs).unref()
  }
  return (fields) => {
    if (quietPeriod) {
      heldBack++
      lastFields = fields
      return
    }
    logger.warn({ ...fields, count: 1 }, message)
    quietPeriod = setTimeout(endOfQuietPeriod, intervalMs).unref()
  }
}
