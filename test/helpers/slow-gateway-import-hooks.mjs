/** Module hooks for slow-gateway-import.mjs. */
import { writeFileSync } from 'node:fs'
import { setTimeout } from 'node:timers/promises'

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context)
  if (/\/src\/cli\/run\.[jt]s$/.test(resolved.url)) {
    writeFileSync(process.env.PORTCULLIS_TEST_IMPORT_MARKER, '')
    await setTimeout(1500)
  }
  return resolved
}
