/**
 * Where a place in routes.yaml sits, read from the parser's tokens (its CST), which exist for a document
 * that does not parse as well: the collections around an offset, and the key path of each as far as the
 * text up to it reads one way. The library's own paths for such a document name keys that are not
 * there (the value of `host: a: b` becomes a mapping with the key a), so a key path is said only where
 * the tokens leave no doubt, and a place past a doubt is named by the last key path before it. The key
 * paths of a document that parsed are yaml-paths.ts's.
 */
import { CST } from 'yaml'
import { shownWhole } from './shown-value.js'
import { keyPathStep } from './yaml-paths.js'

export type Collection = CST.BlockMap | CST.BlockSequence | CST.FlowCollection

/** One collection an offset is in, and the item of it that the offset is in. */
export interface Enclosing {
  readonly collection: Collection
  readonly item: CST.CollectionItem
  /** The collection's key path; undefined once a place above it reads more than one way. */
  readonly path: string | undefined
  /** The key path of the offset within the item: its key's or index's, or the collection's before them. */
  readonly itemPath: string | undefined
}

export interface Places {
  /** The first document, the one routes.yaml is. */
  readonly document: CST.Document | undefined
  /** The collections around `offset`, outermost first. */
  enclosingAt(offset: number): Enclosing[]
  /** The key path of `offset`, '' at the top or where no key path can be said. */
  keyPathAt(offset: number): string
}

/**
 * The deepest key of routes.yaml is five segments down (routes[0].upstream.timeouts.connect); a place
 * nested deeper, as in a file refused for nesting 100 deep, is named by its enclosing path at this depth.
 */
const MAX_PATH_SEGMENTS = 10

/** The places of the first document of `tokens`, the one routes.yaml is. */
export function placesIn(tokens: readonly CST.Token[]): Places {
  const documents = tokens.filter((token): token is CST.Document => token.type === 'document')
  const [first, second] = documents
  // Each sequence's item numbers as the library counts them, worked out once: a file can have thousands of errors.
  const numbers = new Map<Collection, number[]>()
  const numberOf = (collection: Collection, index: number): number => {
    let counted = numbers.get(collection)
    if (!counted) {
      let next = 0
      counted = collection.items.map((item) => (isComposed(item) ? next++ : -1))
      numbers.set(collection, counted)
    }
    return counted[index]!
  }

  const enclosingAt = (offset: number): Enclosing[] => {
    const found: Enclosing[] = []
    // What follows the document's value (`b: 1` after a list that is the whole document) is in no collection.
    const after = first?.end?.[0]?.offset ?? second?.offset ?? Infinity
    if (!first || offset >= after) return found
    let node: CST.Token | null | undefined = first.value
    let path: string | undefined = ''
    while (isCollection(node) && offset >= node.offset && !pastClosing(node, offset)) {
      const collection = node
      const index = lastItemStartingAt(collection.items, offset)
      const item = collection.items[index]
      if (!item) break
      const { into, segment, readable } = stepInto(collection, item, offset, () => numberOf(collection, index))
      const named: string | undefined = path !== undefined && segment !== undefined && found.length < MAX_PATH_SEGMENTS ? keyPathStep(path, segment) : undefined
      found.push({ collection, item, path, itemPath: named ?? path })
      node = into
      path = readable ? named : undefined
    }
    return found
  }

  return {
    document: first,
    enclosingAt,
    keyPathAt(offset) {
      const found = enclosingAt(offset)
      for (let i = found.length - 1; i >= 0; i--) {
        const { itemPath } = found[i]!
        if (itemPath !== undefined) return itemPath
      }
      return ''
    },
  }
}

interface Step {
  /** The item's value, or a collection as its key, that the offset is in: the next collection down. */
  readonly into: CST.Token | null | undefined
  /** The item's key or index, when the offset is in the item and the item reads one way. */
  readonly segment: string | number | undefined
  /** Whether `into` is a value that reads one way too, so that what is in it has a key path. */
  readonly readable: boolean
}

/** Where `offset`, inside `item`, leads: its key path segment, and the value or key it is in. */
function stepInto(collection: Collection, item: CST.CollectionItem, offset: number, itemNumber: () => number): Step {
  const { start, key, sep, value } = item
  const into = value && offset >= value.offset ? value : isCollection(key) && offset >= key.offset ? key : undefined
  if (isSequence(collection)) {
    // A `- ` item of a block list, a value of a flow one; a `key: value` in [ ] is a mapping of its own.
    const dash = start.find((token) => token.type === 'seq-item-ind')
    if (offset < ((dash ?? key ?? sep?.[0] ?? value)?.offset ?? Infinity)) return { into: undefined, segment: undefined, readable: false }
    if (collection.type === 'block-seq' && !dash) return { into, segment: undefined, readable: false }
    return { into, segment: itemNumber(), readable: into === value && !key && !sep && !blockInFlow(collection, value) }
  }
  if (offset < ((key ?? sep?.[0] ?? value)?.offset ?? Infinity)) return { into: undefined, segment: undefined, readable: false }
  // A `key: value` that reads one way: its key a name on one line, where the keys of its mapping start.
  const name = keyName(key)
  const lined = collection.type === 'flow-collection' || (key as CST.FlowScalar | undefined)?.indent === collection.indent
  const colon = sep?.some((token) => token.type === 'map-value-ind')
  const bare = start.every((token) => token.type === 'space' || token.type === 'newline' || token.type === 'comment' || token.type === 'comma')
  if (name === undefined || !lined || !colon || !bare) return { into, segment: undefined, readable: false }
  // `host: a: b` holds a mapping on the key's line: what YAML reads as its keys was not meant as keys.
  const compact = (value?.type === 'block-map' || value?.type === 'block-seq') && !sep!.some((token) => token.type === 'newline')
  return { into, segment: name, readable: into === value && !compact && !blockInFlow(collection, value) }
}

/** A `- ` list or `key:` lines inside [ ] or { }, which YAML refuses. */
function blockInFlow(collection: Collection, value: CST.Token | undefined): boolean {
  return collection.type === 'flow-collection' && (value?.type === 'block-map' || value?.type === 'block-seq')
}

/** The name a key is to the JS object, when it is one without doubt: a word, or a quoted text on one line. */
function keyName(key: CST.Token | null | undefined): string | undefined {
  if (!key || !('source' in key) || key.source.includes('\n')) return undefined
  if (key.type === 'scalar') {
    // A word is its text, but for those YAML reads as null or a boolean; `x-up &up { url` is one key to
    // YAML too, that no one meant.
    return /^[A-Za-z_][\w.-]*$/.test(key.source) && !/^(?:null|Null|NULL|true|True|TRUE|false|False|FALSE)$/.test(key.source) ? key.source : undefined
  }
  if (key.type !== 'single-quoted-scalar' && key.type !== 'double-quoted-scalar') return undefined
  let broken = false
  const resolved = CST.resolveAsScalar(key, true, () => (broken = true))
  return broken ? undefined : resolved?.value
}

function isCollection(token: CST.Token | null | undefined): token is Collection {
  return token?.type === 'block-map' || token?.type === 'block-seq' || token?.type === 'flow-collection'
}

function isSequence(collection: Collection): boolean {
  return collection.type === 'block-seq' || (collection.type === 'flow-collection' && collection.start.source === '[')
}

/** Whether the library makes a node of the item: not of one that holds only comments, or a stray comma. */
function isComposed(item: CST.CollectionItem): boolean {
  return Boolean(item.key || item.sep || item.value) || item.start.some((token) => token.type === 'seq-item-ind' || token.type === 'anchor' || token.type === 'tag' || token.type === 'explicit-key-ind')
}

/** A flow collection ends at its closing bracket; a block one where the next item of its parent starts. */
function pastClosing(collection: Collection, offset: number): boolean {
  const closing = collection.type === 'flow-collection' ? collection.end[0] : undefined
  return closing !== undefined && (closing.type === 'flow-seq-end' || closing.type === 'flow-map-end') && offset > closing.offset
}

/** The index of the last item that starts at or before `offset`, -1 for none: items are in text order. */
function lastItemStartingAt(items: readonly CST.CollectionItem[], offset: number): number {
  let low = 0
  let high = items.length - 1
  let found = -1
  while (low <= high) {
    const middle = (low + high) >>> 1
    if (itemStart(items[middle]!) <= offset) {
      found = middle
      low = middle + 1
    } else high = middle - 1
  }
  return found
}

/** Where an item starts: its first token, of the space and comments before it too. */
export function itemStart(item: CST.CollectionItem): number {
  return item.start[0]?.offset ?? item.key?.offset ?? item.sep?.[0]?.offset ?? item.value?.offset ?? Infinity
}

/** A key's text where a message may quote it: a plain key on one line that looks like no secret (shown-value.ts). */
export function quotableKey(key: CST.Token): string | undefined {
  return key.type === 'scalar' && !key.source.includes('\n') && shownWhole(key.source) ? key.source : undefined
}
