/**
 * Structured JSON logs (pino); human-readable when stdout is a terminal. Certificates and keys are
 * never logged: callers log route names, reasons and error codes only.
 */
import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  const level = options.level ?? process.env.PORTCULLIS_LOG_LEVEL ?? 'info'
  const base = { level, base: { service: 'portcullis' }, timestamp: pino.stdTimeFunctions.isoTime }
  if (options.pretty ?? process.stdout.isTTY) {
    return pino(base, pretty({ colorize: true, ignore: 'pid,hostname,service', translateTime: 'SYS:HH:MM:ss.l' }))
  }
  return pino(base)
}
