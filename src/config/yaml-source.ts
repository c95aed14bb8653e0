/**
 * Parses routes.yaml with the `yaml` package and keeps the line and column of every key path, so that
 * issues found later (schema, cross-field rules, certificate files) can point into the file.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml'
import { formatIssue, sortByPosition, type ConfigIssue } from './issues.js'
import type { Position } from './types.js'

export interface YamlSource {
  readonly value: unknown
  readonly positions: ReadonlyMap<string, Position>
  /** Where each mapping key itself is: an unknown key is reported there, not at its value. */
  readonly keyPositions: ReadonlyMap<string, Position>
  readonly issues: readonly ConfigIssue[]
}

/**
 * The `yaml` package refuses more than 100 alias expansions by default, which a route table with one
 * `timeouts: *defaults` per route passes. Its guard counts uses times the anchored node's own aliases,
 * so a nested expansion attack still stops long before memory does.
 */
const MAX_ALIAS_COUNT = 100_000

/** Library messages that speak to a programmer ("please use YAML.parseAllDocuments()"), said for the user. */
const OWN_WORDS: Partial<Record<string, string>> = {
  MULTIPLE_DOCS: 'a second document starts here (---); routes.yaml is one document',
  RESOURCE_EXHAUSTION: 'nested too deeply',
}

export function parseYaml(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter()
  // `merge`: `<<: *defaults` merge keys, as YAML 1.1 and Compose files have them. `uniqueKeys` off:
  // the library compares each key with every key before it in its mapping, so a mapping of 40,000
  // keys (a 600 KB file) takes 40 s, in which a reload serves nothing; keyPathsOf() finds repeated
  // keys in one pass, and names the key path.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: true, merge: true })
  const errors = yamlErrors(doc, file)
  if (errors.length > 0) return refused(errors)
  const { positions, keyPositions, issues } = keyPathsOf(doc, lineCounter, file)
  if (issues.length > 0) return refused(issues)
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), positions, keyPositions, issues }
  } catch (error) {
    // Aliases that expand past the bound (a "billion laughs" file).
    return refused([{ file, path: '', message: `invalid YAML: ${(error as Error).message}` }])
  }
}

function refused(issues: readonly ConfigIssue[]): YamlSource {
  return { value: undefined, positions: new Map(), keyPositions: new Map(), issues }
}

/** The library's errors, worded for the user, the first few listed (see listedFirst). */
function yamlErrors(doc: Document, file: string): ConfigIssue[] {
  // The stack runs out at each level of the nesting as the parser unwinds: one report says it.
  const errors = doc.errors.filter((error, i) => error.code !== 'RESOURCE_EXHAUSTION' || doc.errors.findIndex((e) => e.code === error.code) === i)
  return listedFirst(
    errors.map((error): ConfigIssue => {
      const position = error.linePos?.[0]
      // The library's message repeats the position and a code excerpt after the first line.
      const message = `invalid YAML: ${OWN_WORDS[error.code] ?? error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`
      return { file, path: '', message, ...(position && { line: position.line, col: position.col }) }
    }),
  )
}

/**
 * The position of every key path, and the issues of a document the library parsed but that no key
 * path can stand for: an alias without its anchor, a collection as a key, a key written twice.
 */
function keyPathsOf(doc: Document, lineCounter: LineCounter, file: string): Omit<YamlSource, 'value'> {
  const issues: ConfigIssue[] = []
  const positions = new Map<string, Position>()
  const keyPositions = new Map<string, Position>()
  const at = (offset: number): Position => lineCounter.linePos(offset)
  // Scalars point at their value (what is wrong is usually the value); maps and lists at their key.
  const walk = (node: unknown, path: string): void => {
    if (isAlias(node) && node.resolve(doc) === undefined) {
      issues.push({ file, path, message: unanchoredAlias(node.source), ...at(node.range?.[0] ?? 0) })
    } else if (isMap(node)) {
      const lineOfKey = new Map<string, number>()
      for (const pair of node.items) {
        if (isPair(pair) && isAlias(pair.key)) walk(pair.key, path)
        const collection = isPair(pair) ? collectionKey(pair.key, doc) : undefined
        if (collection) {
          const message = `invalid YAML: this key is a ${collection}; a key must be a name, such as host or url`
          issues.push({ file, path, message, ...at((pair.key as Node).range?.[0] ?? 0) })
          continue
        }
        if (!isPair(pair) || !isScalar(pair.key)) continue
        // A merge key (`<<`) may come more than once; its value is a Symbol.
        if (typeof pair.key.value === 'symbol') {
          walk(pair.value, path)
          continue
        }
        // The key as the JS object has it: `null:` and `~:` are '', `1` and "1" the same key.
        const key = pair.key.value === null ? '' : String(pair.key.value)
        const childPath = path ? `${path}.${key}` : key
        const keyAt = at(pair.key.range?.[0] ?? 0)
        const first = lineOfKey.get(key)
        if (first !== undefined) {
          issues.push({ file, path: childPath, message: `invalid YAML: '${key}' is written twice in one mapping (first on line ${first})`, ...keyAt })
          continue
        }
        lineOfKey.set(key, keyAt.line)
        const target = isScalar(pair.value) ? pair.value : pair.key
        positions.set(childPath, at((target as Node).range?.[0] ?? 0))
        keyPositions.set(childPath, keyAt)
        walk(pair.value, childPath)
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        const childPath = `${path}[${index}]`
        positions.set(childPath, at((item as Node).range?.[0] ?? 0))
        walk(item, childPath)
      })
    }
  }
  // The document itself, for what is missing at its top (`listen: is required`).
  positions.set('', at(doc.contents?.range?.[0] ?? 0))
  walk(doc.contents, '')
  return { positions, keyPositions, issues }
}

/** Distinct YAML errors listed one by one; the rest are counted in one line. */
const MAX_LISTED_YAML_ERRORS = 5

/**
 * Each level of an unclosed `[[[[…` or `{a: [b, {c: [` is an error of its own to the library, most of
 * them the same line at the same place: a few hundred brackets would print a few hundred lines in
 * `check` and in the reload log, and the first, the cause, would scroll away. The first few distinct ones
 * are listed, then one line that counts the rest, at the place of the last listed so it sorts after it.
 */
function listedFirst(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const listed = new Map<string, ConfigIssue>()
  let unlisted = 0
  for (const issue of sortByPosition(issues)) {
    const text = formatIssue(issue)
    if (listed.size < MAX_LISTED_YAML_ERRORS && !listed.has(text)) listed.set(text, issue)
    else unlisted++
  }
  if (unlisted === 0) return [...listed.values()]
  const { file, line, col } = [...listed.values()].at(-1)!
  const message = `invalid YAML: … and ${unlisted} more YAML error${unlisted === 1 ? '' : 's'}, not listed; the first is often the cause of the rest`
  return [...listed.values(), { file, path: '', message, ...(line !== undefined && { line, col }), unlisted }]
}

/**
 * `? [a, b]`, `{[a]: 1}` or an alias of a collection as a key: toJS() would make a key of its text
 * ("[ a, b ]"), which no position leads back to, and warn on the process's stderr.
 */
function collectionKey(key: unknown, doc: Document): 'list' | 'mapping' | undefined {
  const node = isAlias(key) ? key.resolve(doc) : key
  return isMap(node) ? 'mapping' : isSeq(node) ? 'list' : undefined
}

/**
 * The library reports an alias without its anchor only when it builds the value, with no position.
 * The usual one is a wildcard host left unquoted: `host: *.example.com` is YAML for an alias.
 */
function unanchoredAlias(name: string): string {
  const hint = name.startsWith('.') ? `; a wildcard host must be quoted: "*${name}"` : ''
  return `invalid YAML: *${name} is an alias, and no &${name} anchor comes before it${hint}`
}
