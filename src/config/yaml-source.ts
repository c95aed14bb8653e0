/**
 * Parses routes.yaml with the `yaml` package and keeps the line and column of every key path, so that
 * issues found later (schema, cross-field rules, certificate files) can point into the file.
 */
import { Composer, isScalar, Lexer, LineCounter, Parser, visit, YAMLParseError, type CST, type Document } from 'yaml'
import { sortByPosition, type ConfigIssue } from './issues.js'
import { withDashesSpaced, type YamlReading } from './yaml-dashes.js'
import { yamlErrors } from './yaml-errors.js'
import { keyPathsOf, type KeyPaths } from './yaml-paths.js'
import { placesIn } from './yaml-places.js'
import { valueWarnings } from './yaml-warnings.js'

export interface YamlSource extends KeyPaths {
  /** undefined where there are issues; `~` alone is null. */
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
 * RegExp compiler, with nothing to catch. Its parser recurses too, once per open collection, where a
 * line less indented closes many (some 3,000 nested keys, then one at the top: RangeError at
 * Parser.blockMap, which nothing caught), so the tokens are read only while the parser holds a bounded
 * number open (see tokensOf), and checked before anything is built of them.
 */
const MAX_DEPTH = 100
/** Lines that YAML cannot read as meant nest too: 150 lines of `key: a: b` are 150 levels deep. */
const TOO_DEEP = `nested more than ${MAX_DEPTH} deep here; if not meant, lines above are read as nested each in the one before (a value holding ': ' unquoted, or a line indented deeper than its key)`

/** The library's "Excessive alias count indicates a resource exhaustion attack", said as what to fix. */
const TOO_MANY_ALIASES = `the aliases (*name) of this file expand past ${MAX_ALIAS_COUNT.toLocaleString('en')} copies of what their anchors hold, as a file made to exhaust memory does: refer fewer times to anchors that hold aliases themselves`

export function parseYaml(written: string, file: string): YamlSource {
  // YAML takes a CR alone as a line break (1.2, 5.4), as classic Mac OS wrote them; the library reads it
  // as part of the line, so a file of them was one comment line, "empty". One character for one: every
  // offset stays.
  // A byte order mark (Notepad's UTF-8) is no character of the YAML, and no editor counts it as a
  // column: kept, it moved every place of the first line one column right, and hid a comment after it
  // (a file of comments was "empty").
  const whole = written.replace(/^\uFEFF/, '').replace(/\r(?!\n)/g, '\n')
  const reading = readYaml(whole, file)
  const { doc, places, text, lineCounter } = reading
  if (!doc || reading.issues.length > 0) return refused(withDashesSpaced(reading, whole, file, (spaced) => readYaml(spaced, file)))
  if (holdsNothing(doc)) return refused([emptyDocument(text, lineCounter, file)])
  const paths = keyPathsOf(doc, lineCounter, file)
  const notAsWritten = valueWarnings(doc, places, text, lineCounter, file)
  if (paths.issues.length > 0 || notAsWritten.length > 0) return refused(sortByPosition([...paths.issues, ...notAsWritten]))
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), ...paths }
  } catch (error) {
    // Aliases that expand past the bound (a "billion laughs" file).
    const alias = firstAliasAt(doc)
    const at = alias === undefined ? { path: '' } : { path: places.keyPathAt(alias), ...lineCounter.linePos(alias) }
    const { message } = error as Error
    return refused([{ file, message: `invalid YAML: ${message.startsWith('Excessive alias count') ? TOO_MANY_ALIASES : message}`, ...at }])
  }
}

/** `text` as YAML reads it: where things are, its document (none where it nests too deep) and its YAML errors. */
function readYaml(whole: string, file: string): YamlReading & { readonly doc?: Document.Parsed } {
  const lineCounter = new LineCounter()
  const { tokens, text, stopped } = tokensOf(whole, lineCounter)
  const places = placesIn(tokens)
  const tooDeep = beyondDepth(tokens, MAX_DEPTH) ?? (stopped === 'deep' ? text.length : undefined)
  const read = { text, lineCounter, places, ...(stopped && { stopped }) }
  if (tooDeep !== undefined) return { ...read, issues: [{ file, path: places.keyPathAt(tooDeep), message: `invalid YAML: ${TOO_DEEP}`, ...lineCounter.linePos(tooDeep) }] }
  const doc = withoutStacks(() => firstDocument(tokens, text.length))
  return { ...read, doc, issues: yamlErrors(doc, places, text, lineCounter, file, stopped === 'errors' ? MAX_STREAM_ERRORS : undefined) }
}

/**
 * Whether the document holds nothing: no node, or after a --- an empty one (not `~`, nor one with a tag
 * or an anchor, which are something written).
 */
function holdsNothing({ contents }: Document.Parsed): boolean {
  return contents === null || (isScalar(contents) && contents.source === '' && !contents.tag && !contents.anchor)
}

/** A comment: a # at the start of a line or after a space (a # inside a word is part of it). */
const COMMENT = /(?<=^|[ \t])#/m
/** A comment that starts with a key of the top level, as one commented out starts. */
const COMMENTED_KEY = /(?<=^|[ \t])#[ \t]*(listen|routes):/m

/**
 * The issue of a document that holds nothing, where the library gives it no place: at a listen: or
 * routes: commented out, else at the first comment, else at the start (an empty file, a --- alone).
 */
function emptyDocument(text: string, lineCounter: LineCounter, file: string): ConfigIssue {
  const needs = 'it needs listen and routes'
  const key = COMMENTED_KEY.exec(text)
  const comment = key ?? COMMENT.exec(text)
  if (!comment) return { file, path: '', message: `the file is empty: ${needs}`, line: 1, col: 1 }
  const message = `the file holds only comments: ${needs}${key ? `, and ${key[1]}: is commented out here` : ''}`
  return { file, path: '', message, ...lineCounter.linePos(comment.index) }
}

/**
 * The parser's errors outside any value (`Unexpected flow-seq-end token in YAML stream`) read before it
 * stops. Past a line the parser cannot place, as after a ] at the top level, it makes one such error
 * for each character to the end of the file, and the library one Error, stack and all, for each: a
 * valid config followed by 1 MB of ] took 27 s and 1.5 GB to refuse (the gateway's reload ran out of
 * memory). nginx -t and Caddy stop at the first syntax error; this is well past the five listed, and
 * as many take milliseconds.
 */
const MAX_STREAM_ERRORS = 1000

/**
 * The parser's tokens of `text`, read as Parser.parse() reads them, lexeme by lexeme, so that reading
 * can stop: once the parser holds more collections open than MAX_DEPTH allows ('deep': the file is
 * refused for that, and the parser's recursion stays shallow), or after MAX_STREAM_ERRORS errors
 * ('errors'). `text` is then what was read, which is all the later steps look at, so that no line
 * past the stop is reported, nor counted by the LineCounter.
 */
function tokensOf(
  whole: string,
  lineCounter: LineCounter,
): { tokens: CST.Token[]; text: string; stopped?: 'deep' | 'errors' } {
  const parser = new Parser(lineCounter.addNewLine)
  const tokens: CST.Token[] = []
  let errors = 0
  let stopped: 'deep' | 'errors' | undefined
  lineCounter.addNewLine(0)
  for (const lexeme of new Lexer().lex(whole)) {
    for (const token of parser.next(lexeme)) {
      tokens.push(token)
      if (token.type === 'error') errors++
    }
    // Open: the document, the collections in one another, and a scalar last.
    if (parser.stack.length > MAX_DEPTH + 2) stopped = 'deep'
    else if (errors >= MAX_STREAM_ERRORS) stopped = 'errors'
    if (stopped) break
  }
  tokens.push(...parser.end())
  return { tokens, text: stopped ? whole.slice(0, parser.offset) : whole, ...(stopped && { stopped }) }
}

/**
 * `compose()` with no stack captured for the Errors made meanwhile: the yaml library's composer makes
 * one for each problem it finds (one a line of a file indented with tabs), whose stacks, never read,
 * cost time and memory (a sixth of both for such a file of 200,000 lines). A bug thrown there is
 * thrown again from a second run, with its stack, for the report.
 */
function withoutStacks<T>(compose: () => T): T {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return compose()
  } catch {
    Error.stackTraceLimit = limit
    return compose()
  } finally {
    Error.stackTraceLimit = limit
  }
}

function refused(issues: readonly ConfigIssue[]): YamlSource {
  return { value: undefined, positions: new Map(), keyPositions: new Map(), valuePositions: new Map(), issues }
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
