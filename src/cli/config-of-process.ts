/**
 * The config file a running gateway was started with, as its command line names it (`--config FILE`,
 * `-c FILE`), read from /proc. The image's HEALTHCHECK runs beside the gateway, which the container
 * starts as its first process (or as the child of an init, `docker run --init`), and
 * `docker run … node dist/cli.js --config FILE` names the file there, not in PORTCULLIS_CONFIG.
 */
import { readFile, readlink, realpath } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { OPTIONS } from './options.js'

/**
 * What `--config` names on the command line of process `pid`, resolved against its working folder, if
 * that process runs `gatewayEntry` (the path of the gateway's cli.js) as a gateway. Undefined where it
 * runs something else (a shell, another program, a pause container's process), runs a command such as
 * `check`, names no config, or cannot be read.
 */
export async function configOfProcess(pid: number, gatewayEntry: string): Promise<string | undefined> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8')
    // Each argument ends with a NUL.
    const argv = cmdline.split('\0').slice(0, -1)
    const cwd = await readlink(`/proc/${pid}/cwd`)
    const entry = await indexOfEntry(argv, cwd, await realpath(gatewayEntry))
    if (entry === -1) return undefined
    const config = configArgument(argv.slice(entry + 1))
    return config === undefined ? undefined : resolve(cwd, config)
  } catch {
    return undefined
  }
}

/** Where the gateway's entry stands in `argv`, after node's own arguments and an init's; -1 if nowhere. */
async function indexOfEntry(argv: readonly string[], cwd: string, entry: string): Promise<number> {
  for (const [index, arg] of argv.entries()) {
    // The npm bin (node_modules/.bin/portcullis) is a symlink to the entry.
    const path = await realpath(resolve(cwd, arg)).catch(() => undefined)
    if (path === entry) return index
  }
  return -1
}

/** The file `--config` names in the arguments the gateway parses, as cli.ts parses them; none for a command. */
function configArgument(args: string[]): string | undefined {
  const { values, positionals } = parseArgs({ args, options: OPTIONS, strict: false, allowPositionals: true })
  if (positionals.length > 0) return undefined
  return typeof values.config === 'string' && values.config !== '' ? values.config : undefined
}
