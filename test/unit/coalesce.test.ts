/**
 * coalesce(): callers share runs, runs never overlap and start at least minIntervalMs apart, and no
 * caller gets the result of a run that started before it asked.
 */
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { coalesce } from '../../src/coalesce.js'

const INTERVAL_MS = 100
/** Lets every promise callback that can run now run (setImmediate is not among the mocked timers). */
const settle = () => new Promise((resolve) => setImmediate(resolve))

/** A job that records when each run started and with which request, and finishes when told. */
function recordedJob(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 })
  const starts: { at: number; request: string[] }[] = []
  const finishers: ((error?: Error) => void)[] = []
  const job = (request: string[]) => {
    starts.push({ at: Date.now(), request })
    const run = starts.length
    return new Promise<string>((resolve, reject) => finishers.push((error) => (error ? reject(error) : resolve(`run ${run}`))))
  }
  const call = coalesce(job, { minIntervalMs: INTERVAL_MS, merge: (queued, joining) => [...queued, ...joining] })
  const finish = async (error?: Error) => {
    finishers.shift()!(error)
    await settle()
  }
  return { call, starts, finish }
}

describe('coalesce', () => {
  it('starts the first run after a quiet period at once, and callers of the same moment share it', async (t) => {
    const { call, starts, finish } = recordedJob(t)
    const results = [call(['a']), call(['b']), call(['c'])]
    await settle()
    assert.deepEqual(starts, [{ at: 1_000_000, request: ['a', 'b', 'c'] }])
    await finish()
    assert.deepEqual(await Promise.all(results), ['run 1', 'run 1', 'run 1'])
  })

  it('gives callers that come during a run the next run, never the one in progress', async (t) => {
    const { call, starts, finish } = recordedJob(t)
    const first = call(['a'])
    await settle()
    const later = [call(['b']), call(['c'])]
    t.mock.timers.tick(INTERVAL_MS)
    await settle()
    assert.equal(starts.length, 1, 'runs never overlap, however long one takes')
    await finish()
    assert.equal(await first, 'run 1')
    assert.deepEqual(starts[1], { at: 1_000_000 + INTERVAL_MS, request: ['b', 'c'] })
    await finish()
    assert.deepEqual(await Promise.all(later), ['run 2', 'run 2'])
  })

  it('starts a run no sooner than minIntervalMs after the previous one started', async (t) => {
    const { call, starts, finish } = recordedJob(t)
    const first = call(['a'])
    await settle()
    t.mock.timers.tick(10)
    await finish()
    await first
    const second = call(['b'])
    await settle()
    t.mock.timers.tick(INTERVAL_MS - 11)
    await settle()
    assert.equal(starts.length, 1)
    t.mock.timers.tick(1)
    await settle()
    assert.deepEqual(starts[1], { at: 1_000_000 + INTERVAL_MS, request: ['b'] })
    await finish()
    assert.equal(await second, 'run 2')
    t.mock.timers.tick(INTERVAL_MS + 1)
    void call(['c'])
    await settle()
    assert.equal(starts.length, 3, 'a quiet interval later, at once again')
  })

  it('waits no longer than the interval when the wall clock is set back', async (t) => {
    const { call, starts, finish } = recordedJob(t)
    void call(['a'])
    await settle()
    await finish()
    t.mock.timers.setTime(0)
    void call(['b'])
    await settle()
    t.mock.timers.tick(INTERVAL_MS)
    await settle()
    assert.deepEqual(starts[1], { at: INTERVAL_MS, request: ['b'] })
  })

  it('rejects the callers of a failed run, and runs again for the next callers', async (t) => {
    const { call, starts, finish } = recordedJob(t)
    const failing = [call(['a']), call(['b'])]
    await settle()
    await finish(new Error('boom'))
    for (const result of failing) await assert.rejects(result, /boom/)
    const next = call(['c'])
    await settle()
    t.mock.timers.tick(INTERVAL_MS)
    await settle()
    assert.deepEqual(starts[1]?.request, ['c'])
    await finish()
    assert.equal(await next, 'run 2')
  })
})
