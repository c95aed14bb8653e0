/**
 * Compiles src/ the way `npm run build` does (tsconfig.build.json), but into bench/results/build, so the
 * benchmark never overwrites dist/ and measures the working tree as it is now. The compiled modules
 * resolve node_modules from the repository, as dist/ does.
 */
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { run } from './proc.js'

export interface PortcullisBuild {
  /** The entry point to run with `node`. */
  readonly cli: string
  /** tsc's complaints when src/ had type errors (it still emits); empty when clean. */
  readonly warnings: string
}

export async function buildPortcullis(repoDir: string, outDir: string): Promise<PortcullisBuild> {
  await rm(outDir, { recursive: true, force: true })
  const tsc = join(repoDir, 'node_modules', 'typescript', 'bin', 'tsc')
  let warnings = ''
  try {
    await run(process.execPath, [tsc, '-p', join(repoDir, 'tsconfig.build.json'), '--outDir', outDir])
  } catch (error) {
    warnings = (error as Error).message
  }
  const cli = join(outDir, 'cli.js')
  if (!existsSync(cli)) throw new Error(`building portcullis failed:\n${warnings}`)
  return { cli, warnings }
}
