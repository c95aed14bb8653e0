/**
 * The key paths of a parsed routes.yaml (`routes[2].upstream.ca`) and where each is, and what the
 * library parsed but no key path can stand for.
 */
import { isAlias, isMap, isNode, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml'
import type { ConfigIssue } from './issues.js'
import { shownValue } from './shown-value.js'
import type { Position } from './types.js'

export interface KeyPaths {
  readonly positions: ReadonlyMap<string, Position>
  /** Where each mapping key itself is: an unknown key is reported there, not at its value. */
  readonly keyPositions: ReadonlyMap<string, Position>
  /**
   * Where a key's value starts, where `positions` has the key instead (a mapping, a list, an alias): a
   * value of the wrong type (`path: [api]`) is reported at the value, as a scalar of the wrong type is.
   */
  readonly valuePositions: ReadonlyMap<string, Position>
  readonly issues: readonly ConfigIssue[]
}

/**
 * `path` one step down: into a list, its index in brackets (`routes[2]`); into a mapping, its key after
 * a dot, none at the top (`routes[2].upstream`), whatever the key holds (`x-ports.8443`).
 */
export function keyPathStep(path: string, step: string | number): string {
  return typeof step === 'number' ? `${path}[${step}]` : path ? `${path}.${step}` : step
}

/**
 * The position of every key path, and the issues of a document the library parsed but that no key
 * path can stand for: an alias without its anchor or inside it, a collection as a key, a key written
 * twice, a merge key of something other than mappings, a value of YAML 1.1's types.
 */
export function keyPathsOf(doc: Document, lineCounter: LineCounter, file: string): KeyPaths {
  const walk = new KeyPathWalk(doc, lineCounter, file)
  walk.fromTop()
  return { positions: walk.positions, keyPositions: walk.keyPositions, valuePositions: walk.valuePositions, issues: walk.issues }
}

/** keyPathsOf's walk down one document: what it has found so far, and how it goes on from a node. */
class KeyPathWalk {
  readonly positions = new Map<string, Position>()
  readonly keyPositions = new Map<string, Position>()
  readonly valuePositions = new Map<string, Position>()
  readonly issues: ConfigIssue[] = []

  constructor(
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
    private readonly file: string,
  ) {}

  fromTop(): void {
    // The document itself, for what is missing at its top (`listen: is required`).
    this.positions.set('', this.startOf(this.doc.contents))
    this.walk(this.doc.contents, '', [])
  }

  /** `within`: the collections that hold `node`, which an alias in it must not stand for. */
  private walk(node: unknown, path: string, within: readonly unknown[]): void {
    const aliased = isAlias(node) ? node.resolve(this.doc) : undefined
    const foreign = foreignValue(node)
    if (isAlias(node) && (aliased === undefined || within.includes(aliased))) {
      this.report(path, aliased === undefined ? unanchoredAlias(node.source) : selfHoldingAlias(node.source), node)
    } else if (foreign) {
      this.report(path, `invalid YAML: this is ${foreign.kind}, which no key of routes.yaml takes: ${foreign.instead}`, node as Node)
    } else if (isMap(node)) {
      this.walkMapping(node, path, within)
    } else if (isSeq(node)) {
      this.walkList(node, path, within)
    }
  }

  private walkList(list: YAMLSeq, path: string, within: readonly unknown[]): void {
    const inside = [...within, list]
    list.items.forEach((item, index) => {
      const childPath = keyPathStep(path, index)
      this.positions.set(childPath, this.startOf(item as Node))
      this.walk(item, childPath, inside)
    })
  }

  /** A mapping's keys: each placed, and walked into, unless it is written twice or is no name. */
  private walkMapping(node: YAMLMap, path: string, within: readonly unknown[]): void {
    const inside = [...within, node]
    const lineOfKey = new Map<string, number>()
    for (const pair of node.items) {
      if (isPair(pair) && isAlias(pair.key)) this.walk(pair.key, path, inside)
      const notName = isPair(pair) ? keyNotName(pair.key, this.doc) : undefined
      if (notName) {
        this.report(path, `invalid YAML: this key is ${notName}; a key must be a name, such as host or url`, pair.key as Node)
        continue
      }
      if (!isPair(pair) || !isScalar(pair.key)) continue
      // A merge key (`<<`) may come more than once; its value is a Symbol.
      if (typeof pair.key.value === 'symbol') {
        this.merge(pair.value, pair.key, path, inside)
        continue
      }
      const key = keyName(pair.key)
      const childPath = keyPathStep(path, key)
      const keyAt = this.startOf(pair.key)
      const first = lineOfKey.get(key)
      if (first !== undefined) {
        this.report(childPath, `invalid YAML: '${key}' is written twice in one mapping (first on line ${first})`, pair.key)
        continue
      }
      lineOfKey.set(key, keyAt.line)
      // Scalars point at their value (what is wrong is usually the value); maps and lists at their key.
      const target = isScalar(pair.value) ? pair.value : pair.key
      this.positions.set(childPath, this.startOf(target))
      this.keyPositions.set(childPath, keyAt)
      if (isNode(pair.value) && target !== pair.value) this.valuePositions.set(childPath, this.startOf(pair.value))
      this.walk(pair.value, childPath, inside)
    }
  }

  /**
   * A merge key's value: a mapping, an alias of one, or a list of those (the library throws on anything
   * else as it builds the value, with no position). A key that an alias brings has no place of its own:
   * it is placed at the alias, unless the mapping writes it too.
   */
  private merge(value: unknown, mergeKey: Node, path: string, within: readonly unknown[]): void {
    // The anchored value of an alias was walked where it is written; the alias itself is checked here.
    if (isAlias(value)) this.walk(value, path, within)
    const list = isAlias(value) ? value.resolve(this.doc) : value
    const sources: unknown[] = isSeq(list) ? list.items : [value]
    for (const source of sources) {
      const written = (isAlias(value) ? value : source) as Node | null
      const map = isAlias(source) ? source.resolve(this.doc) : source
      if (isMap(map)) {
        if (isAlias(written)) this.placeMerged(map, path, this.startOf(written))
      } else if (map !== undefined) {
        const message = `invalid YAML: << merges a mapping, an alias of one (<<: *defaults) or a list of them, not ${kindOf(map)}`
        this.report(keyPathStep(path, '<<'), message, written ?? mergeKey)
        continue
      }
      if (!isAlias(value)) this.walk(source, path, isSeq(list) ? [...within, list] : within)
    }
  }

  private placeMerged(map: YAMLMap, path: string, position: Position): void {
    for (const pair of map.items) {
      if (!isScalar(pair.key) || typeof pair.key.value === 'symbol') continue
      const childPath = keyPathStep(path, keyName(pair.key))
      if (!this.keyPositions.has(childPath)) {
        this.positions.set(childPath, position)
        this.keyPositions.set(childPath, position)
      }
    }
  }

  private report(path: string, message: string, node: Node): void {
    this.issues.push({ file: this.file, path, message, ...this.startOf(node) })
  }

  /** Where `node` starts; the top of the file for an empty document. */
  private startOf(node: Node | null): Position {
    return this.lineCounter.linePos(node?.range?.[0] ?? 0)
  }
}

/** A key as the JS object has it: `null:` and `~:` are '', `1` and "1" the same key. */
function keyName(key: Scalar): string {
  return key.value === null ? '' : String(key.value)
}

/** A value as a message names it: `"text"`, `5`, `null`, a list (a secret in words: shown-value.ts). */
function kindOf(node: unknown): string {
  if (isSeq(node)) return 'a list'
  if (isMap(node)) return 'a mapping'
  return isScalar(node) && node.value !== null ? shownValue(node.value, '"') : 'null'
}

/**
 * `? [a, b]`, `{[a]: 1}` or an alias of a collection as a key: toJS() would make a key of its text
 * ("[ a, b ]"), which no position leads back to, and warn on the process's stderr; a timestamp too.
 */
function keyNotName(key: unknown, doc: Document): string | undefined {
  const node = isAlias(key) ? key.resolve(doc) : key
  return isMap(node) ? 'a mapping' : isSeq(node) ? 'a list' : foreignValue(node)?.kind
}

/**
 * A value of YAML 1.1's types, which the library builds where they are tagged (`!!binary`), or under
 * `%YAML 1.1` (a timestamp, 2024-01-01, unquoted), as a Buffer, a Date, a Set or a Map: the schema
 * knows JSON's values only, and took a Buffer for a mapping whose keys were its methods.
 */
function foreignValue(node: unknown): { kind: string; instead: string } | undefined {
  if (isScalar(node) && node.value instanceof Date) return { kind: 'a timestamp to YAML', instead: 'quote it to make it text' }
  if (isScalar(node) && typeof node.value === 'object' && node.value !== null) return { kind: 'bytes (!!binary)', instead: 'write text' }
  if (isMap(node) && node.tag === 'tag:yaml.org,2002:set') return { kind: 'a set (!!set)', instead: 'write a list' }
  if (isSeq(node) && node.tag === 'tag:yaml.org,2002:omap') return { kind: 'an ordered mapping (!!omap)', instead: 'write a mapping' }
  return undefined
}

/**
 * An alias inside the value its anchor names (`&t {connect: *t}`) makes a value that holds itself: no
 * key of routes.yaml can take it, and the library builds it as a cycle (a merge of it recurses without
 * end). An alias that only stands for values before it, none of them holding it, makes no cycle.
 */
function selfHoldingAlias(name: string): string {
  return `invalid YAML: *${name} is inside the value that &${name} names, so that value would hold itself without end`
}

/**
 * The library reports an alias without its anchor only when it builds the value, with no position.
 * The usual one is a wildcard host left unquoted: `host: *.example.com` is YAML for an alias.
 */
function unanchoredAlias(name: string): string {
  const hint = name.startsWith('.') ? `; a wildcard host must be quoted: "*${name}"` : ''
  return `invalid YAML: *${name} is an alias, and no &${name} anchor comes before it${hint}`
}
