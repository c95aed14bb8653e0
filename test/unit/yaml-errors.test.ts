import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { formatIssue } from '../../src/config/issues.js'
import { parseYaml } from '../../src/config/yaml-source.js'

/** What `portcullis check` prints for the YAML errors of `text`, one line each. */
function errorsOf(text: string): string[] {
  return parseYaml(text, 'routes.yaml').issues.map(formatIssue)
}

// A YAML error named file, line and column, but no key path: in a file of many routes, the line was all
// there was to say which route, and which of its keys, the error is in.
describe('YAML errors name the key path of where they are', () => {
  // Each row: the YAML, and one of its error lines.
  const cases: [string, string, string][] = [
    [
      'an unclosed quote, where it opens',
      `listen:
  https: 127.0.0.1:8443
routes:
  - host: a.example.com
    upstream:
      url: http://127.0.0.1:9000
  - host: b.example.com
    upstream:
      url: "http://127.0.0.1:9001
      timeouts: { connect: 5s
`,
      'routes.yaml:9:12 routes[1].upstream.url: invalid YAML: the value quoted here has no closing "',
    ],
    ['inside flow mappings', 'routes:\n  - { host: a, upstream: { url: "http://x } }\n', 'routes.yaml:2:33 routes[0].upstream.url: invalid YAML: the value quoted here has no closing "'],
    ['by the index of a flow list item', "x-list: [a, b, 'c\n", "routes.yaml:1:16 x-list[2]: invalid YAML: the value quoted here has no closing '"],
    ['by the index of a block list item, past a comment', "x-list:\n  - a\n  # b\n  - 'c\n", "routes.yaml:4:5 x-list[1]: invalid YAML: the value quoted here has no closing '"],
    // The library makes a key of 1, true, << (a merge), &anchor b or ? b, but not the key as written;
    // and of `x-up &up { url` in `x-up &up { url: a }` (a colon missing), one that no one meant.
    ...['1', 'true', '<<', '&a b', '? b\n  ', 'b &c { d'].map((key): [string, string, string] => [
      `up to a key that is not a plain name (${key})`,
      `x-a:\n  ${key}: {b: 'c\n`,
      `routes.yaml:${key.includes("\n") ? "3:9" : `2:${key.length + 9}`} x-a: invalid YAML: the value quoted here has no closing '`,
    ]),
  ]
  for (const [name, text, expected] of cases) {
    test(name, () => {
      const errors = errorsOf(text)
      assert.ok(errors.includes(expected), errors.join('\n'))
    })
  }
})

// The library reported an unclosed [ or { at the end of the file, or at the line that ended it, in its
// own words ("Flow sequence in block collection must be sufficiently indented and end with a ]").
describe('an unclosed [ or { is reported where it opens', () => {
  const cases: [string, string, string[]][] = [
    ['at the end of the file', 'routes:\n  - host: a\n    upstream: { url: http://x:1\n', ['routes.yaml:3:15 routes[0].upstream: invalid YAML: the mapping opened here has no closing }']],
    ['at the top', '[a, b\n', ['routes.yaml:1:1: invalid YAML: the list opened here has no closing ]']],
    [
      'before a line indented too little to be inside it, and that line is not also a key without its value',
      'listen:\n  https: [127.0.0.1:8443,\n  127.0.0.1:9443]\n',
      ["routes.yaml:2:10 listen.https: invalid YAML: the list opened here has no closing ] before line 3, which is indented no deeper than 'https' and so outside it: add the ], or indent the lines inside [ ] deeper than 'https'"],
    ],
    [
      'held by a list item',
      'x-a:\n  - [1,\n  2]\n',
      ['routes.yaml:2:5 x-a[0]: invalid YAML: the list opened here has no closing ] before line 3, which is indented no deeper than the - of its list item and so outside it: add the ], or indent the lines inside [ ] deeper than the - of its list item'],
    ],
    [
      'closed with the other bracket',
      'x-a: {b: [1, 2}\n',
      ['routes.yaml:1:6 x-a: invalid YAML: the mapping opened here has no closing }', 'routes.yaml:1:10 x-a.b: invalid YAML: the list opened here is closed with } (line 1, column 15): close it with ]'],
    ],
    [
      'each of those nested, in file order',
      'x-a: {b: [c, {d: [\n',
      [
        'routes.yaml:1:6 x-a: invalid YAML: the mapping opened here has no closing }',
        'routes.yaml:1:10 x-a.b: invalid YAML: the list opened here has no closing ]',
        'routes.yaml:1:14 x-a.b[1]: invalid YAML: the mapping opened here has no closing }',
        'routes.yaml:1:18 x-a.b[1].d: invalid YAML: the list opened here has no closing ]',
      ],
    ],
  ]
  for (const [name, text, expected] of cases) {
    test(name, () => assert.deepEqual(errorsOf(text), expected))
  }
})

// The library said "All mapping items must start at the same column" at the start of the line, or at
// the end of the one before, and left the user to find which key it meant and where it should go.
describe('a key or a - indented where nothing above has its column says which, and where to move it', () => {
  const cases: [string, string, string[]][] = [
    [
      'a key between the keys of two mappings',
      'routes:\n  - host: a\n    upstream:\n      url: http://x:1\n     bad: [1, 2\n',
      [
        "routes.yaml:5:6 routes[0]: invalid YAML: 'bad' is indented to column 6, where no mapping above has its keys: move it to column 5 to be a key of routes[0], or to column 7 to be a key of routes[0].upstream",
        'routes.yaml:5:11 routes[0]: invalid YAML: the list opened here has no closing ]',
      ],
    ],
    [
      'a key between the top level and a mapping',
      'x-a:\n    b: 1\n  c: 2\n',
      ["routes.yaml:3:3: invalid YAML: 'c' is indented to column 3, where no mapping above has its keys: move it to column 1 to be a top-level key, or to column 5 to be a key of x-a"],
    ],
    [
      "a key between a list item's - and its keys",
      'routes:\n  - name: a\n   host: b\n',
      ["routes.yaml:3:4 routes: invalid YAML: 'host' is indented to column 4, where no mapping above has its keys: move it to column 5 to be a key of routes[0]"],
    ],
    // YAML leaves it a key of the top level, which had no key path.
    ["a - without its space, which makes a key", 'x-a:\n  - b: 1\n  -c: 2\n', ["routes.yaml:3:3 x-a[1]: invalid YAML: '-c' is a key to YAML, not a list item: a list item's - has a space after it"]],
    // One more -, which YAML reads as the item it is, but lacks its space too: nothing says how to fix it.
    ["a - doubled, which is no list item's -", 'x-a:\n  - b: 1\n  --c: 2\n', ["routes.yaml:3:3: invalid YAML: '--c' is a key to YAML, not a list item: a list item's - has a space after it"]],
    [
      'a - deeper than the items of its list',
      'x-a:\n  - b: 1\n   - c\n',
      ['routes.yaml:3:4 x-a: invalid YAML: this - is indented to column 4, where no list above has its items: move it to column 3 to be an item of x-a'],
    ],
    [
      'a - less deep than the items of its list, once',
      'x-a:\n    - b\n  - c\n',
      ['routes.yaml:3:3: invalid YAML: this - is indented to column 3, where no list above has its items: move it to column 5 to be an item of x-a'],
    ],
    ['a - among the keys of a mapping, once', 'x-a:\n  b: 1\n  - c\n', ['routes.yaml:3:3 x-a: invalid YAML: this - starts a list item among the keys of x-a: put the list under a key of its own']],
  ]
  for (const [name, text, expected] of cases) {
    test(name, () => assert.deepEqual(errorsOf(text), expected))
  }
})

// A one-character typo, `-name: foo`, made a key of `-name`, and the lines of its route and the routes
// after it errors of their own: "line 9 is indented deeper (column 5) than this key (column 3)" at the
// value of -name, "'upstream' is indented to column 5", "this - starts a list item among the keys of a
// mapping", most with no key path, and the missing space was said in none of them, or in one among them.
describe("a list item's - without its space is one error, at the -, with the item's key path", () => {
  const demo = readFileSync(new URL('../../routes.yaml', import.meta.url), 'utf8')
  const dashKey = (key: string) => `invalid YAML: '${key}' is a key to YAML, not a list item: a list item's - has a space after it`
  const route = (name: string, dash = '- ') => `  ${dash}name: ${name}\n    host: ${name}.test\n    upstream:\n      url: http://127.0.0.1:9000\n`
  const cases: [string, string, string[]][] = [
    ["in the demo's routes.yaml", demo.replace('  - name: demo', '  -name: demo'), [`routes.yaml:8:3 routes[0]: ${dashKey('-name')}`]],
    ['between two routes', `routes:\n${route('a')}${route('b', '-')}${route('c')}`, [`routes.yaml:6:3 routes[1]: ${dashKey('-name')}`]],
    ['in the last route', `routes:\n${route('a')}${route('b', '-')}`, [`routes.yaml:6:3 routes[1]: ${dashKey('-name')}`]],
    ['in two routes, each', `routes:\n${route('a', '-')}${route('b', '-')}`, [`routes.yaml:2:3 routes[0]: ${dashKey('-name')}`, `routes.yaml:6:3 routes[1]: ${dashKey('-name')}`]],
    ['in a list of a route', `routes:\n${route('a')}    tls:\n      crl:\n        -file: a.crl\n          x: 1\n`, [`routes.yaml:8:9 routes[0].tls.crl[0]: ${dashKey('-file')}`]],
    // What the text with the space still has is listed, at its place in the file: one column less past the - on its line.
    [
      'with mistakes of their own, on its line and below it',
      `routes:\n${route('a')}  -upstream: [a] b\n    host: b.test\n${route('c').replace('url: http://127.0.0.1:9000', 'url: "http://127.0.0.1:9000')}`,
      [
        `routes.yaml:6:3 routes[1]: ${dashKey('-upstream')}`,
        'routes.yaml:6:18 routes[1].upstream: invalid YAML: this follows the closing ] of the value before it: put it inside the [ ], or remove it',
        'routes.yaml:11:12 routes[2].upstream.url: invalid YAML: the value quoted here has no closing "',
      ],
    ],
    // A key of one's own may start with a -: where a space would not leave fewer errors, it is no typo.
    ['not a key of x- that starts with a -', 'x-a:\n  -b: 1\n  c: 2\nx-b: "d\n', ['routes.yaml:4:6 x-b: invalid YAML: the value quoted here has no closing "']],
  ]
  for (const [name, text, expected] of cases) {
    test(name, () => assert.deepEqual(errorsOf(text), expected))
  }

  // Each `-name:` nests the routes below it deeper: some 50 of them, and the file was refused as "nested
  // more than 100 deep" at the 50th route, with no word of the missing spaces.
  test('in routes enough to nest past the depth, each that reading reached, and not the depth', () => {
    const errors = errorsOf(`routes:\n${Array.from({ length: 60 }, (_, i) => route(`r${i}`, '-')).join('')}`)
    const dashes = errors.filter((error) => error.endsWith(dashKey('-name')))
    assert.deepEqual(dashes.slice(0, 2), [`routes.yaml:2:3 routes[0]: ${dashKey('-name')}`, `routes.yaml:6:3 routes[1]: ${dashKey('-name')}`])
    assert.ok(dashes.length >= 40, errors.join('\n'))
    assert.equal(errors.filter((error) => error.includes('nested more than')).length, 0, errors.join('\n'))
  })

  // The text with the spaces was made by slicing the whole text again at each key: a 250 KB file of
  // 20,000 keys that start with a -, and a YAML error, took 25 s to check, and a reload as long.
  test('in a file of many keys that start with a -, in a time that grows with the file', () => {
    const text = `x-a:\n${Array.from({ length: 20_000 }, (_, i) => `  -c${i}: 1\n`).join('')}x-b: "d\n`
    const started = performance.now()
    assert.deepEqual(errorsOf(text), ['routes.yaml:20002:6 x-b: invalid YAML: the value quoted here has no closing "'])
    assert.ok(performance.now() - started < 8000, `${Math.round(performance.now() - started)} ms`)
  })
})

// Each was the library's message, which speaks of its parser ("Unexpected scalar at node end").
// YAML reads a line indented with a tab as a key of the top level, which has no key path: the error named
// the line alone. It is named by the mapping of the line above it, blank lines and comments left out.
describe('a line indented with a tab is named by the line above', () => {
  const tabbed = 'routes:\n  - host: a.test\n    upstream: { url: http://x:1 }\n'
  const tab = 'invalid YAML: this line is indented with a tab: YAML indents with spaces'
  const cases: [string, string, string[]][] = [
    ['after a key of a route', `${tabbed}\ttls: { cert: a.crt }\n`, [`routes.yaml:4:1 routes[0]: ${tab}`]],
    ['past blank lines and comments', `${tabbed}\n  # tls next\n\n\ttls: { cert: a.crt }\n`, [`routes.yaml:7:1 routes[0]: ${tab}`]],
    ['under a key without its value yet', 'routes:\n  - host: a.test\n    upstream:\n\turl: http://x:1\n', [`routes.yaml:4:1 routes[0].upstream: ${tab}`]],
    ['by two tabs', 'listen:\n  https: 127.0.0.1:8443\n\t\tadmin: 127.0.0.1:9901\n', [`routes.yaml:3:1 listen: ${tab}`]],
    ['the first line, in no key path', '\tlisten: {}\n', [`routes.yaml:1:1: ${tab}`]],
    // Behind spaces YAML may read the tab as the space before the key, and spoke of the key's column
    // (which counted the tab as one) with no key path, or of the line above as well.
    ['behind spaces short of the keys', `${tabbed}  \ttls: { cert: a.crt }\n`, [`routes.yaml:4:3 routes[0]: ${tab}`]],
    ['behind one space', `${tabbed} \ttls: { cert: a.crt }\n`, [`routes.yaml:4:2 routes[0]: ${tab}`]],
    ['behind spaces to the keys', `${tabbed}    \ttls: { cert: a.crt }\n`, [`routes.yaml:4:5 routes[0]: ${tab}`]],
    ['behind spaces, under a key without its value yet', 'routes:\n  - host: a.test\n    upstream:\n  \turl: http://x:1\n', [`routes.yaml:4:3 routes[0].upstream: ${tab}`]],
    ['behind a space, the first key of a mapping', 'listen:\n \thttps: 127.0.0.1:8443\n', [`routes.yaml:2:2 listen: ${tab}`]],
    ['behind a space, before a list item', 'routes:\n \t- host: a.test\n', [`routes.yaml:2:2 routes: ${tab}`]],
    ['with spaces behind it, before a list item', 'routes:\n\t - host: a.test\n', [`routes.yaml:2:1 routes: ${tab}`]],
    // Behind spaces deeper than the key above, YAML read the line into that key's value, and said so at the key.
    ['behind spaces deeper than the key above', 'routes:\n  - host: a.test\n     \tupstream: { url: http://x:1 }\n', [`routes.yaml:3:6 routes[0]: ${tab}`]],
    // YAML cannot measure the tabbed line, so the lines below it, rightly indented, are off the columns
    // of where it put that line: those are not problems of their own.
    [
      'before lines that are where they belong',
      'routes:\n  - host: a.test\n\ttls:\n      cert: a.crt\n    upstream: { url: http://x:1 }\n  - host: b.test\n    upstream: { url: http://x:1 }\n',
      [`routes.yaml:3:1 routes[0]: ${tab}`],
    ],
  ]
  for (const [name, text, expected] of cases) {
    test(name, () => assert.deepEqual(errorsOf(text), expected))
  }
})

describe("the library's messages are said as what to fix", () => {
  const route = (line: string): string => `routes:\n  - host: a.example.com\n    upstream:\n      ${line}\n`
  const cases: [string, string, string[]][] = [
    ['a key without its colon', route('url: http://x:1\n      ca'), ["routes.yaml:5:7 routes[0].upstream: invalid YAML: 'ca' has no ': ' after it: a line of a mapping is key: value"]],
    [
      'text after a closing quote',
      route('url: "http://x":8443'),
      ['routes.yaml:4:22 routes[0].upstream.url: invalid YAML: this follows the closing " of the value before it: put it inside the quotes, or write a comment as # after a space'],
    ],
    ['text after a closing bracket', 'x-a: [b] c\n', ['routes.yaml:1:10 x-a: invalid YAML: this follows the closing ] of the value before it: put it inside the [ ], or remove it']],
    // As a listener's message writes it, without the quotes: YAML reads [::] as a list.
    [
      'an IPv6 address and port without quotes',
      'listen:\n  https: [::]:8443\n',
      ["routes.yaml:2:14 listen.https: invalid YAML: an IPv6 address with a port must be quoted, or YAML reads its [ ] as a list: write '[::]:8443'"],
    ],
    ['a bracket that closes nothing', 'x-a: [b]]\n', ['routes.yaml:1:9 x-a: invalid YAML: this ] closes no list: remove it']],
    ['a value starting with @', route('url: @upstream'), ['routes.yaml:4:12 routes[0].upstream.url: invalid YAML: a value that starts with @ must be quoted: "@…"']],
    [
      'a wildcard host of a * alone',
      'routes:\n  - host: *\n',
      ['routes.yaml:2:11 routes[0].host: invalid YAML: a * alone starts an alias, which needs a name after it: quote the value if it is a text ("*")'],
    ],
    ['a tab as indentation', route('url: http://x:1\n\tca: ca.crt'), ['routes.yaml:5:1 routes[0].upstream: invalid YAML: this line is indented with a tab: YAML indents with spaces']],
    [
      'a Windows path in double quotes, once',
      route('ca: "C:\\certs\\ca.pem"'),
      [`routes.yaml:4:14 routes[0].upstream.ca: invalid YAML: \\c is not an escape: in double quotes a \\ starts one (\\n, \\"), so write \\\\ for a backslash, or quote the value with ' instead`],
    ],
    [
      'a comment without the space before it',
      route('url: "http://x:1"# the orders service'),
      ['routes.yaml:4:24 routes[0].upstream.url: invalid YAML: a # starts a comment only after a space: put a space before it, or quote the value if the # is part of it'],
    ],
    ['what follows a ] that closes nothing, once', 'routes:\n  - tls:\n     ] cert: a\n      key: b\n', ['routes.yaml:3:6 routes[0].tls: invalid YAML: this ] closes no list: remove it']],
    [
      'a key after a list that is the whole document, in no key path',
      '- a\nb: 1\n',
      ['routes.yaml:2:1: invalid YAML: YAML cannot read this here, where the value before it has ended: the mistake is often just before it'],
    ],
    ['a comma without an item before it', 'x-a: [b, , c]\n', ['routes.yaml:1:10 x-a: invalid YAML: this , has no item before it in the list in [ ]: remove it']],
    [
      'a comma missing between two keys in { }',
      route('timeouts: { connect: 1s response: 2s }'),
      ["routes.yaml:4:28 routes[0].upstream.timeouts.connect: invalid YAML: this value holds ': ' or a - list, which YAML cannot read inside [ ] or { }: is a , missing before it, or should it be quoted?"],
    ],
  ]
  for (const [name, text, expected] of cases) {
    test(name, () => assert.deepEqual(errorsOf(text), expected))
  }
})

test("the README's YAML errors are what the demo's routes.yaml with its two edits gets", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const shown = /left open and a key one column short:\n\n```\n([^`]*)```/.exec(readme)![1]!.trimEnd().split('\n')
  const demo = readFileSync(new URL('../../routes.yaml', import.meta.url), 'utf8')
  const edited = demo.replace('      clientCAs: certs/ca.crt', '      clientCAs: [certs/ca.crt').replace('      serverName: localhost', '     serverName: localhost')
  assert.deepEqual([...errorsOf(edited), 'routes.yaml: 2 problems'], shown)
})
