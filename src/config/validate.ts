/**
 * Schema validation with Ajv, turned into one readable issue per problem. Ajv reports every branch of a
 * union (tls: mapping | 'passthrough'); we keep the branch of the value's own type, so a typo inside a
 * `tls:` mapping reads "unknown key", not three unrelated complaints.
 */
import { Ajv, type ErrorObject } from 'ajv'
import { closest } from './closest-word.js'
import { DURATION_PATTERN } from './duration.js'
import { ConfigSchema, COOKIE_NAME_PATTERN, HOST_HEADER_PATTERN, HTTP_URL_PATTERN, ROUTE_NAME_PATTERN } from './schema.js'
import { shownValue, shownWhole } from './shown-value.js'
import { fromNginxSize, SIZE_PATTERN } from './size.js'
import type { ConfigIssue } from './issues.js'
import type { Position } from './types.js'
import { keyPathStep, type KeyPaths } from './yaml-paths.js'

// strictNumbers: YAML's .inf, -.inf and .nan are numbers to JavaScript, and without it Ajv takes
// Infinity as an integer, and `limits.connections: .inf` would pass as if it meant "no limit".
const ajv = new Ajv({ allErrors: true, verbose: true, strict: false, strictNumbers: true })
const validateSchema = ajv.compile(ConfigSchema)

type JsonSchema = {
  type?: string
  const?: unknown
  pattern?: string
  anyOf?: JsonSchema[]
  items?: JsonSchema
  properties?: Record<string, JsonSchema>
  patternProperties?: Record<string, unknown>
  required?: string[]
}

/**
 * A problem the schema found, with the keys down to what it is about: the value it refused, the
 * unknown key, or the key that is missing (`['routes', '2', 'upstream', 'ca']`).
 */
export interface SchemaRefusal {
  /** None where another refusal says it: a required key that an unknown one misspells. */
  readonly issue?: ConfigIssue
  readonly keys: readonly string[]
}

/** The issues `refusals` are listed as. */
export function refusalIssues(refusals: readonly SchemaRefusal[]): ConfigIssue[] {
  return refusals.flatMap(({ issue }) => (issue ? [issue] : []))
}

/** Every problem the schema finds in `value`, placed by the key paths of its YAML. */
export function schemaRefusals(value: unknown, file: string, paths: KeyPaths): SchemaRefusal[] {
  if (validateSchema(value)) return []
  const errors = pickRelevantErrors(validateSchema.errors ?? [])
  const saidElsewhere = requiredSaidElsewhere(errors)
  return errors.map((error) => {
    const { keys, message } = describe(error)
    if (saidElsewhere.has(error)) return { keys }
    const issue: ConfigIssue = { file, path: keyPathOf(value, keys), message, ...nearestPlace(value, keys, placeOf(error.keyword, paths), paths.positions) }
    return { issue, keys }
  })
}

/**
 * Where a refusal by `keyword` is placed (yaml-paths.ts): an unknown key at the key; a value of a type
 * its key does not take (`type`, or `anyOf` where no branch's type fits) at the value, a list or a
 * mapping as much as a scalar; the rest at a scalar's value and at a collection's key.
 */
function placeOf(keyword: string, { positions, keyPositions, valuePositions }: KeyPaths): (path: string) => Position | undefined {
  if (keyword === 'additionalProperties') return (path) => keyPositions.get(path)
  if (keyword === 'type' || keyword === 'anyOf') return (path) => valuePositions.get(path) ?? positions.get(path)
  return (path) => positions.get(path)
}

/**
 * `keys` as the key path yaml-paths.ts writes: a key is a list's index where the value holds a list
 * there, a mapping's key elsewhere, even where it is a number (`x-ports.8443`).
 */
function keyPathOf(value: unknown, keys: readonly string[]): string {
  let path = ''
  let node = value
  for (const key of keys) {
    path = keyPathStep(path, Array.isArray(node) ? Number(key) : key)
    node = typeof node === 'object' && node !== null && Object.hasOwn(node, key) ? (node as Record<string, unknown>)[key] : undefined
  }
  return path
}

/**
 * The place of `keys` in `places`, or of the nearest key above it that has one (a missing key has
 * none, nor a key a merge brought in), or of the document.
 */
function nearestPlace(value: unknown, keys: readonly string[], places: (path: string) => Position | undefined, positions: ReadonlyMap<string, Position>): Position | undefined {
  for (let length = keys.length; length > 0; length--) {
    const place = places(keyPathOf(value, keys.slice(0, length)))
    if (place) return place
  }
  return positions.get('')
}

/** `/routes/2/upstream` → `['routes', '2', 'upstream']` */
function keysOf(instancePath: string): string[] {
  return instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** What the one file of a key holds that several files may seem to fit, said for a list written there. */
function oneFileHolds(keys: readonly string[]): string | undefined {
  const bundle = 'the CAs in one PEM bundle (cat a.crt b.crt > cas.pem)'
  return { clientCAs: bundle, ca: bundle, cert: 'the certificate, then its intermediates, in one PEM file' }[keys.at(-1) ?? '']
}

function describe(error: ErrorObject): { keys: string[]; message: string } {
  const keys = keysOf(error.instancePath)
  const at = (message: string) => ({ keys, message })
  const schema = error.parentSchema as JsonSchema | undefined
  if (typeof error.data === 'symbol') return at(`the merge key << stands where a value belongs (!!merge makes << that key): write ${wantedValue(error, schema)}`)
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params.additionalProperty)
      const hint = meantKey(error)
      const elsewhere = mappingsWithKey(error.instancePath, key)
      const own = schema?.patternProperties?.['^x-'] ? '; keys of your own start with x-' : ''
      const named = elsewhere.map((path) => path || 'the top level').join(' or ')
      const why = hint ? ` (did you mean '${hint}'?)` : elsewhere.length > 0 ? ` (a key of ${named}: check its indentation)` : own
      return { keys: [...keys, key], message: `unknown key ${shownValue(key)}${why}` }
    }
    case 'required':
      return { keys: [...keys, String(error.params.missingProperty)], message: 'is required' }
    case 'pattern':
      return at(patternMessage(error))
    case 'anyOf': {
      const branches = schema?.anyOf ?? []
      const meant = typeof error.data === 'string' ? meantValue(error.data, branches.flatMap(({ const: value }) => (typeof value === 'string' ? [value] : []))) : undefined
      return at(`must be ${branches.map(describeType).join(' or ')}${meant ? ` (did you mean ${JSON.stringify(meant)}?)` : ''}`)
    }
    case 'type':
      return at(wrongTypeMessage(error, keys, schema))
    case 'minimum':
      return at(`${shown(error.data)} is too small: must be at least ${error.params.limit}`)
    case 'maximum':
      return at(`${shown(error.data)} is too large: must be at most ${error.params.limit}`)
    case 'const':
      return at(`must be ${JSON.stringify(error.params.allowedValue)}`)
    case 'minLength':
      // Each text the schema gives a least length (a host, a url, a file) is one that must not be empty.
      return at('must not be empty')
    case 'minItems':
      return at(`needs at least ${error.params.limit} ${error.params.limit === 1 ? 'entry' : 'entries'}`)
    case 'minProperties':
      return at(`needs at least one of its keys: ${Object.keys((error.parentSchema as JsonSchema | undefined)?.properties ?? {}).join(', ')}`)
    default:
      return at(error.message ?? 'is invalid')
  }
}

/** How a duration and a size are written, as the messages of a value refused for either say it. */
const DURATION_FORM = 'a number with a unit (ms, s, m, h), e.g. 5s'
const SIZE_FORM = 'a number with a unit (B, KB, MB, GB, or KiB, MiB, GiB), e.g. 10MiB'

/**
 * What the key of a refused value takes, in words. For `grace: !!merge <<`, where the tag makes << the
 * merge key: the yaml library gives it as a Symbol, which JSON writes as undefined.
 */
function wantedValue(error: ErrorObject, schema: JsonSchema | undefined): string {
  if (schema?.pattern === DURATION_PATTERN) return `a duration, ${DURATION_FORM}`
  if (schema?.pattern === SIZE_PATTERN) return `a size, ${SIZE_FORM}`
  if (error.keyword === 'type') return describeType({ type: String(error.params.type) })
  return (schema?.anyOf ?? []).map(describeType).join(' or ') || 'a value'
}

/** A value of the wrong type, said with the hint its value and key suggest where one fits. */
function wrongTypeMessage(error: ErrorObject, keys: readonly string[], schema: JsonSchema | undefined): string {
  // `connect: 5` is a number to YAML: a duration without its unit.
  if (schema?.pattern === DURATION_PATTERN) return notADuration(error.data)
  // `maxRequestBody: 1048576`: a size without its unit.
  if (schema?.pattern === SIZE_PATTERN) return notASize(error.data)
  // Before the port hint: `https: .inf` is no port.
  if (typeof error.data === 'number' && !Number.isFinite(error.data)) {
    return `${shown(error.data)} is not ${describeType({ type: String(error.params.type) })}`
  }
  // `https: 8443`, as nginx's `listen 8443`: which interfaces is not said.
  if (keys[0] === 'listen' && keys.length === 2) {
    if (typeof error.data === 'number') return `${error.data} is a port alone: write host:port, e.g. 0.0.0.0:${error.data} (all interfaces) or 127.0.0.1:${error.data}`
    if (typeof error.data !== 'object') return `${shown(error.data)} is no address: write host:port, e.g. 0.0.0.0:8443 (all interfaces) or 127.0.0.1:8443`
  }
  // `upstream: https://…`, as Caddy's reverse_proxy and nginx's proxy_pass take a url alone: the
  // text is the value of the mapping's one required key.
  if (error.params.type === 'object' && typeof error.data === 'string' && /:\/\//.test(error.data) && schema?.required?.length === 1) {
    const url = shownWhole(error.data) ? error.data : '…'
    return `must be a mapping: write ${keys.at(-1)}: {${schema.required[0]}: ${url}}`
  }
  // `clientCAs: [a.crt, b.crt]`, as ngrok's SDKs take mutual_tls_cas: here one file holds them all.
  const oneFile = error.params.type === 'string' && Array.isArray(error.data) ? oneFileHolds(keys) : undefined
  if (oneFile) return `takes one file, not a list: put ${oneFile}`
  // A route's keys written without the `- ` that starts a list item make a mapping.
  if (error.params.type === 'array' && fitsType({ type: 'object' }, error.data)) {
    return "must be a list: each entry starts with '- ', as `  - host: …`"
  }
  // `name: 2024`, `serverName: true`: a number or a boolean to YAML, meant as text. Not where the
  // text would be refused too (`path: 5`, which must start with /).
  if (error.params.type === 'string' && (typeof error.data === 'number' || typeof error.data === 'boolean')) {
    const asText = String(error.data)
    if (schema?.pattern && !new RegExp(schema.pattern).test(asText)) return patternMessage({ ...error, data: asText, params: { pattern: schema.pattern } })
    return `${shown(error.data)} is a ${typeof error.data} to YAML: quote it ("${asText}") to make it a string`
  }
  // `requests: 10r/s`, nginx's limit_req rate written whole.
  const rate = keys.at(-2) === 'rateLimit' && keys.at(-1) === 'requests' && typeof error.data === 'string' ? /^(\d+)\s*r?\s*\/\s*(s|m|h)$/i.exec(error.data) : null
  if (rate) return `${shown(error.data)} is a rate: write requests: ${rate[1]} and per: 1${rate[2]!.toLowerCase()}`
  if (error.params.type === 'boolean' && typeof error.data === 'string') {
    const meant = BOOLEAN_WORDS.get(error.data.toLowerCase())
    // `mergeSlashes: no`: a boolean to YAML 1.1 (and to Ansible's and older Compose files' readers),
    // text to YAML 1.2; `"true"` is text for its quotes. "must be a boolean" alone left the user sure it was one.
    if (meant !== undefined && error.data.toLowerCase() === String(meant)) return `${shown(error.data)} is text, as it is quoted: write ${meant}, without quotes`
    if (meant !== undefined) return `${shown(error.data)} is text to YAML 1.2, not a boolean (yes, no, on and off were booleans in YAML 1.1): write ${meant}`
  }
  return `must be ${describeType({ type: String(error.params.type) })}`
}

/** The words of a boolean in YAML 1.1 and 1.2, in lower case, and the boolean each means. */
const BOOLEAN_WORDS = new Map(Object.entries({ true: true, false: false, yes: true, no: false, y: true, n: false, on: true, off: false }))

function patternMessage(error: ErrorObject): string {
  const value = shown(error.data)
  const pattern = String(error.params.pattern)
  if (pattern === DURATION_PATTERN) return notADuration(error.data)
  if (pattern === SIZE_PATTERN) return notASize(error.data)
  if (pattern === '^/') return `${value} must start with /`
  if (pattern === HTTP_URL_PATTERN) return `${value} is no http:// or https:// url`
  if (pattern === ROUTE_NAME_PATTERN) return `${value} may hold letters, digits and _ . : - only`
  if (pattern === HOST_HEADER_PATTERN) return `${value} is no host: a name or an address, with a port or not (api.example.com, api.example.com:8443)`
  if (pattern === COOKIE_NAME_PATTERN) return `${value} is no cookie name: letters, digits and ! # $ % & ' * + - . ^ _ \` | ~, without spaces`
  return `${value} must match ${pattern}`
}

function notADuration(value: unknown): string {
  return `${shown(value)} is not a duration: write ${DURATION_FORM}`
}

function notASize(value: unknown): string {
  const nginx = fromNginxSize(value)
  return `${shown(value)} is not a size: write ${SIZE_FORM}${nginx ? `; nginx's ${value} is ${nginx}` : ''}`
}

/** A value as the message quotes it: as JSON writes it, but for a secret or a long value (shown-value.ts). */
function shown(value: unknown): string {
  return shownValue(value, '"')
}

function describeType(schema: JsonSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const)
  switch (schema.type) {
    case 'object':
      return 'a mapping'
    case 'array':
      return 'a list'
    case 'integer':
      return 'a whole number'
    default:
      return `a ${schema.type ?? 'value'}`
  }
}

/**
 * What the peers call a value of ours (`least_conn` is nginx's and Caddy's leastRequests), by its
 * letters in lower case without `_` and `-`.
 */
const PEERS_VALUE_NAMES: ReadonlyMap<string, string> = new Map([
  ['leastconn', 'leastRequests'],
  ['leastrequest', 'leastRequests'],
  ['iphash', 'clientIPHash'],
  ['header', 'headerHash'],
  ['hdr', 'headerHash'],
])

/** The value of a list of names that `text` was meant as: written in another case or style, another proxy's name, or a slip. */
function meantValue(text: string, values: readonly string[]): string | undefined {
  const squashed = (value: string) => value.toLowerCase().replace(/[_-]/g, '')
  const peers = PEERS_VALUE_NAMES.get(squashed(text))
  return values.find((value) => squashed(value) === squashed(text)) ?? (peers && values.includes(peers) ? peers : closest(text, values))
}

/** The key of its mapping that an unknown key is a misspelling of, if it is close to one. */
function meantKey(error: ErrorObject): string | undefined {
  return closest(String(error.params.additionalProperty), Object.keys((error.parentSchema as JsonSchema | undefined)?.properties ?? {}))
}

/**
 * The errors of required keys written misspelt, or a level too shallow or too deep where only one
 * mapping takes them. Each is one mistake, which "unknown key 'hots' (did you mean 'host'?)" or
 * "unknown key 'upstream' (a key of routes[0]: check its indentation)" says: "host: is required"
 * beside it would say it twice. Where two mappings take it (`cert`: tls or upstream), the key may be
 * meant for the one that does not miss it, and the one that does is told.
 */
function requiredSaidElsewhere(errors: ErrorObject[]): Set<ErrorObject> {
  const unknown = errors.filter((e) => e.keyword === 'additionalProperties')
  const meant = new Set(unknown.map((e) => `${e.instancePath}/${meantKey(e)}`))
  const misplaced = new Set(
    unknown.flatMap((e) => {
      const key = String(e.params.additionalProperty)
      const elsewhere = mappingsWithKey(e.instancePath, key)
      return elsewhere.length === 1 ? [`${elsewhere[0]}/${key}`] : []
    }),
  )
  return new Set(
    errors.filter((e) => {
      if (e.keyword !== 'required') return false
      const key = String(e.params.missingProperty)
      return meant.has(`${e.instancePath}/${key}`) || misplaced.has(`${mappingsAlong(e.instancePath).at(-1)!.path}/${key}`)
    }),
  )
}

/**
 * For each failed union keep only the errors of the branch whose type fits the value; when no branch
 * fits, keep the union's own error ("must be a mapping or "passthrough"").
 */
function pickRelevantErrors(errors: ErrorObject[]): ErrorObject[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf')
  const dropped = new Set<ErrorObject>()
  for (const union of unions) {
    const branches = (union.parentSchema as JsonSchema).anyOf ?? []
    // A value of a literal's type that is not the literal ('passthru') reads best as the union's message.
    const fitting = branches.findIndex((branch) => fitsType(branch, union.data) && branch.const === undefined)
    for (const error of errors) {
      const inUnion =
        error.schemaPath.startsWith(`${union.schemaPath}/`) && error.instancePath.startsWith(union.instancePath)
      if (error === union || !inUnion) continue
      const branch = Number(error.schemaPath.slice(union.schemaPath.length + 1).split('/')[0])
      if (branch !== fitting) dropped.add(error)
    }
    if (fitting !== -1) dropped.add(union)
  }
  return errors.filter((e) => !dropped.has(e))
}

function fitsType(schema: JsonSchema, value: unknown): boolean {
  if (schema.const !== undefined) return typeof schema.const === typeof value
  switch (schema.type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value)
    case 'array':
      return Array.isArray(value)
    case 'integer':
    case 'number':
      return typeof value === 'number'
    default:
      return typeof value === schema.type
  }
}

/**
 * The key paths ('' for the top level) of the mappings next to the one at `instancePath` that take
 * `key`: its parents, and the mappings it holds. A key indented a level too deep or too shallow lands
 * in one of them (`cert` under a route rather than its `tls`).
 */
function mappingsWithKey(instancePath: string, key: string): string[] {
  const along = mappingsAlong(instancePath)
  const [parent] = along.slice(-1)
  const parents = along.slice(0, -1).filter(({ schema }) => takes(schema, key))
  const children = Object.entries(parent?.schema.properties ?? {}).filter(([, child]) => takes(mapping(child), key))
  return [...parents.map(({ path }) => path), ...children.map(([child]) => keyPathStep(parent!.path, child))]
}

/** The mapping schema of each level from the top down to `instancePath`, with its key path. */
function mappingsAlong(instancePath: string): { path: string; schema: JsonSchema }[] {
  const along = [{ path: '', schema: ConfigSchema as JsonSchema }]
  let schema: JsonSchema | undefined = ConfigSchema
  let path = ''
  for (const key of keysOf(instancePath)) {
    const inList: boolean = schema?.type === 'array'
    path = keyPathStep(path, inList ? Number(key) : key)
    schema = inList ? schema!.items : mapping(schema)?.properties?.[key]
    const asMapping = mapping(schema)
    if (asMapping) along.push({ path, schema: asMapping })
  }
  return along
}

/** Whether a mapping schema has `key`, its own: `toString` is no key of routes.yaml. */
function takes(schema: JsonSchema | undefined, key: string): boolean {
  return schema?.properties !== undefined && Object.hasOwn(schema.properties, key)
}

/** A schema that is a mapping, or the mapping among the branches of a union (`tls`: a mapping or passthrough). */
function mapping(schema: JsonSchema | undefined): JsonSchema | undefined {
  return schema?.type === 'object' ? schema : schema?.anyOf?.find((branch) => branch.type === 'object')
}
