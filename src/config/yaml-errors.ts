/**
 * The yaml library's errors for routes.yaml, said for the user: at the place to fix, in words that say what
 * to fix, without those that only follow from one before them, the first few listed.
 */
import type { Document, LineCounter, YAMLError } from 'yaml'
import { formatIssue, sortByPosition, type ConfigIssue } from './issues.js'
import { lineDeeperThanKey, misplacedDash, misplacedKey } from './yaml-indentation.js'
import type { Places } from './yaml-places.js'
import { holdsKeyColon, plainWords } from './yaml-plain-words.js'
import { indentingTab, keyPathAbove, offColumn, TAB_INDENTATION } from './yaml-tabs.js'
import { quoteOpenings, UNCLOSED_FLOW, unclosedFlows, type Worded } from './yaml-unclosed.js'

/**
 * The library's errors, worded for the user, the first few listed (see listedFirst). `stoppedAfter`:
 * reading stopped at the end of `text`, after that many errors (see tokensOf in yaml-source.ts).
 */
export function yamlErrors(doc: Document, places: Places, text: string, lineCounter: LineCounter, file: string, stoppedAfter?: number): ConfigIssue[] {
  const context: Context = { text, lineCounter, places, quoteOpening: quoteOpenings(doc), unclosedFlow: unclosedFlows(places, text, lineCounter) }
  // A line indented with a tab can bring two errors (one at the end of the line above): said once.
  const tabs = new Set<number>()
  return listedFirst(
    withoutFollowing(doc.errors, (offset) => lineCounter.linePos(offset).line).flatMap((error): ConfigIssue[] => {
      const tab = indentingTab(error, text)
      if (tab !== undefined) {
        const at = lineCounter.linePos(tab)
        if (tabs.has(at.line)) return []
        tabs.add(at.line)
        return [{ file, path: keyPathAbove(tab, places, text), message: `invalid YAML: ${TAB_INDENTATION}`, ...at }]
      }
      // YAML could not measure the tabbed line, so it finds the lines below it off the columns of where it
      // put that line, rightly indented as they may be: the tab is the one thing to fix.
      if (tabs.size > 0 && offColumn(error)) return []
      const { message, offset } = inOwnWords(error, context)
      return [{ file, path: places.keyPathAt(offset), message: `invalid YAML: ${message}`, ...lineCounter.linePos(offset) }]
    }),
    stoppedAfter === undefined ? undefined : { file, after: stoppedAfter, ...lineCounter.linePos(text.length) },
  )
}

/** What the wording of one parse's errors reads: the text, where things are, and what is left open. */
interface Context {
  readonly text: string
  readonly lineCounter: LineCounter
  readonly places: Places
  readonly quoteOpening: (end: number) => number | undefined
  /** Called once for each unclosed [ or { the library reports, in its order. */
  readonly unclosedFlow: (error: YAMLError) => Worded
}

/**
 * The errors without those that follow from one before them. A line indented too deep makes the value
 * above it a key that runs over two lines, to the library both a "nested mapping" and a "multi-line
 * key", and the next line's value another, and so on down the mapping: only the first says where the
 * mistake is. The line that ends an unclosed [ is to it a key without a value (`2]`), or one indented
 * off its mapping's column, which the [ is the cause of. What the parser cannot place after a stray ]
 * is an error for each word to the end of the file. A Windows path in double quotes is one error, not
 * one per backslash. One pass: a file of thousands of such lines must not hold a reload.
 */
function withoutFollowing(errors: readonly YAMLError[], lineOf: (offset: number) => number): YAMLError[] {
  const linesEnded = new Set<number>()
  return errors.filter((error) => {
    const follows = mayFollow(error) && linesEnded.has(lineOf(error.pos[0]))
    linesEnded.add(lineOf(error.pos[1]))
    return !follows
  })
}

/** Whether the error, on a line where one before it ends, follows from that one. */
function mayFollow(error: YAMLError): boolean {
  return ['BLOCK_AS_IMPLICIT_KEY', 'MULTILINE_IMPLICIT_KEY', 'BAD_DQ_ESCAPE'].includes(error.code) || FOLLOWING.test(error.message)
}

const FOLLOWING = /^(?:Implicit map keys need to be followed by map values|All mapping items must start at the same column|Unexpected \S+ token|Not a YAML token)/

/**
 * The library's message said for the user, at the place to fix, where it speaks of the parser's
 * workings ("Nested mappings are not allowed in compact mappings") or points elsewhere (an unclosed
 * quote at the end of the file, which it swallowed).
 */
function inOwnWords(error: YAMLError, context: Context): Worded {
  const { text, lineCounter, places } = context
  const offset = error.pos[0]
  if (UNCLOSED_FLOW.test(error.message)) return context.unclosedFlow(error)
  switch (error.message) {
    case 'All mapping items must start at the same column':
    case 'Sequence item without - indicator':
      return misplacedKey(offset, places, lineCounter) ?? { message: 'this line is not lined up with the keys of its mapping: keys of one mapping start in one column', offset }
    case 'All sequence items must start at the same column':
    case 'A block sequence may not be used as an implicit map key':
      return misplacedDash(offset, places, lineCounter) ?? { message: "this - is not lined up with the items of a list above: a list's items start in one column", offset }
  }
  switch (error.code) {
    case 'BLOCK_AS_IMPLICIT_KEY':
      // `host: a: b`, or a value followed by a line indented deeper than its key.
      return holdsKeyColon(text, offset)
        ? { message: "this value holds ': ', which YAML reads as one more key: quote the value", offset }
        : (lineDeeperThanKey(text, offset, lineCounter) ?? { message: 'this value cannot be read as written, which may follow from a problem above', offset })
    case 'MULTILINE_IMPLICIT_KEY':
      return { message: 'YAML reads this line and the next as one key: is a colon, or the space after it, missing here?', offset }
    case 'MISSING_CHAR': {
      const quote = /closing \S?quote$/.test(error.message) ? context.quoteOpening(offset) : undefined
      if (quote !== undefined) return { message: `the value quoted here has no closing ${text[quote]}`, offset: quote }
    }
  }
  return { message: plainWords(error, text) ?? error.message, offset }
}

/** Distinct YAML errors listed one by one; the rest are counted in one line. */
const MAX_LISTED_YAML_ERRORS = 5

/**
 * Each level of an unclosed `[[[[…` or `{a: [b, {c: [` is an error of its own, and each unclosed quote:
 * a few hundred would print a few hundred lines in `check` and in the reload log, and the first, the
 * cause, would scroll away. The first few distinct ones are listed, then one line that counts the rest,
 * at the place of the last listed so it sorts after it; where reading stopped (`stop`), that line says
 * so, at the place it stopped.
 */
function listedFirst(issues: readonly ConfigIssue[], stop?: { file: string; after: number; line: number; col: number }): ConfigIssue[] {
  const listed = new Map<string, ConfigIssue>()
  let unlisted = 0
  for (const issue of sortByPosition(issues)) {
    const text = listed.size < MAX_LISTED_YAML_ERRORS ? formatIssue(issue) : undefined
    if (text !== undefined && !listed.has(text)) listed.set(text, issue)
    else unlisted++
  }
  if (unlisted === 0 && !stop) return [...listed.values()]
  const { file, line, col } = stop ?? [...listed.values()].at(-1)!
  const more = unlisted === 0 ? '' : ` and ${unlisted} more YAML error${unlisted === 1 ? '' : 's'}, not listed;`
  const stopped = stop ? ` YAML stops reading here, after ${stop.after.toLocaleString('en')} errors;` : ''
  const message = `invalid YAML: …${more}${stopped} the first is often the cause of the rest`
  return [...listed.values(), { file, path: '', message, ...(line !== undefined && { line, col }), unlisted }]
}
