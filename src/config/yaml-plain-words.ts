/**
 * The yaml library's messages that speak of its workings ("Unexpected scalar at node end", "Plain value
 * cannot start with reserved character @"), said as what to fix, at the place the library gives.
 */
import type { YAMLError } from 'yaml'
import { secretLike } from './shown-value.js'

/** The words for a message matched, of the text from `offset` to `end` that the library points at. */
type Wording = (match: RegExpExecArray, text: string, offset: number, end: number) => string | undefined

/** Each a message of the library, and its words. A message not here is said as the library says it. */
const WORDINGS: [RegExp, Wording][] = [
  [
    /^Implicit map keys need to be followed by map values$/,
    (_, text, offset, end) => `${quoted(text.slice(offset, end))} has no ': ' after it: a line of a mapping is key: value`,
  ],
  // `host: "a".example.com`, `url: [a] b`: text after a value that its quote or bracket closed;
  // `https: [::]:8443`, an address whose [ ] YAML reads as a list.
  [
    /^Unexpected \S+ at node end$/,
    (_, text, offset) => {
      let at = offset - 1
      while (text[at] === ' ' || text[at] === '\t') at--
      const before = text[at]
      const port = /^:\d+/.exec(text.slice(offset))?.[0]
      if (before === ']' && port) {
        const address = text.slice(text.lastIndexOf('[', at), offset) + port
        return `an IPv6 address with a port must be quoted, or YAML reads its [ ] as a list: write '${address}'`
      }
      if (before === '"' || before === "'") return `this follows the closing ${before} of the value before it: put it inside the quotes, or write a comment as # after a space`
      if (before === ']' || before === '}') return `this follows the closing ${before} of the value before it: put it inside the ${before === ']' ? '[ ]' : '{ }'}, or remove it`
      return unreadable('this')
    },
  ],
  [/^Unexpected flow-seq-end token in YAML stream/, () => 'this ] closes no list: remove it'],
  [/^Unexpected flow-map-end token in YAML stream/, () => 'this } closes no mapping: remove it'],
  // What the parser could not place once the value before it ended: the first of a run to the end of the file.
  [/^(?:Unexpected \S+ token in YAML stream: "(.*)"|Not a YAML token: (.*))$/s, ([, streamed, token]) => unreadable(quoted(streamed ?? token!))],
  [/^Unexpected \S+ token$/, () => unreadable('this')],
  [/^Plain value cannot start with /, (_, text, offset) => `a value that starts with ${text[offset]} must be quoted: "${text[offset]}…"`],
  [/^(Alias|Anchor) cannot be an empty string$/, ([, what], text, offset) => `a ${text[offset]} alone starts an ${what!.toLowerCase()}, which needs a name after it: quote the value if it is a text ("${text[offset]}")`],
  // `ca: "C:\certs\ca.pem"`: \c is no escape.
  [/^Invalid escape sequence (\S+)$/, ([, escape]) => `${escape} is not an escape: in double quotes a \\ starts one (\\n, \\"), so write \\\\ for a backslash, or quote the value with ' instead`],
  [/^Comments must be separated from other tokens by white space characters$/, () => 'a # starts a comment only after a space: put a space before it, or quote the value if the # is part of it'],
  [/^Missing , between flow (sequence|map) items$/, ([, kind]) => `a , is missing before this item of the ${flowOf(kind)}`],
  [/^Missing , or : between flow map items$/, () => 'a , or a : is missing here in the mapping in { }'],
  [/^Unexpected , in flow (sequence|map)$/, ([, kind]) => `this , has no item before it in the ${flowOf(kind)}: remove it`],
  // `{b: 1 c: 2}`: the value `1 c: 2` is a mapping to YAML, which it cannot read inside { }.
  [/^Block collections are not allowed within flow collections$/, () => "this value holds ': ' or a - list, which YAML cannot read inside [ ] or { }: is a , missing before it, or should it be quoted?"],
  [/^Unexpected empty item in flow (sequence|map)$/, ([, kind]) => `two commas with no item between them in the ${flowOf(kind)}: remove one`],
]

/** The library's `flow map` or `flow sequence`, as a user reads it. */
function flowOf(kind: string | undefined): string {
  return kind === 'map' ? 'mapping in { }' : 'list in [ ]'
}

function unreadable(what: string): string {
  return `YAML cannot read ${what} here, where the value before it has ended: the mistake is often just before it`
}

/** A token of the text, quoted when short, on one line and no secret (shown-value.ts). */
function quoted(token: string): string {
  return token.length <= 40 && !token.includes('\n') && !secretLike(token) ? `'${token}'` : 'this'
}

/** The library's message for `error` in plain words, or undefined where it has none. */
export function plainWords(error: YAMLError, text: string): string | undefined {
  for (const [pattern, wording] of WORDINGS) {
    const match = pattern.exec(error.message)
    if (match) return wording(match, text, error.pos[0], error.pos[1])
  }
  return undefined
}

/** Whether the value at `offset` holds ': ', which YAML reads as one more key (`host: a: b`). */
export function holdsKeyColon(text: string, offset: number): boolean {
  const end = text.indexOf('\n', offset)
  return /:(\s|$)/.test(text.slice(offset, end === -1 ? undefined : end))
}
