import { ConfigLoader } from '../../src/config/load.js'
import type { Config } from '../../src/config/types.js'

/** Config text loaded as if read from `file`: relative paths resolve against its folder. */
export function parseConfig(text: string, file: string): Config {
  return new ConfigLoader(file).parse(text)
}
