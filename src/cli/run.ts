/**
 * `portcullis [--config FILE]`: serve until SIGTERM or SIGINT, then drain. SIGHUP reloads the config.
 */
import { ConfigError, formatIssue } from '../config/issues.js'
import { Gateway } from '../gateway.js'
import { createLogger } from '../log.js'

export async function runGateway(configFile: string, err: (line: string) => void): Promise<number> {
  const logger = createLogger()
  const gateway = new Gateway({ configFile, logger })
  try {
    await gateway.start()
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const issue of error.issues) err(formatIssue(issue))
      err(`${configFile}: not started, ${error.issues.length} problem${error.issues.length === 1 ? '' : 's'}`)
      return 1
    }
    logger.fatal({ err: { code: (error as { code?: string }).code, message: (error as Error).message } }, 'not started')
    return 1
  }

  process.on('SIGHUP', () => void gateway.reload())
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'))
    process.once('SIGINT', () => resolve('SIGINT'))
  })
  logger.info({ signal }, 'draining')
  await gateway.stop()
  logger.info('stopped')
  return 0
}
