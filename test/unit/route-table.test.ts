import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { compileRouteTable, routeKey, type RoutableRoute } from '../../src/routing/table.js'

interface TestRoute extends RoutableRoute {
  readonly id: string
}

const route = (id: string, host: string, path = '/'): TestRoute => ({ id, host, path })

const SEGMENTS = [route('api', 'a.test', '/api')]
const DIRECTORY = [route('apiDir', 'a.test', '/api/')]
// Out of order on purpose: the table sorts by prefix length.
const NESTED = [route('v1', 'a.test', '/api/v1'), route('root', 'a.test', '/'), route('api', 'a.test', '/api')]
const BOTH_FORMS = [route('api', 'a.test', '/api'), route('apiDir', 'a.test', '/api/')]
const HOSTS = [
  route('exactApi', 'a.example.com', '/api'),
  route('wild', '*.example.com', '/'),
  route('wildAdmin', '*.example.com', '/admin'),
  route('exactB', 'b.example.com', '/'),
  route('other', 'other.test', '/'),
]
const QUERY_IN_PREFIX = [route('odd', 'a.test', '/search?q')]
const MIXED_CASE_CONFIG = [route('upper', 'A.Test', '/'), route('upperWild', '*.Example.COM', '/')]

// [routes, normalised host, request target, expected route id]
const CASES: ReadonlyArray<readonly [readonly TestRoute[], string, string, string | undefined]> = [
  // a prefix matches on segment boundaries
  [SEGMENTS, 'a.test', '/api', 'api'],
  [SEGMENTS, 'a.test', '/api/', 'api'],
  [SEGMENTS, 'a.test', '/api/x/y', 'api'],
  [SEGMENTS, 'a.test', '/api?x=1', 'api'],
  [SEGMENTS, 'a.test', '/api/?x=1', 'api'],
  [SEGMENTS, 'a.test', '/apix', undefined],
  // path parameters and a backslash end a segment too, for upstreams that read them so
  [SEGMENTS, 'a.test', '/api;jsessionid=1', 'api'],
  [SEGMENTS, 'a.test', '/api\\x', 'api'],
  [SEGMENTS, 'a.test', '/api;x/y?q', 'api'],
  [SEGMENTS, 'a.test', '/apix;y', undefined],
  [DIRECTORY, 'a.test', '/api;x', undefined],
  [NESTED, 'a.test', '/api/v1;x', 'v1'],
  [NESTED, 'a.test', '/api/v1x;y/z', 'api'],
  [SEGMENTS, 'a.test', '/ap', undefined],
  [SEGMENTS, 'a.test', '/', undefined],
  [SEGMENTS, 'a.test', '/API', undefined],
  [SEGMENTS, 'a.test', '/x?/api', undefined],
  // the path as given: the table decodes nothing and removes no dot segments (routing/path.ts does, before it)
  [SEGMENTS, 'a.test', '/api%2fx', undefined],
  [SEGMENTS, 'a.test', '/%61pi', undefined],
  [SEGMENTS, 'a.test', '/api/../admin', 'api'],
  [SEGMENTS, 'a.test', '//api', undefined],

  // a prefix ending in `/` matches below it, not the bare name
  [DIRECTORY, 'a.test', '/api', undefined],
  [DIRECTORY, 'a.test', '/api?x=1', undefined],
  [DIRECTORY, 'a.test', '/api/', 'apiDir'],
  [DIRECTORY, 'a.test', '/api/x', 'apiDir'],
  [DIRECTORY, 'a.test', '/api/?x', 'apiDir'],
  [BOTH_FORMS, 'a.test', '/api', 'api'],
  [BOTH_FORMS, 'a.test', '/api/', 'apiDir'],
  [BOTH_FORMS, 'a.test', '/api/x', 'apiDir'],

  // the longest prefix wins; `/` matches everything
  [NESTED, 'a.test', '/api/v1', 'v1'],
  [NESTED, 'a.test', '/api/v1/orders?id=3', 'v1'],
  [NESTED, 'a.test', '/api/v10', 'api'],
  [NESTED, 'a.test', '/api/v2', 'api'],
  [NESTED, 'a.test', '/api', 'api'],
  [NESTED, 'a.test', '/apiv1', 'root'],
  [NESTED, 'a.test', '/', 'root'],
  [NESTED, 'a.test', '/?api', 'root'],
  [NESTED, 'a.test', '/other/api/v1', 'root'],

  // the host entry first: exact beats wildcard, with no fallback to the wildcard on a path miss
  [HOSTS, 'a.example.com', '/api/x', 'exactApi'],
  [HOSTS, 'a.example.com', '/other', undefined],
  [HOSTS, 'a.example.com', '/admin', undefined],
  [HOSTS, 'b.example.com', '/admin', 'exactB'],
  [HOSTS, 'c.example.com', '/other', 'wild'],
  [HOSTS, 'c.example.com', '/admin/users', 'wildAdmin'],
  [HOSTS, 'example.com', '/', undefined],
  [HOSTS, 'x.c.example.com', '/', undefined],
  [HOSTS, 'a.example.com.evil', '/', undefined],
  [HOSTS, 'cexample.com', '/', undefined],
  [HOSTS, 'other.test', '/x', 'other'],
  [HOSTS, 'another.test', '/x', undefined],
  [HOSTS, 'x.other.test', '/x', undefined],
  [[], 'a.test', '/', undefined],

  // targets that are not a path never match: the caller answers 400
  [NESTED, 'a.test', '*', undefined],
  [NESTED, 'a.test', 'http://a.test/api', undefined],
  [NESTED, 'a.test', 'a.test/api', undefined],
  [NESTED, 'a.test', '', undefined],
  [NESTED, 'a.test', '?x', undefined],

  // a prefix never reaches into the query
  [QUERY_IN_PREFIX, 'a.test', '/search?q', undefined],
  [QUERY_IN_PREFIX, 'a.test', '/search?q=1', undefined],

  // configured hosts compare case-insensitively (the request host is lower-case already)
  [MIXED_CASE_CONFIG, 'a.test', '/', 'upper'],
  [MIXED_CASE_CONFIG, 'x.example.com', '/', 'upperWild'],
]

describe('RouteTable.match', () => {
  for (const [routes, host, path, expected] of CASES) {
    const names = routes.map((r) => `${r.id}=${routeKey(r)}`).join(', ')
    test(`${host} ${JSON.stringify(path)} → ${expected ?? 'none'}   [${names}]`, () => {
      assert.equal(compileRouteTable(routes).match(host, path)?.id, expected)
    })
  }
})

describe('RouteTable.hostRoute', () => {
  const SAME_LENGTH = [route('b', 'a.test', '/b'), route('a', 'a.test', '/a'), route('longer', 'a.test', '/long')]
  // [routes, SNI name, the route that stands for its host]
  const ROWS: ReadonlyArray<readonly [readonly TestRoute[], string, string | undefined]> = [
    [HOSTS, 'a.example.com', 'exactApi'],
    [HOSTS, 'c.example.com', 'wild'],
    [HOSTS, 'example.com', undefined],
    [HOSTS, 'x.c.example.com', undefined],
    [HOSTS, '', undefined],
    // Of paths as short, the first in the config, as the pool of routes that share one is named.
    [SAME_LENGTH, 'a.test', 'b'],
  ]
  for (const [routes, host, expected] of ROWS) {
    test(`${JSON.stringify(host)} → ${expected ?? 'none'}`, () => {
      assert.equal(compileRouteTable(routes).hostRoute(host)?.id, expected)
    })
  }
})

test('routeKey is host and path', () => {
  assert.equal(routeKey(route('x', '*.example.com', '/api')), '*.example.com /api')
})

// How fast lookups stay with 1,000 routes is measured by the benchmark (bench/, scenario e), not here.
test('1,000 routes: every route is found', () => {
  const routes: TestRoute[] = []
  for (let i = 0; i < 250; i++) {
    const host = i % 5 === 0 ? `*.w${i}.example.com` : `h${i}.example.com`
    for (const path of ['/', '/api', '/api/v1', `/p${i}/`]) routes.push(route(`${i}${path}`, host, path))
  }
  const table = compileRouteTable(routes)
  const requests = routes.map((r) => {
    const host = r.host.startsWith('*.') ? `x${r.host.slice(1)}` : r.host
    return [host, r.path === '/' ? '/index.html' : `${r.path}${r.path.endsWith('/') ? '' : '/'}x?y=1`, r.id] as const
  })
  for (const [host, path, id] of requests) assert.equal(table.match(host, path)?.id, id, `${host}${path}`)
})
