/**
 * The portcullis command's options (cli.ts; its usage text says what each does). The image's
 * HEALTHCHECK reads them too, from the running gateway's command line (config-of-process.ts).
 */
import type { ParseArgsConfig } from 'node:util'

export const OPTIONS = {
  config: { type: 'string', short: 'c' },
  workers: { type: 'string', short: 'w' },
  out: { type: 'string', short: 'o' },
  force: { type: 'boolean', short: 'f' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const satisfies ParseArgsConfig['options']
