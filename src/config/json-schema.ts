import { ConfigSchema } from './schema.js'

/** The published JSON Schema (draft-07, what yaml-language-server reads), as file text. */
export function renderJsonSchema(): string {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...ConfigSchema }
  return `${JSON.stringify(schema, null, 2)}\n`
}
