/**
 * The yaml library's warnings (doc.warnings) that mean a value is not the one written, as issues: the
 * library warns and goes on with another value, which the gateway would serve. Those it reads as
 * written are left: an unknown directive (%FOO), which YAML 1.2 (6.8) has readers ignore; an anchor or
 * alias whose name ends in a colon (`&a:`), whose alias stands for the anchor of that very name or is
 * refused as one without its anchor; a flow collection's ] or } at its parent's column, whose value is
 * the one written.
 */
import { isCollection, isMap, isNode, visit, type Document, type LineCounter, type Node, type YAMLWarning } from 'yaml'
import type { ConfigIssue } from './issues.js'
import type { Places } from './yaml-places.js'

/** The tags of YAML's own types (!!int, !!str, !!map…), as the library names them. */
const YAML_TYPE = 'tag:yaml.org,2002:'

export function valueWarnings(doc: Document, places: Places, text: string, lineCounter: LineCounter, file: string): ConfigIssue[] {
  if (doc.warnings.length === 0) return []
  const taggedAfter = taggedNodes(doc)
  return doc.warnings.flatMap((warning) => {
    const message = inOwnWords(warning, taggedAfter, text)
    if (message === undefined) return []
    const offset = warning.pos[0]
    return [{ file, path: places.keyPathAt(offset), message: `invalid YAML: ${message}`, ...lineCounter.linePos(offset) }]
  })
}

/** What is wrong, where the warning means a value is not the one written; undefined where it is. */
function inOwnWords({ code, message, pos }: YAMLWarning, taggedAfter: (offset: number) => Node | undefined, text: string): string | undefined {
  // `%YAML 1.0` (or 1.3, 2.0) is read as 1.2, where 1.0's `yes` is true and `017` is 15.
  const version = /^Unsupported YAML version (\S+)/.exec(message)?.[1]
  if (code === 'BAD_DIRECTIVE' && version) {
    return `this reader knows YAML 1.2 and 1.1, not ${version}, whose values may read otherwise: write %YAML 1.2 or remove the line`
  }
  if (code !== 'TAG_RESOLVE_FAILED' && code !== 'BAD_COLLECTION_TYPE') return undefined
  // A tag that does not fit its value (`!!float 1`, `!!str {…}`), or one of no YAML type (`!env X`): the
  // library builds the value as if untagged, a scalar as its text.
  const tag = text.slice(pos[0], pos[1])
  const node = taggedAfter(pos[1])
  const ownType = node?.tag?.startsWith(YAML_TYPE) ?? tag.startsWith('!!')
  if (isCollection(node)) {
    const kind = isMap(node) ? 'a mapping' : 'a list'
    return ownType ? `${tag} does not fit ${kind}: remove the tag` : `${tag} is a tag portcullis does not resolve: remove it`
  }
  return ownType
    ? `${tag} does not fit this value, so YAML would read it as text: remove the tag`
    : `${tag} is a tag portcullis does not resolve (it reads no variables or secrets), so YAML would read this value as the text written: write the value itself`
}

/**
 * The node a tag that ends at an offset is written on: the first tagged node that starts after it (an
 * anchor may come between). Found by halving, in one walk for all: a file may hold thousands of tags.
 */
function taggedNodes(doc: Document): (offset: number) => Node | undefined {
  const tagged: Node[] = []
  // A key left empty (`{!a: 1}`, `? !x`) is visited as null.
  visit(doc, (_, node) => {
    if (isNode(node) && node.tag && node.range) tagged.push(node)
  })
  tagged.sort((a, b) => a.range![0] - b.range![0])
  return (offset) => {
    let [low, high] = [0, tagged.length]
    while (low < high) {
      const middle = (low + high) >>> 1
      if (tagged[middle]!.range![0] < offset) low = middle + 1
      else high = middle
    }
    return tagged[low]
  }
}
