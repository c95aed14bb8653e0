/**
 * A key, or the - of a list item, indented to a column where no mapping or list above it has its own.
 * The library says "All mapping items must start at the same column" at the end of the line before, and
 * leaves the user to find which key it means and where it should go: these say which key, and the
 * columns of the mappings (or lists) open at that line that it may belong to, the nearest on each side.
 */
import type { CST, LineCounter } from 'yaml'
import { dashKeyMessage } from './yaml-dashes.js'
import { itemStart, quotableKey, type Collection, type Enclosing, type Places } from './yaml-places.js'
import type { Worded } from './yaml-unclosed.js'

/** `All mapping items must start at the same column`, or a line between a list item's - and its keys. */
export function misplacedKey(offset: number, places: Places, lineCounter: LineCounter): Worded | undefined {
  const off = deepest(places, offset, offColumn)
  if (!off) return undefined
  const { found, token: key } = off
  // A line of a PEM pasted one column off is such a key: it is named 'this key'.
  const source = quotableKey(key)
  if (source?.startsWith('-')) return { message: dashKeyMessage(source), offset: key.offset }
  const name = source === undefined ? 'this key' : `'${source}'`
  const col = lineCounter.linePos(key.offset).col
  if (found.path === undefined) {
    // Read into a mapping an earlier error made: its column is no advice.
    return { message: `${name} is indented to column ${col}, and the keys of the mapping YAML reads it into start at column ${found.collection.indent + 1}`, offset: key.offset }
  }
  const moves = nearest(places, found.item, col - 1, 'block-map').map(({ col, path }) => `to column ${col}${path === undefined ? '' : path === '' ? ' to be a top-level key' : ` to be a key of ${path}`}`)
  if (moves.length === 0) return undefined
  return { message: `${name} is indented to column ${col}, where no mapping above has its keys: move it ${moves.join(', or ')}`, offset: key.offset }
}

/**
 * A value followed by a line indented deeper than its key, which YAML reads as more of that value: the
 * key moved out of its mapping (too shallow), or the line below it in too deep. Which is the user's to
 * say, so the message names both lines and their columns.
 */
export function lineDeeperThanKey(text: string, offset: number, lineCounter: LineCounter): Worded | undefined {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1
  const keyColumn = /^ *(?:- +)*/.exec(text.slice(lineStart, offset))![0].length + 1
  for (let end = text.indexOf('\n', offset); end !== -1; ) {
    const start = end + 1
    end = text.indexOf('\n', start)
    const line = text.slice(start, end === -1 ? undefined : end)
    const content = line.trimStart()
    if (content === '') continue
    const column = line.length - content.length + 1
    // Not deeper: the error follows from another above (inside a [ or { left open, say).
    if (column <= keyColumn) return undefined
    const deeper = `line ${lineCounter.linePos(start).line} is indented deeper (column ${column}) than this key (column ${keyColumn})`
    return { message: `${deeper}, so YAML reads it as part of this key's value: keys of one mapping start in one column`, offset }
  }
  return undefined
}

/** `All sequence items must start at the same column`, or a `- ` item among the keys of a mapping. */
export function misplacedDash(offset: number, places: Places, lineCounter: LineCounter): Worded | undefined {
  const stray = deepest(places, offset, strayList)
  if (!stray) return undefined
  const { found, token: list } = stray
  const col = lineCounter.linePos(list.offset).col
  const where = `this - is indented to column ${col}, where no list above has its items`
  const moves = found.path === undefined ? [] : nearest(places, found.item, col - 1, 'block-seq').map(({ col, path }) => `to column ${col}${path === undefined ? '' : ` to be an item of ${path || 'the top-level list'}`}`)
  if (moves.length > 0) return { message: `${where}: move it ${moves.join(', or ')}`, offset: list.offset }
  if (found.collection.type !== 'block-map') return { message: where, offset: list.offset }
  const keys = found.path === undefined ? 'a mapping' : found.path === '' ? 'the top level' : found.path
  return { message: `this - starts a list item among the keys of ${keys}: put the list under a key of its own`, offset: list.offset }
}

/** The innermost collection around `offset` with an item that `pick` finds a token in, and the token. */
function deepest<T>(places: Places, offset: number, pick: (collection: Collection, item: CST.CollectionItem) => T | undefined): { found: Enclosing; token: T } | undefined {
  for (const found of places.enclosingAt(offset).reverse()) {
    const token = pick(found.collection, found.item)
    if (token) return { found, token }
  }
  return undefined
}

/** The key of `item` when it is not in its mapping's column: one of a block mapping, or the first of a list item without its -. */
function offColumn(collection: Collection, item: CST.CollectionItem): CST.Token | undefined {
  const { key } = item
  if (collection.type === 'block-map' && key && key.type !== 'block-seq' && 'indent' in key && key.indent !== collection.indent) return key
  const dashless = collection.type === 'block-seq' && !item.start.some((token) => token.type === 'seq-item-ind')
  return dashless && item.value?.type === 'block-map' ? (item.value.items[0]?.key ?? undefined) : undefined
}

/** The list that `item` starts where its collection has no place for one: a list item's value without its -, or a mapping's key. */
function strayList(collection: Collection, item: CST.CollectionItem): CST.BlockSequence | undefined {
  const dashless = collection.type === 'block-seq' && !item.start.some((token) => token.type === 'seq-item-ind')
  const stray = dashless ? item.value : collection.type === 'block-map' ? item.key : undefined
  return stray?.type === 'block-seq' ? stray : undefined
}

/**
 * The collections of `type` open at the line of `item`, in the nearest column on each side of `indent`:
 * those around it, and those the item before it opened. One of another type nearer on a side (the - of
 * a list item, between its keys and the mapping around the list) leaves that side without one.
 */
function nearest(places: Places, item: CST.CollectionItem, indent: number, type: 'block-map' | 'block-seq'): { col: number; path: string | undefined }[] {
  let below: Enclosing | undefined
  let above: Enclosing | undefined
  for (const open of places.enclosingAt(itemStart(item) - 1)) {
    const at = open.collection.indent
    if (open.collection.type === 'flow-collection') continue
    if (at < indent && (!below || at >= below.collection.indent)) below = open
    if (at > indent && (!above || at < above.collection.indent)) above = open
  }
  return [below, above].filter((side): side is Enclosing => side?.collection.type === type).map((side) => ({ col: side.collection.indent + 1, path: side.path }))
}
