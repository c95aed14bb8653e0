/**
 * A route's rate limiter: a bucket per client address of `burst` requests, filled at `requests` per
 * `per`; the time to wait when it is empty; and a table of addresses that stays bounded.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_TRACKED_ADDRESSES, RateLimiter } from '../../src/routing/rate-limit.js'

/** A limiter on a clock the test moves. */
function limiterOf(requests: number, per: number, burst = requests): { limiter: RateLimiter; pass: (ms: number) => void } {
  let now = 1_000
  return { limiter: new RateLimiter(per / requests, burst, () => now), pass: (ms) => (now += ms) }
}

const admits = (limiter: RateLimiter, address: string, count: number) => Array.from({ length: count }, () => limiter.admit(address))

test('takes a burst at once, then one request each interval, and says how long to wait', () => {
  const { limiter, pass } = limiterOf(10, 1_000, 3)
  assert.deepEqual(admits(limiter, 'a', 4), [0, 0, 0, 100])
  pass(50)
  assert.equal(limiter.admit('a'), 50)
  pass(50)
  assert.deepEqual(admits(limiter, 'a', 2), [0, 100])
  pass(1_000)
  assert.deepEqual(admits(limiter, 'a', 4), [0, 0, 0, 100], 'a quiet while fills the bucket, and no more')
})

test('counts each address apart, and a refused request costs nothing', () => {
  const { limiter, pass } = limiterOf(2, 60_000)
  assert.deepEqual(admits(limiter, 'a', 3), [0, 0, 30_000])
  assert.deepEqual(admits(limiter, 'b', 2), [0, 0])
  assert.deepEqual(admits(limiter, 'a', 5), [30_000, 30_000, 30_000, 30_000, 30_000])
  pass(30_000)
  assert.deepEqual(admits(limiter, 'a', 2), [0, 30_000])
})

test('forgets the buckets that filled again, and the oldest addresses past its bound', () => {
  const { limiter, pass } = limiterOf(1, 1_000)
  admits(limiter, 'a', 1)
  admits(limiter, 'b', 1)
  pass(10_000)
  limiter.admit('c')
  assert.equal(limiter.size, 1, 'a and b were full again')

  for (let i = 0; i < MAX_TRACKED_ADDRESSES + 10; i++) limiter.admit(`10.0.${i >> 8}.${i & 255}`)
  assert.equal(limiter.size, MAX_TRACKED_ADDRESSES)
  assert.equal(limiter.admit('c'), 0, 'the first addresses were forgotten')
  assert.ok(limiter.admit(`10.0.${(MAX_TRACKED_ADDRESSES + 9) >> 8}.${(MAX_TRACKED_ADDRESSES + 9) & 255}`) > 0, 'the latest is remembered')
})
