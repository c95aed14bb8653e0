/**
 * Log lines that clients can cause at will are limited, and what was left out is said; so are lines a
 * stalled reader of stdout made the log drop. An error is logged as its code and message.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { Writable } from 'node:stream'
import { test, type TestContext } from 'node:test'
import { pino } from 'pino'
import { errorSummary, limitedLog } from '../../src/log.js'

/** A limitedLog on mocked timers, and the [message, count] of each line it wrote. */
function limited(t: TestContext, limit: { lines: number; intervalMs: number }) {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write(line: Buffer, _encoding, done) {
      lines.push(JSON.parse(line.toString()) as Record<string, unknown>)
      done()
    },
  })
  const log = limitedLog(pino({ level: 'info' }, sink), 'warn', 'limit reached', limit)
  return { log, lines, seen: () => lines.map((line) => [line.msg, line.count]) }
}

test('logs N lines at once, then how many it left out when the interval ends', (t) => {
  const { log, lines, seen } = limited(t, { lines: 3, intervalMs: 1000 })
  for (let i = 0; i < 10; i++) log({ i })
  assert.deepEqual(lines.map((line) => line.i), [0, 1, 2], 'three lines at once')
  t.mock.timers.tick(1000)
  assert.deepEqual(seen().at(-1), ['limit reached: 7 more in the last 1 s', 7])
  assert.equal(lines.at(-1)!.i, undefined, 'no one event stands for the others')
  // The summary is the first line of the next interval: two more go out at once.
  for (let i = 10; i < 13; i++) log({ i })
  assert.deepEqual(lines.slice(4).map((line) => line.i), [10, 11])
})

test('logs a flood once at once, then one line per interval with its count, and nothing once it stops', (t) => {
  const { log, lines, seen } = limited(t, { lines: 1, intervalMs: 10_000 })
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

test('errorSummary adds the cause, unless the message says it already', () => {
  const cause = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8443'), { code: 'EADDRINUSE' })
  const said = Object.assign(new Error(`cannot listen on 127.0.0.1:8443: ${cause.message}`, { cause }), { code: 'PCL_ERR_LISTEN' })
  assert.deepEqual(errorSummary(said), { code: 'PCL_ERR_LISTEN', message: `cannot listen on 127.0.0.1:8443: ${cause.message}` })
  assert.deepEqual(errorSummary(new Error('upstream failed', { cause })), { message: `upstream failed: ${cause.message}` })
})

test('errorSummary of what is not an error says what was thrown, and does not throw itself', () => {
  assert.deepEqual(errorSummary(null), { message: 'thrown: null' })
  assert.deepEqual(errorSummary('no route table'), { message: 'thrown: no route table' })
  assert.deepEqual(errorSummary(undefined), { message: 'thrown: undefined' })
})

// pino's buffer for a stdout that does not keep up grew without bound, up to the container's memory limit.
for (const [when, closeLog] of [
  ['once the reader has caught up', 'setTimeout(() => void log.close(5000), 1000)'],
  ['at exit, before the reader has caught up', 'void log.close(5000)'],
] as const) {
  test(`drops what stdout cannot take past the buffer, and says how many lines ${when}`, { timeout: 30_000 }, async () => {
    const written = 20_000
    const { flood, summary } = await floodLog(written, closeLog)
    assert.ok(flood < written / 2, `${flood} lines went out`)
    assert.equal(summary, `${written - flood} log lines dropped: stdout was not read fast enough`)
  })
}

/**
 * A process that logs `written` lines at once into a 64 KiB buffer, far more than its reader takes
 * meanwhile, then runs `closeLog`: how many of them came out, and the line that says how many did not.
 */
async function floodLog(written: number, closeLog: string): Promise<{ flood: number; summary: string | undefined }> {
  const script = `
    import { createLog } from ${JSON.stringify(new URL('../../src/log.ts', import.meta.url).href)}
    const log = createLog(64 * 1024)
    for (let i = 0; i < ${written}; i++) log.logger.info({ i }, 'a line of the flood')
    ${closeLog}
  `
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  // 'close', not 'exit': the output may still be on its way when the process has exited.
  await once(child, 'close')
  const lines = output.trim().split('\n').map((line) => JSON.parse(line) as { msg: string; dropped?: number })
  return { flood: lines.filter((line) => line.msg === 'a line of the flood').length, summary: lines.find((line) => line.dropped !== undefined)?.msg }
}
