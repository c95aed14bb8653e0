/**
 * Mutants of routes.yaml for the config fuzzer (test/unit/config-fuzz.test.ts): structural mutations of
 * a parsed document (a key deleted, misspelt, moved a level up or down; a value of another type, wrapped
 * in a list; an item or a key written twice; anchors, aliases, merge keys and tags) and of its text
 * (indentation, stray characters, line breaks, directives), from a seeded PRNG.
 */
import { Alias, Document, isCollection, isMap, isScalar, isSeq, Pair, parseDocument, Scalar, YAMLMap, YAMLSeq, visit, type Node } from 'yaml'

/** The keys of routes.yaml, which a key may be renamed to (one of another level). */
const KEYS = [
  'listen', 'https', 'http', 'admin', 'workers', 'shutdown', 'grace', 'limits', 'connections', 'requests', 'mergeSlashes',
  'accessLog', 'routes', 'name', 'host', 'path', 'tls', 'cert', 'key', 'clientCAs', 'crl', 'minVersion', 'forwardClientCert',
  'upstream', 'url', 'ca', 'serverName', 'insecureSkipVerify', 'timeouts', 'connect', 'response',
]

/** Keys that no mapping of routes.yaml has, which the code may mistake for something else. */
const ODD_KEYS: unknown[] = [
  '', '<<', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'x-mine', 'x-', '0', '1', 'a.b', 'a[0]',
  '[0]', 'a/b', 'a~1b', '~', 'é', '\u200b', 'HOST', 'Host ', 0, 1, -1, 1.5, true, false, null,
]

/** Values near the edges of what each key takes, and text that prints oddly. */
const STRINGS = [
  '', ' ', 'a', 'x'.repeat(3000), '5s', '5', '0s', '0.4ms', '596h', '597h', `${'9'.repeat(400)}ms`, 'passthrough', 'passthru',
  'auto', 'TLSv1.3', 'TLSv1.1', 'xfcc', 'rfc9440', 'https://a.test', 'https://a.test:0', 'tcp://a.test:1', 'tcp://a.test',
  'http://[::1]:80', 'https://u:p@a.test/?q#f', 'a.test:8443', 'file:///etc/passwd', 'https://', '/api', '//a', '/a/../b',
  '/café', '/a?b', '/%00', '*.', '*', '*.example.com', '**.a.test', 'example.com.', 'EXAMPLE.COM', '-a.com', '1.2.3.4',
  '01.2.3.4', '[::1]', '::1', '0.0.0.0:0', '127.0.0.1:99999', ':8443', '127.0.0.1:', '\u0000', '\ud800', '\udc00x', '\u202e',
  '\u200b', '😀', 'ＡＢＣ', 'İstanbul.test', 'ß.test', 'xn--.test', '\ufeff', '\t', 'a\nb', '-----BEGIN CERTIFICATE-----\nMII',
  'A'.repeat(120), '../../../../etc/passwd', '/dev/null', '/', '.', 'server.crt', 'ca.crt', 'ca.crl', 'client.key', 'missing.pem',
  'constructor', '__proto__', 'toString', '%2F', 'e\u0301', 'null', 'true', '0x10', '1e3', '.inf',
]

const NUMBERS = [0, -0, 1, -1, 1.5, 2, 256, 257, 443, 8443, 65535, 65536, 2 ** 31, 2 ** 53 + 2, 1e308, Infinity, -Infinity, NaN]

const TAGS = ['!!str', '!!int', '!!float', '!!bool', '!!null', '!!map', '!!seq', '!!binary', '!!set', '!!omap', '!!timestamp', '!mine']

const SPECIAL_TEXT = [':', ': ', '-', '- ', '{', '}', '[', ']', '"', "'", '&a ', '*a', '!', '|', '>', '#', '%', '@', '`', '\t', ',', '?', '\\', '\u0000', '\ufeff', '\u2028', '\r', 'é', '\n', '\n  ']

/** mulberry32: a small PRNG, so that mutant `index` of `seed` is the same mutant on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Rng = () => number
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!

/** A node of the document, with the collection that holds it: where a mutation can take it out or put another. */
interface Place {
  readonly node: unknown
  readonly holder: YAMLMap | YAMLSeq | undefined
  readonly pair?: Pair
  /** The mapping that holds `holder`'s pair, for moving a key one level up. */
  readonly grandHolder?: YAMLMap
}

function placesOf(doc: Document): Place[] {
  const places: Place[] = [{ node: doc.contents, holder: undefined }]
  const walk = (node: unknown, grandHolder: YAMLMap | undefined): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        places.push({ node: pair.value, holder: node, pair, ...(grandHolder && { grandHolder }) })
        walk(pair.value, node)
      }
    } else if (isSeq(node)) {
      for (const item of node.items) {
        places.push({ node: item, holder: node })
        walk(item, undefined)
      }
    }
  }
  walk(doc.contents, undefined)
  return places
}

function randomScalar(rng: Rng): unknown {
  const kind = rng()
  if (kind < 0.55) return pick(rng, STRINGS)
  if (kind < 0.8) return pick(rng, NUMBERS)
  if (kind < 0.9) return rng() < 0.5
  return null
}

function randomValue(doc: Document, rng: Rng, depth = 0): Node {
  const kind = rng()
  if (kind < 0.7 || depth > 2) return doc.createNode(randomScalar(rng)) as Node
  if (kind < 0.8) return new YAMLSeq()
  if (kind < 0.85) return new YAMLMap()
  const seq = new YAMLSeq()
  if (kind < 0.93) {
    seq.items.push(randomValue(doc, rng, depth + 1))
    return seq
  }
  const map = new YAMLMap()
  map.items.push(new Pair(doc.createNode(pick(rng, KEYS)), randomValue(doc, rng, depth + 1)))
  return map
}

/** A typo of `key`: a letter dropped, doubled, swapped with the next, or in the other case. */
function typo(key: string, rng: Rng): string {
  if (key.length === 0) return 'x'
  const i = Math.floor(rng() * key.length)
  switch (Math.floor(rng() * 4)) {
    case 0:
      return key.slice(0, i) + key.slice(i + 1)
    case 1:
      return key.slice(0, i) + key[i] + key.slice(i)
    case 2:
      return i + 1 < key.length ? key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2) : `${key}s`
    default:
      return key.slice(0, i) + (key[i] === key[i]!.toUpperCase() ? key[i]!.toLowerCase() : key[i]!.toUpperCase()) + key.slice(i + 1)
  }
}

function anchorsOf(doc: Document): string[] {
  const anchors: string[] = []
  for (const { node } of placesOf(doc)) if (isCollection(node) || isScalar(node)) if (node.anchor) anchors.push(node.anchor)
  return anchors
}

/** Replaces what `place` holds with `node`. */
function put(place: Place, doc: Document, node: unknown): void {
  if (place.pair) place.pair.value = node
  else if (place.holder) place.holder.items[place.holder.items.indexOf(place.node as never)] = node as never
  else doc.contents = node as Node
}

/** One structural mutation of the document, in place; false when it found nothing to do it to. */
function mutateTree(doc: Document, rng: Rng): boolean {
  const places = placesOf(doc)
  const place = pick(rng, places)
  const { pair, holder } = place
  switch (Math.floor(rng() * 14)) {
    case 0: // delete a key or a list item
      if (!holder) return false
      holder.items.splice(holder.items.indexOf((pair ?? place.node) as never), 1)
      return true
    case 1: {
      // rename a key: a typo, another level's key, or an odd one
      if (!pair) return false
      const key = isScalar(pair.key) ? String(pair.key.value) : ''
      const roll = rng()
      pair.key = doc.createNode(roll < 0.5 ? typo(key, rng) : roll < 0.8 ? pick(rng, KEYS) : pick(rng, ODD_KEYS))
      return true
    }
    case 2:
    case 3: // a value of another type
      put(place, doc, randomValue(doc, rng))
      return true
    case 4: // a scalar wrapped in a list
      put(place, doc, Object.assign(new YAMLSeq(), { items: [place.node] }))
      return true
    case 5: // a value moved one level down, under a key of its own
      put(place, doc, Object.assign(new YAMLMap(), { items: [new Pair(doc.createNode(pick(rng, KEYS)), place.node)] }))
      return true
    case 6: {
      // a key moved one level up
      if (!pair || !isMap(holder) || !place.grandHolder) return false
      holder.items.splice(holder.items.indexOf(pair), 1)
      place.grandHolder.items.push(pair)
      return true
    }
    case 7: {
      // a key moved one level down, into a mapping beside it
      if (!pair || !isMap(holder)) return false
      const sibling = holder.items.find((other) => other !== pair && isMap(other.value))
      if (!sibling) return false
      holder.items.splice(holder.items.indexOf(pair), 1)
      ;(sibling.value as YAMLMap).items.push(pair)
      return true
    }
    case 8: // a route (or any list item, or any key) written twice
      if (!holder) return false
      holder.items.push((pair ?? (place.node as Node)).clone() as never)
      return true
    case 9: {
      // an alias to an anchor, maybe of a node that holds it
      const anchors = anchorsOf(doc)
      if (anchors.length === 0 || rng() < 0.3) {
        const target = pick(rng, places).node
        if (!isCollection(target) && !isScalar(target)) return false
        target.anchor = `a${Math.floor(rng() * 3)}`
        anchors.push(target.anchor)
      }
      put(place, doc, new Alias(pick(rng, anchors)))
      return true
    }
    case 10: {
      // a merge key, of an anchor or of another value
      if (!isMap(place.node)) return false
      const anchors = anchorsOf(doc)
      const value = anchors.length > 0 && rng() < 0.7 ? new Alias(pick(rng, anchors)) : randomValue(doc, rng)
      place.node.items.unshift(new Pair(doc.createNode('<<'), value))
      return true
    }
    case 11: // a tag
      if (!isCollection(place.node) && !isScalar(place.node)) return false
      place.node.tag = pick(rng, TAGS)
      return true
    case 12: // a list of one item taken out of its list, or a list emptied
      if (!isSeq(place.node)) return false
      put(place, doc, place.node.items.length === 1 && rng() < 0.7 ? place.node.items[0] : new YAMLSeq())
      return true
    default: // a text of the odd strings
      if (!isScalar(place.node)) return false
      place.node.value = pick(rng, STRINGS)
      return true
  }
}

/** One mutation of the text itself: what a tree cannot say (indentation, stray characters, directives). */
function mutateText(text: string, rng: Rng): string {
  const lines = text.split('\n')
  const i = Math.floor(rng() * lines.length)
  switch (Math.floor(rng() * 10)) {
    case 0:
      lines.splice(i, 1)
      break
    case 1:
      lines.splice(i, 0, lines[i]!)
      break
    case 2:
      lines[i] = pick(rng, [' ', '  ', '\t', '   ']) + lines[i]
      break
    case 3:
      lines[i] = lines[i]!.replace(/^ {1,2}/, '')
      break
    case 4: {
      const at = Math.floor(rng() * (text.length + 1))
      return text.slice(0, at) + pick(rng, SPECIAL_TEXT) + text.slice(at)
    }
    case 5:
      if (i + 1 < lines.length) [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!]
      break
    case 6:
      return text.slice(0, Math.floor(rng() * text.length))
    case 7:
      return pick(rng, ['%YAML 1.1\n---\n', '---\n', '\ufeff', '%TAG ! tag:x,2024:\n---\n']) + text
    case 8:
      lines[i] = lines[i]!.replace(pick(rng, [': ', '- ', ':']), pick(rng, [':', ' : ', '-', ': - ', ': !!str ', ': &b ', ': *b ']))
      break
    default:
      return text.replace(/\n/g, pick(rng, ['\r\n', '\r', '\n\n']))
  }
  return lines.join('\n')
}

/**
 * Mutants of `seeds` (valid routes.yaml texts): mutant `index` of `seed` is one to three mutations of
 * one of them, the same on every run.
 */
export function mutantsOf(seeds: readonly string[]): (seed: number, index: number) => string {
  const documents = seeds.map((text) => parseDocument(text, { merge: true }))
  return (seed, index) => {
    const rng = random(seed * 1_000_003 + index)
    const doc = pick(rng, documents).clone()
    const count = 1 + Math.floor(rng() * 3)
    let text: string | undefined
    for (let done = 0; done < count; ) {
      if (text === undefined && rng() >= 0.25) {
        if (mutateTree(doc, rng)) done++
      } else {
        text = mutateText(text ?? textOf(doc), rng)
        done++
      }
    }
    return text ?? textOf(doc)
  }
}

const ALIAS_MARK = 'zzaliaszz'

/**
 * The document as text. The library refuses to write an alias before its anchor, which a mutation may
 * leave (its anchor deleted, or put after it): that one is as good a mutant, so aliases are written here
 * (in `doc`, which is not used after).
 */
function textOf(doc: Document): string {
  visit(doc, { Alias: (_, alias) => new Scalar(`${ALIAS_MARK}${alias.source}`) })
  return String(doc).replace(new RegExp(`${ALIAS_MARK}([\\w-]+)`, 'g'), '*$1')
}

