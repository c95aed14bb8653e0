/**
 * Quotes and brackets left open in routes.yaml, reported where they open. The library reports them where
 * it stopped reading: an unclosed quote at the end of the file, which it swallowed, and an unclosed [ or {
 * at the end of the file or at the line that ended it, with nothing to say where it opened.
 */
import { visit, type CST, type Document, type LineCounter, type YAMLError } from 'yaml'
import { quotableKey, type Places } from './yaml-places.js'

export interface Worded {
  readonly message: string
  readonly offset: number
}

/**
 * Where a quoted value opens, by where it ends: the library reports an unclosed one at its end. The
 * values are listed once, on the first question: a file can hold thousands of unclosed quotes.
 */
export function quoteOpenings(doc: Document): (end: number) => number | undefined {
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

/** `Flow sequence in block collection must be sufficiently indented and end with a ]`, and at the top `Flow map must end with a }`. */
export const UNCLOSED_FLOW = /^Flow (?:sequence|map) (?:in block collection )?must (?:be sufficiently indented and )?end with a ([\]}])$/

/**
 * The library's errors for unclosed [ and {, each at its opening, given in the order the library reports
 * them. They have no place of their own, so they are matched by that order to the collections left open,
 * which it reports each when it has read its items: an inner one before the one around it. One that does
 * not open before the error is not the one the library means. The collections are listed once.
 */
export function unclosedFlows(places: Places, text: string, lineCounter: LineCounter): (error: YAMLError) => Worded {
  let open: CST.FlowCollection[] | undefined
  let next = 0
  return (error) => {
    open ??= unclosedIn(places.document)
    const flow = open[next++]
    const close = UNCLOSED_FLOW.exec(error.message)?.[1]
    const end = error.pos[0]
    if (flow && flow.offset < end && closingOf(flow) === close) return unclosedFlow(flow, end, text, lineCounter, places)
    return { message: `a ${close === ']' ? 'list' : 'mapping'} opened before here has no closing ${close}`, offset: end }
  }
}

/** Depth first, each after what it holds; routes.yaml is known to nest at most 100 deep by now. */
function unclosedIn(token: CST.Token | null | undefined, found: CST.FlowCollection[] = []): CST.FlowCollection[] {
  if (token?.type === 'document') unclosedIn(token.value, found)
  if (token?.type !== 'block-map' && token?.type !== 'block-seq' && token?.type !== 'flow-collection') return found
  for (const item of token.items) {
    unclosedIn(item.key, found)
    unclosedIn(item.value, found)
  }
  if (token.type === 'flow-collection' && token.end[0]?.source !== closingOf(token)) found.push(token)
  return found
}

function closingOf(flow: CST.FlowCollection): ']' | '}' {
  return flow.start.source === '[' ? ']' : '}'
}

/**
 * The library's error for the unclosed `flow`, at its opening. `end` is where the library stopped: the
 * end of the file, or the first thing on a line indented too little to be inside the brackets.
 */
function unclosedFlow(flow: CST.FlowCollection, end: number, text: string, lineCounter: LineCounter, places: Places): Worded {
  const close = closingOf(flow)
  const what = close === ']' ? 'list' : 'mapping'
  const opened = `the ${what} opened here has no closing ${close}`
  const wrong = flow.end[0]
  if (wrong?.type === 'flow-seq-end' || wrong?.type === 'flow-map-end') {
    const at = lineCounter.linePos(wrong.offset)
    return { message: `the ${what} opened here is closed with ${wrong.source} (line ${at.line}, column ${at.col}): close it with ${close}`, offset: flow.offset }
  }
  if (!/\S/.test(text[end] ?? '')) return { message: opened, offset: flow.offset }
  // Lines inside [ ] or { } are indented deeper than the key or - that holds them; one that is not ends them.
  const { line, col } = lineCounter.linePos(end)
  const holder = holderOf(flow, places, lineCounter)
  if (!holder || col > holder.col) return { message: `${opened} before line ${line}`, offset: flow.offset }
  return {
    message: `${opened} before line ${line}, which is indented no deeper than ${holder.name} and so outside it: add the ${close}, or indent the lines inside ${flow.start.source} ${close} deeper than ${holder.name}`,
    offset: flow.offset,
  }
}

/** The key, or the - of a list item, whose value the flow collection is, and its column. */
function holderOf(flow: CST.FlowCollection, places: Places, lineCounter: LineCounter): { name: string; col: number } | undefined {
  const block = places.enclosingAt(flow.offset).filter(({ collection }) => collection.type !== 'flow-collection').at(-1)
  const { key, start } = block?.item ?? {}
  const dash = start?.find((token) => token.type === 'seq-item-ind')
  if (block?.collection.type === 'block-seq' && dash) return { name: 'the - of its list item', col: lineCounter.linePos(dash.offset).col }
  if (block?.collection.type === 'block-map' && key) {
    const source = quotableKey(key)
    const name = source === undefined ? 'its key' : `'${source}'`
    return { name, col: lineCounter.linePos(key.offset).col }
  }
  return undefined
}
