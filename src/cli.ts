#!/usr/bin/env node
/**
 * The portcullis command. Each command returns its exit code, which only this file exits with; the one
 * other exit is a second stop signal's, which does not wait for the drain (cli/run.ts). Each command's
 * modules are loaded when it runs: --help, --version and a usage error answer without loading them.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { OPTIONS } from './cli/options.js'
import { listenForSignals } from './cli/signals.js'
import { closest } from './config/closest-word.js'

const USAGE = `Usage:
  portcullis [--config FILE] [--workers N|auto]
                                  run the gateway (default ./routes.yaml, or $PORTCULLIS_CONFIG)
  portcullis check [FILE]         validate a config and its certificate files; exit 0 when good, 1 otherwise
  portcullis certs [--out DIR] [--force]
                                  write a development PKI (CA, server, client, gateway) to DIR (default ./certs)

Options:
  -c, --config FILE   config file for the gateway
  -w, --workers N     worker processes sharing the listeners: a number or auto (overrides routes.yaml)
  -o, --out DIR       output folder for certs
  -f, --force         certs: overwrite existing files
  -h, --help          show this help
  -v, --version       show the version
`

/** The options each command reads (the gateway's is no command); -h and -v go with any. */
const OPTIONS_OF_COMMAND: Record<string, readonly string[]> = {
  gateway: ['config', 'workers'],
  check: ['config'],
  certs: ['out', 'force'],
}

/** Commands that run a server in other tools; portcullis runs the gateway with none. */
const RUN_WORDS = new Set(['run', 'start', 'serve'])

/** ` (did you mean X?)` when one of `candidates` is near `word`, else nothing. */
function meant(word: string, candidates: readonly string[]): string {
  const near = closest(word, candidates)
  return near ? ` (did you mean ${near}?)` : ''
}

/**
 * Node's words for an unknown option go on to advise on positional arguments that start with '-',
 * which a mistyped option is not.
 */
function parseError(error: Error & { code?: string }): string {
  const option = /'([^']+)'/.exec(error.message)?.[1]
  if (error.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || !option) return error.message
  return `unknown option '${option}'${option.startsWith('--') ? meant(option, Object.keys(OPTIONS).map((name) => `--${name}`)) : ''}`
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

async function main(argv: string[]): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`)
  const err = (line: string) => process.stderr.write(`${line}\n`)
  const usageError = (message: string) => {
    err(`${message}\n\n${USAGE}`)
    return 2
  }
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS })
  } catch (error) {
    return usageError(parseError(error as Error))
  }
  const { values, positionals } = parsed
  if (values.help) {
    out(USAGE)
    return 0
  }
  if (values.version) {
    out(version())
    return 0
  }
  const defaultConfig = process.env.PORTCULLIS_CONFIG ?? 'routes.yaml'
  const [command, ...rest] = positionals
  // A stray word is a mistake to report, not something to ignore: `check` takes one file, `certs` none.
  const unexpected = (argument: string) => usageError(`unexpected argument '${argument}'`)
  // A flag the command would ignore is a mistake too (`check --force`), as nothing it asked for happens.
  const commandName = command ?? 'gateway'
  const ignored = Object.keys(values).find((option) => OPTIONS_OF_COMMAND[commandName]?.includes(option) === false)
  if (ignored) return usageError(`--${ignored} is not an option of ${command ?? 'the gateway'}`)
  // `--config "$UNSET_VARIABLE"`: a mistake in the command line, not a file that cannot be read.
  if (values.config === '' || (command === 'check' && rest[0] === '')) return usageError('the config file name is empty')
  // `PORTCULLIS_CONFIG: ${CONFIG}` in a Compose file with CONFIG unset is the same mistake: read as the
  // file '', it was said with no file name at all.
  const configNamed = values.config !== undefined || (command === 'check' && rest[0] !== undefined)
  if (process.env.PORTCULLIS_CONFIG === '' && !configNamed && (command === undefined || command === 'check')) {
    return usageError('PORTCULLIS_CONFIG is empty: set it to the config file, or unset it for ./routes.yaml')
  }
  switch (command) {
    case undefined: {
      // Before the gateway's modules load, which takes a while: see cli/signals.ts.
      const signals = listenForSignals()
      const { runGateway } = await import('./cli/run.js')
      return runGateway(values.config ?? defaultConfig, values.workers, signals, err)
    }
    case 'check': {
      if (rest.length > 1) return unexpected(rest[1]!)
      // One of the two would go unchecked, and a check that passes would say nothing of it.
      if (rest[0] !== undefined && values.config !== undefined) {
        return usageError(`check takes one config file, not both ${rest[0]} and --config ${values.config}`)
      }
      const { runCheck } = await import('./cli/check.js')
      return runCheck(rest[0] ?? values.config ?? defaultConfig, out, err)
    }
    case 'certs': {
      if (rest.length > 0) return unexpected(rest[0]!)
      // Loaded only here: the PKI generator's libraries would add 3 MiB to every gateway's heap, and a
      // bigger heap makes each full garbage collection under load longer.
      const { runCerts } = await import('./cli/certs.js')
      return runCerts({ out: values.out ?? 'certs', force: values.force ?? false }, out, err)
    }
    default:
      // `caddy run`, `caddy start`, `hugo serve`: this gateway runs with no command at all.
      if (RUN_WORDS.has(command)) return usageError(`unknown command '${command}': the gateway runs with no command (portcullis [--config FILE] [--workers N|auto])`)
      // A config file named where nginx or Caddy take one: the gateway takes it with --config.
      if (/\.ya?ml$/i.test(command)) return usageError(`unknown command '${command}' (to run the gateway with it: portcullis --config ${command})`)
      return usageError(`unknown command '${command}'${meant(command, ['check', 'certs'])}`)
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit now rather than waiting on handles a library may keep: the gateway has drained by here.
    process.exit(code)
  },
  async (error: unknown) => {
    // A bug: one line, as every other error is said; its stack for the report when the log level asks
    // for detail (PORTCULLIS_LOG_LEVEL=debug or trace).
    const { configuredLogLevel } = await import('./log.js')
    const detail = ['debug', 'trace'].includes(configuredLogLevel() ?? '') && error instanceof Error && error.stack
    process.stderr.write(`portcullis: internal error: ${String(error)} (please report it)\n${detail ? `${detail}\n` : ''}`)
    // Workers or listeners may be running; a failed start must not leave them serving.
    process.exit(1)
  },
)
