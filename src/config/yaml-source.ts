/**
 * Parses routes.yaml with the `yaml` package and keeps the line and column of every key path, so that
 * issues found later (schema, cross-field rules, certificate files) can point into the file.
 */
import { Composer, LineCounter, Parser, visit, YAMLParseError, type CST, type Document, type YAMLError } from 'yaml'
import { formatIssue, sortByPosition, type ConfigIssue } from './issues.js'
import { keyPathsOf, type KeyPaths } from './yaml-paths.js'

export interface YamlSource extends KeyPaths {
  /** undefined where the document holds nothing (comments at most); `~` alone is null. */
  readonly value: unknown
}

/**
 * The `yaml` package refuses more than 100 alias expansions by default, which a route table with one
 * `timeouts: *defaults` per route passes. Its guard counts uses times the anchored node's own aliases,
 * so a nested expansion attack still stops long before memory does.
 */
const MAX_ALIAS_COUNT = 100_000

/**
 * How deep a value may nest; routes.yaml's deepest key is four below the top (routes[0].upstream.timeouts.connect).
 * The library builds a value nested N deep with recursion N deep: past some 800 levels the stack runs
 * out, which it catches, but a later such load in the process (the next reload) aborted it in V8's
 * RegExp compiler, with nothing to catch. The parser's tokens, made without recursion, are checked first.
 */
const MAX_DEPTH = 100
/** Lines that YAML cannot read as meant nest too: 150 lines of `key: a: b` are 150 levels deep. */
const TOO_DEEP = `nested more than ${MAX_DEPTH} deep here; if not meant, lines above are read as nested each in the one before (a value holding ': ' unquoted, or a line indented deeper than its key)`

export function parseYaml(written: string, file: string): YamlSource {
  // YAML takes a CR alone as a line break (1.2, 5.4), as classic Mac OS wrote them; the library reads it
  // as part of the line, so a file of them was one comment line, "empty". One character for one: every
  // offset stays.
  const text = written.replace(/\r(?!\n)/g, '\n')
  const lineCounter = new LineCounter()
  const tokens = [...new Parser(lineCounter.addNewLine).parse(text)]
  const tooDeep = beyondDepth(tokens, MAX_DEPTH)
  if (tooDeep !== undefined) return refused([{ file, path: '', message: `invalid YAML: ${TOO_DEEP}`, ...lineCounter.linePos(tooDeep) }])
  const doc = firstDocument(tokens, text.length)
  const errors = yamlErrors(doc, text, lineCounter, file)
  if (errors.length > 0) return refused(errors)
  const { positions, keyPositions, issues } = keyPathsOf(doc, lineCounter, file)
  if (issues.length > 0) return refused(issues)
  try {
    return { value: doc.contents === null ? undefined : doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), positions, keyPositions, issues }
  } catch (error) {
    // Aliases that expand past the bound (a "billion laughs" file).
    const alias = firstAliasAt(doc)
    return refused([{ file, path: '', message: `invalid YAML: ${(error as Error).message}`, ...(alias !== undefined && lineCounter.linePos(alias)) }])
  }
}

function refused(issues: readonly ConfigIssue[]): YamlSource {
  return { value: undefined, positions: new Map(), keyPositions: new Map(), issues }
}

/** Where the first collection found more than `max` deep opens; undefined when there is none. */
function beyondDepth(tokens: readonly CST.Token[], max: number): number | undefined {
  // Each token with the depth of the collection that holds it.
  const stack: [CST.Token | null | undefined, number][] = tokens.map((token) => [token, 0])
  while (stack.length > 0) {
    const [token, depth] = stack.pop()!
    if (token?.type === 'document') stack.push([token.value, depth])
    if (token?.type !== 'block-map' && token?.type !== 'block-seq' && token?.type !== 'flow-collection') continue
    if (depth === max) return token.offset
    for (const item of token.items) stack.push([item.key, depth + 1], [item.value, depth + 1])
  }
  return undefined
}

/**
 * parseDocument() of the tokens parsed already: the first document, and an error at a second one.
 * `merge`: `<<: *defaults` merge keys, as YAML 1.1 and Compose files have them. `uniqueKeys` off: the
 * library compares each key with every key before it in its mapping, so a mapping of 40,000 keys (a
 * 600 KB file) takes 40 s, in which a reload serves nothing; keyPathsOf() finds repeated keys in one
 * pass, and names the key path.
 */
function firstDocument(tokens: readonly CST.Token[], length: number): Document.Parsed {
  let first: Document.Parsed | undefined
  for (const doc of new Composer({ uniqueKeys: false, merge: true }).compose(tokens, true, length)) {
    if (first) {
      const message = 'a second document starts here (---); routes.yaml is one document'
      first.errors.push(new YAMLParseError([doc.range[0], doc.range[1]], 'MULTIPLE_DOCS', message))
      break
    }
    first = doc
  }
  // compose() ends with a document, an empty one for an empty text.
  return first!
}

/** The library's errors, worded for the user, the first few listed (see listedFirst). */
function yamlErrors(doc: Document, text: string, lineCounter: LineCounter, file: string): ConfigIssue[] {
  const quoteOpening = quoteOpenings(doc)
  return listedFirst(
    withoutFollowing(doc.errors, (offset) => lineCounter.linePos(offset).line).map((error): ConfigIssue => {
      const { message, offset } = inOwnWords(error, text, quoteOpening)
      return { file, path: '', message: `invalid YAML: ${message}`, ...lineCounter.linePos(offset) }
    }),
  )
}

/**
 * The errors without those that follow from one before them. A line indented too deep makes the value
 * above it a key that runs over two lines, to the library both a "nested mapping" and a "multi-line
 * key", and the next line's value another, and so on down the mapping: only the first says where the
 * mistake is. One pass: a file of thousands of such lines must not hold a reload.
 */
function withoutFollowing(errors: readonly YAMLError[], lineOf: (offset: number) => number): YAMLError[] {
  const linesEnded = new Set<number>()
  return errors.filter((error) => {
    const follows = (error.code === 'BLOCK_AS_IMPLICIT_KEY' || error.code === 'MULTILINE_IMPLICIT_KEY') && linesEnded.has(lineOf(error.pos[0]))
    linesEnded.add(lineOf(error.pos[1]))
    return !follows
  })
}

/**
 * The library's message said for the user, at the place to fix, where it speaks of the parser's
 * workings ("Nested mappings are not allowed in compact mappings") or points elsewhere (an unclosed
 * quote at the end of the file, which it swallowed).
 */
function inOwnWords(error: YAMLError, text: string, quoteOpening: (end: number) => number | undefined): { message: string; offset: number } {
  const offset = error.pos[0]
  switch (error.code) {
    case 'BLOCK_AS_IMPLICIT_KEY':
      // `host: a: b`, or a value followed by a line indented deeper than its key.
      return /:(\s|$)/.test(restOfLine(text, offset))
        ? { message: "this value holds ': ', which YAML reads as one more key: quote the value", offset }
        : { message: 'the next line is indented deeper than this key, so YAML reads it as part of this value: keys of one mapping start in one column', offset }
    case 'MULTILINE_IMPLICIT_KEY':
      return { message: 'YAML reads this line and the next as one key: is a colon, or the space after it, missing here?', offset }
    case 'MISSING_CHAR': {
      const quote = /closing \S?quote$/.test(error.message) ? quoteOpening(offset) : undefined
      if (quote !== undefined) return { message: `the value quoted here has no closing ${text[quote]}`, offset: quote }
      if (error.message === 'Sequence item without - indicator') {
        return { message: 'this line is indented less than the keys above it and more than the - of their list item: line it up with those keys', offset }
      }
    }
  }
  return { message: error.message, offset }
}

function restOfLine(text: string, offset: number): string {
  const end = text.indexOf('\n', offset)
  return text.slice(offset, end === -1 ? undefined : end)
}

/**
 * Where a quoted value opens, by where it ends: the library reports an unclosed one at its end. The
 * values are listed once, on the first question: a file can hold thousands of unclosed quotes.
 */
function quoteOpenings(doc: Document): (end: number) => number | undefined {
  let openings: Map<number, number> | undefined
  return (end) => {
    if (!openings) {
      const found = new Map<number, number>()
      visit(doc, {
        Scalar(_, node) {
          const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE'
          if (quoted && node.range && !found.has(node.range[1])) found.set(node.range[1], node.range[0])
        },
      })
      openings = found
    }
    return openings.get(end)
  }
}

/** Where the first alias is: those that expand past the bound have no place of their own. */
function firstAliasAt(doc: Document): number | undefined {
  let first: number | undefined
  visit(doc, {
    Alias(_, node) {
      if (node.range && (first === undefined || node.range[0] < first)) first = node.range[0]
    },
  })
  return first
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
