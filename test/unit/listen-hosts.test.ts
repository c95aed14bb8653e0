/**
 * Which listen hosts `portcullis check` looks up, as listen() would: names only. localhost, and IP
 * literals (0.0.0.0 and :: above all), never go to a resolver, so that checking the usual config is
 * fast and works offline.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isLookedUp } from '../../src/listeners.js'

test('a listen host is looked up only if it is a name other than localhost', () => {
  const cases: [string, boolean][] = [
    ['0.0.0.0', false],
    ['127.0.0.1', false],
    ['::', false],
    ['::1', false],
    ['fe80::1', false],
    ['localhost', false],
    ['LocalHost', false],
    ['gw.internal', true],
    ['nowhere.invalid', true],
  ]
  assert.deepEqual(
    cases.map(([host]) => [host, isLookedUp(host)]),
    cases,
  )
})
