/**
 * Log lines that clients can cause at will are rate-limited, and what was left out is said.
 */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { pino } from 'pino'
import { floodLog, rateLimitedLog } from '../../src/log.js'

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

test('logs a flood once at once, then one line per interval with its count, and nothing once it stops', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write(line: Buffer, _encoding, done) {
      lines.push(JSON.parse(line.toString()) as Record<string, unknown>)
      done()
    },
  })
  const log = floodLog(pino({ level: 'info' }, sink), 'limit reached', 10_000)
  const seen = () => lines.map((line) => [line.msg, line.count])
  for (let i = 0; i < 1000; i++) log({ limit: 'connections' })
  assert.deepEqual(seen(), [['limit reached', 1]])
  t.mock.timers.tick(10_000)
  log({ limit: 'connections' })
  t.mock.timers.tick(10_000)
  assert.deepEqual(seen().slice(1), [
    ['limit reached: 999 more in the last 10 s', 999],
    ['limit reached: 1 more in the last 10 s', 1],
  ])
  t.mock.timers.tick(30_000)
  assert.equal(lines.length, 3, 'quiet once the flood is over')
  log({ limit: 'connections' })
  assert.deepEqual(seen().at(-1), ['limit reached', 1], 'the next flood is logged at once')
})
