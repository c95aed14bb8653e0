/**
 * A list item's - without the space after it (`-name: a`), which YAML reads as part of a key, `-name`.
 * The lines of the item below it and the items after it are then off the columns YAML expects, and each
 * was an error of its own (a line indented deeper than its key, a key off the column of its mapping, a -
 * among the keys of a mapping), most with no key path, which buried the one character to fix. Where a
 * space after each such - leaves fewer errors, the file is said to lack those spaces, and then to have
 * what the text with them still has, at its place in the file.
 */
import { CST, type LineCounter } from 'yaml'
import { sortByPosition, type ConfigIssue } from './issues.js'
import { quotableKey, type Places } from './yaml-places.js'

/** A text as yaml-source.ts reads it: where things are, and its YAML errors in words. */
export interface YamlReading {
  readonly text: string
  readonly lineCounter: LineCounter
  readonly places: Places
  /** Where reading stopped before the end of the text: where it nests too deep, or after too many errors. */
  readonly stopped?: 'deep' | 'errors'
  readonly issues: readonly ConfigIssue[]
}

/** A key that starts with a - (`source` where a message may quote it), said as the list item it was meant to be. */
export function dashKeyMessage(source: string | undefined): string {
  return `${source === undefined ? 'this key' : `'${source}'`} is a key to YAML, not a list item: a list item's - has a space after it`
}

/**
 * The YAML errors of `reading`, or where keys start with a - that lacks its space, those and the errors
 * of `whole` (the text that `reading` read, or began to) with the spaces, which `reread` reads as
 * `reading` was read. Not of a reading stopped after too many errors: the rest of the text, unread,
 * would go unsaid. A reading stopped where it nests too deep may have stopped for these keys: each
 * `-name:` nests the routes below it a level or two deeper, so some 50 of them passed the depth before
 * any was said. Their spaces are put in and the whole text read again, which says the rest.
 */
export function withDashesSpaced(reading: YamlReading, whole: string, file: string, reread: (text: string) => YamlReading): readonly ConfigIssue[] {
  const keys = reading.stopped === 'errors' ? [] : dashKeys(reading)
  if (keys.length === 0) return reading.issues
  const spaced = reread(withSpaces(whole, keys))
  // A reading stopped deep said one error for all it did not read: the spaces help if it reads further.
  const better =
    reading.stopped === 'deep' ? spaced.text.length - keys.length > reading.text.length : counted(spaced.issues) < counted(reading.issues)
  if (!better) return reading.issues
  const dashColumns = new Map<number, number>()
  const dashes = keys.map((key, before): ConfigIssue => {
    const at = reading.lineCounter.linePos(key.offset)
    dashColumns.set(at.line, at.col)
    return { file, path: spaced.places.keyPathAt(key.offset + before), message: `invalid YAML: ${dashKeyMessage(quotableKey(key))}`, ...at }
  })
  return sortByPosition([...dashes, ...spaced.issues.map((issue) => unspaced(issue, dashColumns))])
}

/**
 * `text` with a space after the - of each of `keys` (in file order), made in one pass: a space put in
 * by slicing the whole text again for each key took minutes for a file of 100,000 such keys.
 */
function withSpaces(text: string, keys: readonly CST.FlowScalar[]): string {
  const parts: string[] = []
  let from = 0
  for (const { offset } of keys) {
    parts.push(text.slice(from, offset + 1))
    from = offset + 1
  }
  parts.push(text.slice(from))
  return parts.join(' ')
}

/** The plain keys that start with a - not followed by a space (nor by another -), each the first thing on its line. */
function dashKeys({ places, text }: YamlReading): CST.FlowScalar[] {
  const keys: CST.FlowScalar[] = []
  if (!places.document) return keys
  CST.visit(places.document, ({ key }) => {
    if (key?.type !== 'scalar' || !/^-[^\s-]/.test(key.source)) return
    const lineStart = text.lastIndexOf('\n', key.offset - 1) + 1
    if (/^ *$/.test(text.slice(lineStart, key.offset))) keys.push(key)
  })
  return keys.sort((a, b) => a.offset - b.offset)
}

/** How many errors `issues` stand for, those one line counts among them. */
function counted(issues: readonly ConfigIssue[]): number {
  return issues.reduce((sum, issue) => sum + (issue.unlisted ?? 1), 0)
}

/** An issue of the text with the spaces at its place in the file: a column less past a space put in on its line. */
function unspaced(issue: ConfigIssue, dashColumns: ReadonlyMap<number, number>): ConfigIssue {
  const dash = issue.line === undefined ? undefined : dashColumns.get(issue.line)
  return dash !== undefined && issue.col !== undefined && issue.col > dash + 1 ? { ...issue, col: issue.col - 1 } : issue
}
