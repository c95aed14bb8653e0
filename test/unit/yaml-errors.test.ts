import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { formatIssue } from '../../src/config/issues.js'
import { parseYaml } from '../../src/config/yaml-source.js'

/** What `portcullis check` prints for the YAML errors of `text`, one line each. */
function errorsOf(text: string): string[] {
  return parseYaml(text, 'routes.yaml').issues.map(formatIssue)
}

// The library reported an unclosed [ or { at the end of the file, or at the line that ended it, in its
// own words ("Flow sequence in block collection must be sufficiently indented and end with a ]").
describe('an unclosed [ or { is reported where it opens', () => {
  const cases: [string, string, string[]][] = [
    ['at the end of the file', 'routes:\n  - host: a\n    upstream: { url: http://x:1\n', ['routes.yaml:3:15: invalid YAML: the mapping opened here has no closing }']],
    ['at the top', '[a, b\n', ['routes.yaml:1:1: invalid YAML: the list opened here has no closing ]']],
    [
      'before a line indented too little to be inside it, and that line is not also a key without its value',
      'listen:\n  https: [127.0.0.1:8443,\n  127.0.0.1:9443]\n',
      ["routes.yaml:2:10: invalid YAML: the list opened here has no closing ] before line 3, which is indented no deeper than 'https' and so outside it: add the ], or indent the lines inside [ ] deeper than 'https'"],
    ],
    [
      'held by a list item',
      'x-a:\n  - [1,\n  2]\n',
      ['routes.yaml:2:5: invalid YAML: the list opened here has no closing ] before line 3, which is indented no deeper than the - of its list item and so outside it: add the ], or indent the lines inside [ ] deeper than the - of its list item'],
    ],
    [
      'closed with the other bracket',
      'x-a: {b: [1, 2}\n',
      ['routes.yaml:1:6: invalid YAML: the mapping opened here has no closing }', 'routes.yaml:1:10: invalid YAML: the list opened here is closed with } (line 1, column 15): close it with ]'],
    ],
    [
      'each of those nested, in file order',
      'x-a: {b: [c, {d: [\n',
      [
        'routes.yaml:1:6: invalid YAML: the mapping opened here has no closing }',
        'routes.yaml:1:10: invalid YAML: the list opened here has no closing ]',
        'routes.yaml:1:14: invalid YAML: the mapping opened here has no closing }',
        'routes.yaml:1:18: invalid YAML: the list opened here has no closing ]',
      ],
    ],
  ]
  for (const [name, text, expected] of cases) {
    test(name, () => assert.deepEqual(errorsOf(text), expected))
  }
})
