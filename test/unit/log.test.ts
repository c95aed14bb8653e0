/**
 * Log lines that clients can cause at will are rate-limited, and what was left out is said.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { pino } from 'pino'
import { rateLimitedLog } from '../../src/log.js'

test('logs at most N lines a second, then how many it left out', () => {
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write(line: Buffer, _encoding, done) {
      lines.push(JSON.parse(line.toString()) as Record<string, unknown>)
      done()
    },
  })
  let clock = 0
  const log = rateLimitedLog(pino({ level: 'info' }, sink), 'info', 'refused', 3, () => clock)
  for (let i = 0; i < 10; i++) log({ i })
  clock = 999
  log({ i: 10 })
  assert.deepEqual(lines.map((line) => line.i), [0, 1, 2], 'three lines in the first second')
  clock = 1000
  log({ i: 11 })
  assert.deepEqual(
    lines.slice(3).map((line) => [line.msg, line.notLogged ?? line.i]),
    [
      ['refused: 8 more before this were not logged', 8],
      ['refused', 11],
    ],
  )
})
