/**
 * How a route's balancer picks among its upstream urls: in turn (weighted, with weights), leaving out a url that could not be
 * reached for UNREACHABLE_URL_REST_MS, all of them in turn when every one rests; and for a request
 * that could not reach its url, only one that does not rest; never a full url (upstream.maxRequests).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Balancer, keyHash, UNREACHABLE_URL_REST_MS } from '../../src/routing/balancer.js'

/** A balancer of `size` urls (of weight 1, or `weights`) on a clock the test moves. */
function balancerOf(size: number, weights = new Array<number>(size).fill(1)): { balancer: Balancer; pass: (ms: number) => void } {
  let now = 1_000
  return { balancer: new Balancer(weights, { now: () => now }), pass: (ms) => (now += ms) }
}

const picks = (balancer: Balancer, count: number) => Array.from({ length: count }, () => balancer.pick())

test('takes the urls in turn', () => {
  assert.deepEqual(picks(balancerOf(3).balancer, 7), [0, 1, 2, 0, 1, 2, 0])
  assert.deepEqual(picks(balancerOf(1).balancer, 3), [0, 0, 0])
})

test('gives each url turns in proportion to its weight, spread out', () => {
  assert.deepEqual(picks(balancerOf(2, [3, 1]).balancer, 8), [0, 0, 1, 0, 0, 0, 1, 0])
  const counts = [0, 0, 0]
  for (const url of picks(balancerOf(3, [9, 1, 5]).balancer, 150)) counts[url!]!++
  assert.deepEqual(counts, [90, 10, 50])
  const { balancer } = balancerOf(3, [9, 1, 5])
  balancer.healthChecked(0, false)
  const left = picks(balancer, 12)
  assert.deepEqual([left.filter((url) => url === 1).length, left.filter((url) => url === 2).length], [2, 10], 'the others share what is left by their weights')
})

test('never gives a url of weight 0 a turn, even when every other rests, but takes it where a sticky cookie names it', () => {
  for (const balance of [undefined, (url: number) => -url] as const) {
    const balancer = new Balancer([0, 1, 2], balance ? { score: balance } : {})
    assert.ok(!picks(balancer, 30).includes(0), 'drained')
    assert.equal(balancer.pick(undefined, 0), 0, 'sticky')
    assert.equal(balancer.nextAfterUnreachable(1, new Set()), 2, 'the next url after one unreachable is not the drained one')
    balancer.unreachable(2)
    assert.ok(!picks(balancer, 6).includes(0), 'every url in turn resting: still not the drained one')
  }
})

test('takes the url a sticky cookie names while it is awake, without moving the turn', () => {
  const { balancer } = balancerOf(3)
  assert.deepEqual([balancer.pick(undefined, 2), balancer.pick(undefined, 2)], [2, 2])
  assert.deepEqual(picks(balancer, 3), [0, 1, 2], 'the turn as it was')
  balancer.unreachable(2)
  assert.equal(balancer.pick(undefined, 2), 0, 'a resting url is not taken')
})

test('leaves out a url that could not be reached until its rest is over', () => {
  const { balancer, pass } = balancerOf(3)
  balancer.unreachable(1)
  assert.deepEqual(picks(balancer, 4), [0, 2, 0, 2])
  pass(UNREACHABLE_URL_REST_MS - 1)
  assert.deepEqual(picks(balancer, 2), [0, 2])
  assert.deepEqual([0, 1, 2].map((url) => balancer.isAwake(url)), [true, false, true])
  pass(1)
  assert.deepEqual(picks(balancer, 3), [0, 1, 2])
  assert.equal(balancer.isAwake(1), true)
})

test('takes resting urls in turn when every url rests', () => {
  const { balancer } = balancerOf(2)
  balancer.unreachable(0)
  balancer.unreachable(1)
  assert.deepEqual(picks(balancer, 3), [0, 1, 0])
})

test('gives a request that could not reach some urls the next that does not rest, and none once every other rests or was tried', () => {
  const { balancer } = balancerOf(3)
  balancer.unreachable(2)
  const tried = new Set<number>()
  assert.equal(balancer.nextAfterUnreachable(0, tried), 1)
  assert.equal(balancer.nextAfterUnreachable(1, tried), undefined, 'not the resting one')
  assert.deepEqual([...tried], [0, 1])
  assert.deepEqual([0, 1, 2].map((url) => balancer.isAwake(url)), [false, false, false], 'the urls not reached rest')
  assert.equal(balancerOf(3).balancer.nextAfterUnreachable(2, new Set([0, 1])), undefined, 'every other url tried')
  assert.equal(balancerOf(1).balancer.nextAfterUnreachable(0, new Set()), undefined)
})

test('leaves out a url that failed its health check until one passes, whatever its rest', () => {
  const { balancer, pass } = balancerOf(3)
  balancer.healthChecked(1, false)
  assert.deepEqual(picks(balancer, 4), [0, 2, 0, 2])
  pass(UNREACHABLE_URL_REST_MS * 10)
  assert.deepEqual(picks(balancer, 2), [0, 2], 'no rest to run out')
  balancer.healthChecked(1, true)
  assert.deepEqual(picks(balancer, 3), [0, 1, 2])
  balancer.unreachable(1)
  balancer.healthChecked(1, true)
  assert.equal(balancer.isAwake(1), false, 'a check that passes does not end a rest')
  balancer.healthChecked(0, false)
  balancer.healthChecked(2, false)
  assert.deepEqual(picks(balancer, 3), [0, 1, 2], 'every url left out: each in turn')
})

test('with a score of each url (the fewest in flight), takes the highest scored that does not rest, ties in turn', () => {
  const inFlight = [0, 0, 0]
  const balancer = new Balancer([1, 1, 1], { score: (url) => -inFlight[url]! })
  assert.deepEqual(picks(balancer, 4), [0, 1, 2, 0], 'even loads: in turn')
  inFlight[0] = 5
  inFlight[1] = 2
  assert.deepEqual(picks(balancer, 2), [2, 2])
  inFlight[2] = 3
  assert.equal(balancer.pick(), 1)
  balancer.unreachable(1)
  assert.equal(balancer.pick(), 2, 'not a resting url, however light')
  assert.equal(balancer.nextAfterUnreachable(2, new Set()), 0, 'the least loaded of those left')
})

test('with clientIPHash, keeps each client on one url, and moves only the clients of a url left out', () => {
  const urls = ['http://10.0.0.1:8080', 'http://10.0.0.2:8080', 'http://10.0.0.3:8080'].map((url) => ({ url, weight: 1 }))
  const balancer = new Balancer([1, 1, 1], { score: keyHash(urls) })
  const clients = Array.from({ length: 300 }, (_, i) => `198.51.${i >> 8}.${i & 255}`)
  const urlOf = new Map(clients.map((client) => [client, balancer.pick(client)]))
  for (const client of clients) assert.equal(balancer.pick(client), urlOf.get(client), 'the same url every time')
  const counts = [0, 1, 2].map((url) => clients.filter((client) => urlOf.get(client) === url).length)
  assert.ok(counts.every((count) => count > 60), `spread over the urls: ${counts}`)
  balancer.healthChecked(1, false)
  for (const client of clients) {
    const url = balancer.pick(client)
    if (urlOf.get(client) === 1) assert.notEqual(url, 1)
    else assert.equal(url, urlOf.get(client), 'a client of another url stays')
  }
  const moved = clients.find((client) => urlOf.get(client) === 1)!
  const second = balancer.pick(moved)!
  assert.equal(balancer.nextAfterUnreachable(second, new Set(), moved), second === 0 ? 2 : 0, 'where its second cannot be reached, the one left')
})

test('with a key hash, sends a request without a key in turn, by the weights', () => {
  const urls = [{ url: 'http://10.0.0.1:8080' }, { url: 'http://10.0.0.2:8080' }]
  const balancer = new Balancer([2, 1], { score: keyHash(urls) })
  const keyed = balancer.pick('tenant-a')
  assert.deepEqual(picks(balancer, 6), [0, 1, 0, 0, 1, 0], 'smooth weighted turns, not all on one url')
  assert.equal(balancer.pick('tenant-a'), keyed, 'a key keeps its url between them')
})

test('with weights and a score, counts in-flight requests against the weight and breaks ties by weighted turns', () => {
  const inFlight = [0, 0]
  const weights = [3, 1]
  const balancer = new Balancer(weights, { score: (url, _client, weight) => -inFlight[url]! / weight })
  assert.deepEqual(picks(balancer, 4), [0, 0, 1, 0], 'idle: by weight')
  inFlight[0] = 3
  inFlight[1] = 1
  assert.deepEqual(picks(balancer, 4), [0, 0, 1, 0], 'as loaded for their weights: by weight')
  inFlight[0] = 4
  assert.equal(balancer.pick(), 1)
})

test('with slowStart, ramps the weight of a url that comes back up from a tenth to the whole', () => {
  let now = 1_000
  const balancer = new Balancer([1, 1], { slowStart: 10_000, now: () => now })
  /** How many of `count` picks go to url 1. */
  const toOne = (count: number) => picks(balancer, count).filter((url) => url === 1).length
  assert.equal(toOne(100), 50, 'at the start, none is slow')
  balancer.unreachable(1)
  now += UNREACHABLE_URL_REST_MS
  const first = toOne(110)
  assert.ok(first >= 9 && first <= 11, `a tenth of its weight as its rest ends: ${first} of 110`)
  now += 5_000
  const half = toOne(150)
  assert.ok(half >= 49 && half <= 51, `half of it halfway: ${half} of 150`)
  now += 5_000
  assert.equal(toOne(100), 50, 'the whole of it after slowStart')
  balancer.healthChecked(0, false)
  balancer.healthChecked(1, true)
  assert.equal(toOne(10), 10, 'a url failing its check is out; one passing again and again never left')
  balancer.healthChecked(0, true)
  const back = 110 - toOne(110)
  assert.ok(back >= 9 && back <= 11, `a url whose check passes after failing starts slow: ${back} of 110`)
})

test('with slowStart and a score, counts the requests in flight of a url that comes back against its weight now', () => {
  let now = 1_000
  const inFlight = [1, 0]
  const balancer = new Balancer([1, 1], { score: (url, _client, weight) => -inFlight[url]! / weight, slowStart: 10_000, now: () => now })
  balancer.unreachable(1)
  now += UNREACHABLE_URL_REST_MS
  assert.equal(balancer.pick(), 1, 'none in flight: the fewest')
  inFlight[1] = 1
  inFlight[0] = 9
  assert.equal(balancer.pick(), 0, 'one in flight at a tenth of its weight weighs as ten')
})

test('passes over a full url, for its sticky clients too, and picks none when every url is full', () => {
  const inFlight = [1, 0, 0]
  const balancer = new Balancer([1, 1, 1], { full: (url) => inFlight[url]! >= 1 })
  assert.deepEqual(picks(balancer, 4), [1, 2, 1, 2])
  assert.notEqual(balancer.pick(undefined, 0), 0, 'the url a sticky cookie names is full: another')
  inFlight[1] = 1
  assert.deepEqual(picks(balancer, 2), [2, 2])
  inFlight[2] = 1
  assert.deepEqual([balancer.pick(), balancer.pick(undefined, 2)], [undefined, undefined])
  inFlight[0] = 0
  assert.equal(balancer.pick(), 0, 'a url with room again')
  for (const url of [0, 1, 2]) balancer.unreachable(url)
  assert.equal(balancer.pick(), 0, 'when every url rests, still only one with room')
  assert.equal(balancer.nextAfterUnreachable(0, new Set()), undefined, 'nor after an unreachable url')
  assert.equal(new Balancer([1], { full: () => true }).pick(), undefined, 'a single url')
})

test('with clientIPHash and weights, a url of three times the weight keeps about three times the clients', () => {
  const urls = [{ url: 'http://10.0.0.1:8080', weight: 3 }, { url: 'http://10.0.0.2:8080', weight: 1 }]
  const balancer = new Balancer([3, 1], { score: keyHash(urls) })
  const clients = Array.from({ length: 4000 }, (_, i) => `203.0.${i >> 8}.${i & 255}`)
  const heavy = clients.filter((client) => balancer.pick(client) === 0).length
  assert.ok(heavy > 2800 && heavy < 3200, `${heavy} of 4000 clients on the url of weight 3`)
  for (const client of clients.slice(0, 50)) assert.equal(balancer.pick(client), balancer.pick(client), 'a client keeps its url')
})
