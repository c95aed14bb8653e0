/**
 * Writes schema/routes.schema.json from src/config/schema.ts (the one source of the config's types,
 * validation and editor schema). A unit test fails when the committed file is stale.
 */
import { writeFileSync } from 'node:fs'
import { renderJsonSchema } from '../src/config/json-schema.js'

const target = new URL('../schema/routes.schema.json', import.meta.url)
writeFileSync(target, renderJsonSchema())
process.stdout.write(`wrote ${target.pathname}\n`)
