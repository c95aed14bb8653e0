/**
 * A line of routes.yaml indented with a tab, which YAML cannot measure. The library says so
 * (TAB_AS_INDENT) where it reads the tab as indentation; behind spaces it may read the tab as the space
 * before the key or -, and then finds that key or - off its column, at its line or at the end of the
 * line above, a column that counts the tab as one, as no editor shows it; or, behind spaces deeper than
 * the key above, it reads the line into that key's value. Either way the one thing to fix is the tab,
 * and the line is named by the line above it: YAML reads it into the top level, or wherever its tab
 * and spaces land.
 */
import type { YAMLError } from 'yaml'
import type { Enclosing, Places } from './yaml-places.js'
import { holdsKeyColon } from './yaml-plain-words.js'

export const TAB_INDENTATION = 'this line is indented with a tab: YAML indents with spaces'

/** The library's messages for a key or - off its column (yaml-indentation.ts words them otherwise). */
const OFF_COLUMN = /^(?:All (?:mapping|sequence) items must start at the same column|Sequence item without - indicator|A block sequence may not be used as an implicit map key)$/

/** Whether `error` is about a key or - off its column. */
export function offColumn(error: YAMLError): boolean {
  return OFF_COLUMN.test(error.message)
}

/** The offset of the tab that `error` comes from, if it is about a line indented with one. */
export function indentingTab(error: YAMLError, text: string): number | undefined {
  if (error.code === 'TAB_AS_INDENT') return error.pos[0]
  const start = lineAbout(error, text)
  if (start === undefined) return undefined
  const indentation = /[ \t]*/y
  indentation.lastIndex = start
  const tab = indentation.exec(text)![0].indexOf('\t')
  return tab === -1 ? undefined : start + tab
}

/**
 * Where the line begins that `error` may be about, if a tab can be its cause: that of a key or - off its
 * column (the next line's when it is reported at a line's end), or the line after a value that YAML
 * read it into (not one that holds ': ', which is a mistake of its own).
 */
function lineAbout(error: YAMLError, text: string): number | undefined {
  const offset = error.pos[0]
  const lineEnd = text.indexOf('\n', offset)
  const nextLine = lineEnd === -1 ? undefined : lineEnd + 1
  if (error.code === 'BLOCK_AS_IMPLICIT_KEY') return holdsKeyColon(text, offset) ? undefined : nextLine
  if (!offColumn(error)) return undefined
  return /^\r?\n/.test(text.slice(offset, offset + 2)) ? nextLine : text.lastIndexOf('\n', offset - 1) + 1
}

/**
 * The key path of the line of `offset`, indented with a tab: that of the line above it, blank lines and
 * comments left out, which says where it was meant to go: the value of its key when that key has none
 * on its own line, else the mapping or list that line is in. '' at the first line.
 */
export function keyPathAbove(offset: number, places: Places, text: string): string {
  let end = text.lastIndexOf('\n', offset - 1)
  while (end > 0) {
    const start = text.lastIndexOf('\n', end - 1) + 1
    const line = text.slice(start, end)
    if (/^\s*[^\s#]/.test(line)) {
      const lineEnd = start + line.trimEnd().length
      return innermostPath(places.enclosingAt(lineEnd), lineEnd)
    }
    end = start - 1
  }
  return ''
}

/**
 * The key path of the innermost of `enclosing` that has one: its item's, when the item is a key with no
 * value before `lineEnd` (none, or one YAML took from the lines below).
 */
function innermostPath(enclosing: readonly Enclosing[], lineEnd: number): string {
  for (const { path, item, itemPath } of [...enclosing].reverse()) {
    const valueless = item.key && (!item.value || item.value.offset >= lineEnd) && item.sep?.some((token) => token.type === 'map-value-ind')
    const found = valueless ? itemPath : path
    if (found !== undefined) return found
  }
  return ''
}
