import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { renderJsonSchema } from '../../src/config/json-schema.js'
import { parseDuration } from '../../src/config/duration.js'
import { DEFAULT_CONNECTION_LIMIT, DEFAULT_REQUEST_LIMIT } from '../../src/config/limits.js'
import { ConfigError, formatIssue, type ConfigIssue } from '../../src/config/issues.js'
import { ConfigLoader } from '../../src/config/load.js'
import { parseConfig } from '../helpers/config.js'
import { parseListenAddress } from '../../src/config/listen-address.js'
import { readFailure } from '../../src/config/regular-file.js'

// Files only need to exist for the loader; their contents are checked when the snapshot is built.
const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-'))
for (const name of ['srv.crt', 'srv.key', 'ca.crt', 'cli.crt', 'cli.key', 'a.crl']) writeFileSync(join(dir, name), '')
const file = join(dir, 'routes.yaml')
after(() => rmSync(dir, { recursive: true, force: true }))

const MERGE_KEY_HERE = 'the merge key << stands where a value belongs (!!merge makes << that key)'
const A_DURATION = 'a duration, a number with a unit (ms, s, m, h), e.g. 5s'
// A line of an RSA key (made up), and a token of mixed case and digits: secrets no message may quote.
const KEY_LINE = 'MIIEowIBAAKCAQEAqB58kXQ2fGzH7vJ4Lm9Pn1tRs8Wy3Cd6Ek0Ua5Ob2Vi7Tg4Zh1S'
const TOKEN = 'ghp1Xk9QmZ7rT2vL8wN3bY6cH0dJ4fS5aP'
const NEVER_MATCHES = 'never matches: request paths are normalized before routing (repeated slashes merged, . and .. resolved, escapes of ASCII decoded)'

const GOOD = `listen:
  https: 127.0.0.1:8443
  http: 127.0.0.1:8080
  admin: 127.0.0.1:9901
routes:
  - name: orders
    host: Orders.Example.com
    path: /api
    tls:
      cert: srv.crt
      key: srv.key
      clientCAs: ca.crt
    upstream:
      url: https://orders.internal:8443/v1/
      ca: ca.crt
      cert: cli.crt
      key: cli.key
      timeouts:
        connect: 250ms
  - host: open.example.com
    upstream:
      url: http://10.0.0.7
`

function issuesOf(text: string, loader = new ConfigLoader(file)): string[] {
  return configIssuesOf(text, loader).map((i) => `${i.line ?? '-'}:${i.col ?? '-'} ${i.path}: ${i.message}`)
}

function configIssuesOf(text: string, loader = new ConfigLoader(file)): readonly ConfigIssue[] {
  try {
    loader.parse(text)
  } catch (error) {
    assert.equal((error as ConfigError).code, 'PCL_ERR_CONFIG')
    return (error as ConfigError).issues
  }
  return []
}

describe('parseConfig', () => {
  test('resolves a good config: defaults, durations, absolute paths, lower-case hosts', () => {
    const config = parseConfig(GOOD, file)
    const [orders, open] = config.routes
    assert.equal(orders!.name, 'orders')
    assert.equal(orders!.host, 'orders.example.com')
    assert.equal(orders!.path, '/api')
    assert.deepEqual(orders!.tls, {
      cert: join(dir, 'srv.crt'),
      key: join(dir, 'srv.key'),
      clientCAs: join(dir, 'ca.crt'),
      clientCertRequired: true,
      crl: [],
      minVersion: 'TLSv1.2',
      forwardClientCert: 'xfcc',
    })
    assert.deepEqual(orders!.upstream.crl, [])
    const allowing = (keys: string) => parseConfig(GOOD.replace('      clientCAs: ca.crt\n', `      clientCAs: ca.crt\n      allowedClients: ${keys}\n`), file).routes[0]!.tls
    const pin = 'AB:'.repeat(31) + 'CD'
    assert.deepEqual((allowing(`{ uri: ['spiffe://a/*'], dns: [Billing.Internal], commonName: [alice], fingerprint: ['${pin}'] }`) as { allowedClients: unknown }).allowedClients, {
      uri: ['spiffe://a/*'],
      dns: ['billing.internal'],
      commonName: ['alice'],
      fingerprint: ['ab'.repeat(31) + 'cd'],
    })
    assert.deepEqual(parseConfig(GOOD.replace('      ca: ca.crt\n', '      ca: ca.crt\n      crl: a.crl\n'), file).routes[0]!.upstream.crl, [{ file: join(dir, 'a.crl'), path: 'routes[0].upstream.crl' }])
    assert.deepEqual(parseConfig(GOOD.replace('      ca: ca.crt\n', '      ca: ca.crt\n      crl: [a.crl]\n'), file).routes[0]!.upstream.crl, [{ file: join(dir, 'a.crl'), path: 'routes[0].upstream.crl[0]' }])
    assert.equal(orders!.upstream.urls[0]!.serverName, 'orders.internal')
    assert.equal(orders!.upstream.pathPrefix, '/v1')
    assert.equal(orders!.upstream.urls[0]!.port, 8443)
    assert.deepEqual(orders!.upstream.timeouts, { connect: 250, response: 30_000, idle: 60_000 })
    assert.equal(orders!.upstream.healthCheck, undefined)
    assert.equal(orders!.upstream.balance, 'roundRobin')
    assert.equal(orders!.rateLimit, undefined)
    const limited = (limit: string) => parseConfig(GOOD.replace('path: /api', `path: /api\n    rateLimit: ${limit}`), file).routes[0]!.rateLimit
    assert.deepEqual(limited('{ requests: 100 }'), { requests: 100, per: 1_000, burst: 100, by: 'address' })
    assert.deepEqual(limited('{ requests: 600, per: 1m, burst: 20, by: clientCert }'), { requests: 600, per: 60_000, burst: 20, by: 'clientCert' })
    assert.deepEqual(limited('{ requests: 10, by: header, header: X-API-Key }'), { requests: 10, per: 1_000, burst: 10, by: 'header', header: 'x-api-key' })
    const checked = (check: string) => parseConfig(GOOD.replace('url: http://10.0.0.7', `url: http://10.0.0.7\n      healthCheck: ${check}`), file).routes[1]!.upstream.healthCheck
    assert.deepEqual(checked('{ path: /healthz }'), { path: '/healthz', interval: 10_000, timeout: 5_000, fails: 1, passes: 1 })
    assert.deepEqual(checked('{ path: /ready?full=1, interval: 2s, timeout: 250ms, fails: 3, passes: 2 }'), { path: '/ready?full=1', interval: 2_000, timeout: 250, fails: 3, passes: 2 })
    const upstreamOf = (keys: string) => parseConfig(GOOD.replace('url: http://10.0.0.7', `url: [http://10.0.0.7, http://10.0.0.8]\n      ${keys}`), file).routes[1]!.upstream
    assert.deepEqual([upstreamOf('slowStart: 30s').slowStart, upstreamOf('maxRequests: 100').maxRequests], [30_000, 100])
    assert.deepEqual(upstreamOf('retryOn: [502, 503, 429]').retryOn, [502, 503, 429])
    const verified = parseConfig(GOOD.replace('      ca: ca.crt\n', "      ca: ca.crt\n      subjectAltNames: { uri: ['spiffe://a/*'], dns: [Orders.Internal] }\n"), file).routes[0]!.upstream
    assert.deepEqual(verified.subjectAltNames, { uri: ['spiffe://a/*'], dns: ['orders.internal'] })
    assert.deepEqual([upstreamOf('balance: headerHash\n      hashHeader: X-Tenant-ID')].map(({ balance, hashHeader }) => [balance, hashHeader]), [['headerHash', 'x-tenant-id']])
    assert.deepEqual(['api.example.com', 'api.example.com:8443', '[::1]:8080'].map((host) => checked(`{ path: /healthz, host: '${host}' }`)?.host), ['api.example.com', 'api.example.com:8443', '[::1]:8080'])
    assert.deepEqual([checked('{ path: /healthz, status: 200 }')?.statuses, checked('{ path: /healthz, status: [200, 204] }')?.statuses], [[200], [200, 204]])
    assert.equal(checked(`{ path: /healthz, body: '"status":\\s*"UP"' }`)?.body, '"status":\\s*"UP"')
    const tcp = parseConfig("listen: { https: 127.0.0.1:8443 }\nroutes:\n  - { host: p.test, tls: passthrough, upstream: { url: 'tcp://10.0.0.7:443', healthCheck: { interval: 3s } } }\n", file)
    assert.deepEqual(tcp.routes[0]!.upstream.healthCheck, { path: undefined, interval: 3_000, timeout: 5_000, fails: 1, passes: 1 }, 'a TCP connect')
    assert.equal(orders!.maxRequestBody, undefined, 'no limit')
    const withLimit = (size: string) => parseConfig(GOOD.replace('path: /api', `path: /api\n    maxRequestBody: ${size}`), file).routes[0]!.maxRequestBody
    assert.deepEqual(['1.5MiB', '10MB', '512B', '2kB'].map(withLimit), [1_572_864, 10_000_000, 512, 2000])
    assert.deepEqual(orders!.headers, {}, 'no header changes')
    assert.equal(orders!.stripPath, false)
    assert.equal(parseConfig(GOOD.replace('path: /api', 'path: /api\n    stripPath: true'), file).routes[0]!.stripPath, true)
    assert.deepEqual([orders!.compress, parseConfig(GOOD.replace('path: /api', 'path: /api\n    compress: true'), file).routes[0]!.compress], [false, true])
    const authorized = parseConfig(GOOD.replace('path: /api', "path: /api\n    forwardAuth: { url: 'http://auth.internal:4180/check', responseHeaders: [X-Auth-User] }"), file).routes[0]!
    assert.deepEqual([orders!.forwardAuth, authorized.forwardAuth], [undefined, { url: 'http://auth.internal:4180/check', responseHeaders: ['x-auth-user'], timeoutMs: 5_000 }])
    const changes = `    headers:\n      request: { set: { X-Env: prod, Authorization: 'Bearer t', Host: 'orders.internal:8080' }, remove: [Cookie] }\n      response: { remove: [Server, X-Powered-By] }\n`
    assert.deepEqual(parseConfig(GOOD.replace('    upstream:\n      url: http://10.0.0.7', `${changes}    upstream:\n      url: http://10.0.0.7`), file).routes[1]!.headers, {
      request: { remove: ['cookie'], set: [['x-env', 'prod'], ['authorization', 'Bearer t'], ['host', 'orders.internal:8080']] },
      response: { remove: ['server', 'x-powered-by'], set: [] },
    })
    assert.equal(open!.name, 'open.example.com')
    assert.equal(open!.path, '/')
    assert.equal(open!.upstream.urls[0]!.port, 80)
    assert.equal(open!.upstream.urls[0]!.serverName, '', 'an IP-literal upstream gets no SNI')
    const listed = parseConfig(GOOD.replace('url: http://10.0.0.7', "url: ['http://10.0.0.7/v2', 'http://orders.internal:8080/v2/']\n      weights: [3, 1]"), file).routes[1]!.upstream
    assert.deepEqual(listed.urls, [
      { url: 'http://10.0.0.7/v2', path: 'routes[1].upstream.url[0]', hostname: '10.0.0.7', port: 80, serverName: '', weight: 3 },
      { url: 'http://orders.internal:8080/v2/', path: 'routes[1].upstream.url[1]', hostname: 'orders.internal', port: 8080, serverName: 'orders.internal', weight: 1 },
    ])
    assert.equal(open!.upstream.urls[0]!.weight, 1, 'the default weight')
    assert.equal(listed.pathPrefix, '/v2')
    assert.equal(config.shutdown.grace, 25_000)
    assert.deepEqual(config.limits, { connections: DEFAULT_CONNECTION_LIMIT, requests: DEFAULT_REQUEST_LIMIT })
    assert.deepEqual(parseConfig(`${GOOD}limits: { requests: 7 }\n`, file).limits, { connections: DEFAULT_CONNECTION_LIMIT, requests: 7 })
    assert.equal(config.requestId, false)
    assert.equal(parseConfig(`${GOOD}requestId: true\n`, file).requestId, true)
    assert.equal(config.httpsRedirect, undefined)
    assert.equal(config.proxyProtocol, undefined)
    assert.deepEqual(parseConfig(`${GOOD}proxyProtocol: { trustedIPs: ['2001:db8::/32', 192.0.2.7] }\n`, file).proxyProtocol, {
      trustedIPs: [{ address: '2001:db8::', prefix: 32, family: 'ipv6' }, { address: '192.0.2.7', prefix: 32, family: 'ipv4' }],
    })
    assert.equal(parseConfig(`${GOOD}httpsRedirect: 443\n`, file).httpsRedirect, 443)
    assert.ok(Object.isFrozen(config.routes[0]!.upstream), 'the config is deep-frozen')
  })

  test('takes the durations at the ends of what a timer holds: a grace of 0s, 2147483647ms, and not 1ms more', () => {
    assert.equal(parseConfig(`${GOOD}shutdown: { grace: 0s }\n`, file).shutdown.grace, 0, 'no grace: close at once')
    assert.equal(parseConfig(GOOD.replace('connect: 250ms', 'connect: 2147483647ms'), file).routes[0]!.upstream.timeouts.connect, 2_147_483_647)
    assert.deepEqual(issuesOf(GOOD.replace('connect: 250ms', 'connect: 2147483648ms')), ["19:18 routes[0].upstream.timeouts.connect: must be at most 596h (Node's timers hold up to 24.8 days)"])
  })

  // Each row: what is wrong, the YAML, and the issue lines expected (line:col key.path: message).
  const cases: [string, string, string[]][] = [
    ['broken YAML', 'listen:\n  https: [0.0.0.0:1\nroutes: []\n', ['2:10 listen.https: invalid YAML: the list opened here has no closing ]']],
    // The library said "Nested mappings are not allowed in compact mappings" and "Implicit keys need to be
    // on a single line" for each, the first twice and every key below a misplaced one again.
    [
      'a key indented deeper than the one above it, once',
      GOOD.replace('      ca: ca.crt', '        ca: ca.crt'),
      ["14:12 routes[0].upstream.url: invalid YAML: line 15 is indented deeper (column 9) than this key (column 7), so YAML reads it as part of this key's value: keys of one mapping start in one column"],
    ],
    ['a key indented less than the keys beside it, once', GOOD.replace('      ca: ca.crt', '    ca: ca.crt'), ['15:9 routes[0].ca: invalid YAML: line 16 is indented deeper (column 7) than this key (column 5)']],
    [
      'a key indented less than the keys beside it, a blank line below it',
      GOOD.replace('      ca: ca.crt', '    ca: ca.crt\n'),
      ['15:9 routes[0].ca: invalid YAML: line 17 is indented deeper (column 7) than this key (column 5)'],
    ],
    // The errors that follow from a [ left open said "line 12 is indented deeper (column 7) than this
    // key (column 7)".
    [
      'a [ left open above the keys of a mapping',
      GOOD.replace('    path: /api\n', '    path: /api\n   bogus: [\n'),
      [
        "9:4 routes: invalid YAML: 'bogus' is indented to column 4",
        '9:11 routes: invalid YAML: the list opened here has no closing ]',
        "11:7 routes: invalid YAML: this value holds ': '",
        '11:13 routes: invalid YAML: this value cannot be read as written, which may follow from a problem above',
        '15:12 routes: invalid YAML: this value cannot be read as written, which may follow from a problem above',
      ],
    ],
    // Ports out of range were "not host:port" and "not a URL".
    ['a listen port over 65535', GOOD.replace('https: 127.0.0.1:8443', 'https: 127.0.0.1:70000'), ["2:10 listen.https: '127.0.0.1:70000': port 70000 is over 65535"]],
    ['an upstream port over 65535', GOOD.replace('url: http://10.0.0.7', 'url: http://10.0.0.7:99999'), ["22:12 routes[1].upstream.url: 'http://10.0.0.7:99999': port 99999 is over 65535"]],
    // A passthrough route ignored them: it relays bytes, with no path to add, no response to time, and
    // no connection of its own to keep.
    [
      'a path, a response timeout and an idle timeout on a passthrough upstream',
      "listen: { https: 127.0.0.1:8443 }\nroutes:\n  - host: p.test\n    tls: passthrough\n    upstream: { url: 'tcp://127.0.0.1:9443/pre', timeouts: { response: 1s, idle: 1s } }\n",
      [
        '5:22 routes[0].upstream.url: tcp:// relays the raw TLS stream, which has no path: write tcp://host:port',
        '5:72 routes[0].upstream.timeouts.response: only applies to http:// and https:// upstreams: a passthrough connection has no response to time',
        "5:82 routes[0].upstream.timeouts.idle: only applies to http:// and https:// upstreams: a passthrough connection is the client's, never kept idle",
      ],
    ],
    [
      'a health check path, status, host or body on a passthrough upstream, no path on another, and checks whose path, durations, statuses, host or body cannot be used',
      "listen: { https: 127.0.0.1:8443, http: 127.0.0.1:8080 }\nroutes:\n  - host: p.test\n    tls: passthrough\n    upstream: { url: 'tcp://127.0.0.1:9443', healthCheck: { path: /healthz } }\n" +
        "  - host: a.test\n    upstream: { url: 'http://127.0.0.1:9000', healthCheck: { path: '/health z', interval: 0s } }\n" +
        "  - host: b.test\n    upstream: { url: 'http://127.0.0.1:9000', healthCheck: { path: healthz, timeout: 5 } }\n" +
        "  - host: c.test\n    upstream: { url: 'http://127.0.0.1:9000', healthCheck: { interval: 1s } }\n" +
        "  - host: d.test\n    tls: passthrough\n    upstream: { url: 'tcp://127.0.0.1:9443', healthCheck: { status: 200 } }\n" +
        "  - host: e.test\n    upstream: { url: 'http://127.0.0.1:9000', healthCheck: { path: /healthz, status: [200, 2xx, 102] } }\n" +
        "  - host: f.test\n    tls: passthrough\n    upstream: { url: 'tcp://127.0.0.1:9443', healthCheck: { host: api.test } }\n" +
        "  - host: g.test\n    upstream: { url: 'http://127.0.0.1:9000', healthCheck: { path: /healthz, host: 'api test' } }\n" +
        "  - host: h.test\n    tls: passthrough\n    upstream: { url: 'tcp://127.0.0.1:9443', healthCheck: { body: UP } }\n" +
        "  - host: i.test\n    upstream: { url: 'http://127.0.0.1:9000', healthCheck: { path: /healthz, body: '\"status\": (UP' } }\n",
      [
        "5:67 routes[0].upstream.healthCheck.path: a passthrough route's check is a TCP connect, which asks for no path: leave it out",
        "7:68 routes[1].upstream.healthCheck.path: '/health z' is not a request path: visible ASCII, other characters percent-encoded",
        '7:91 routes[1].upstream.healthCheck.interval: must be more than 0',
        '9:68 routes[2].upstream.healthCheck.path: "healthz" must start with /',
        '9:86 routes[2].upstream.healthCheck.timeout: 5 is not a duration: write a number with a unit (ms, s, m, h), e.g. 5s',
        '11:47 routes[3].upstream.healthCheck.path: is required: the path each url is asked for (e.g. /healthz)',
        "14:69 routes[4].upstream.healthCheck.status: a passthrough route's check is a TCP connect, which gets no status: leave it out",
        '16:92 routes[5].upstream.healthCheck.status[1]: must be a whole number',
        '16:97 routes[5].upstream.healthCheck.status[2]: 102 is too small: must be at least 200',
        "19:67 routes[6].upstream.healthCheck.host: a passthrough route's check is a TCP connect, which sends no Host: leave it out",
        '21:84 routes[7].upstream.healthCheck.host: "api test" is no host: a name or an address, with a port or not (api.example.com, api.example.com:8443)',
        "24:67 routes[8].upstream.healthCheck.body: a passthrough route's check is a TCP connect, which gets no body: leave it out",
        `26:84 routes[9].upstream.healthCheck.body: '"status": (UP' is not a regular expression: Unterminated group`,
      ],
    ],
    [
      'a rateLimit on a passthrough route, and limits that cannot be used',
      "listen: { https: 127.0.0.1:8443, http: 127.0.0.1:8080 }\nroutes:\n  - host: p.test\n    tls: passthrough\n    rateLimit: { requests: 5 }\n    upstream: { url: 'tcp://127.0.0.1:9443' }\n" +
        "  - host: a.test\n    rateLimit: { requests: 0, per: 0s, burst: 1.5 }\n    upstream: { url: 'http://127.0.0.1:9000' }\n" +
        "  - host: b.test\n    rateLimit: { requests: 10r/s }\n    upstream: { url: 'http://127.0.0.1:9000' }\n",
      [
        '5:5 routes[0].rateLimit: a passthrough route has no requests to count: they are never decrypted here',
        '8:28 routes[1].rateLimit.requests: 0 is too small: must be at least 1',
        '8:36 routes[1].rateLimit.per: must be more than 0',
        '8:47 routes[1].rateLimit.burst: must be a whole number',
        '11:28 routes[2].rateLimit.requests: "10r/s" is a rate: write requests: 10 and per: 1s',
      ],
    ],
    [
      'a balance on a passthrough upstream, and one that is none',
      "listen: { https: 127.0.0.1:8443, http: 127.0.0.1:8080 }\nroutes:\n  - host: p.test\n    tls: passthrough\n    upstream: { url: 'tcp://127.0.0.1:9443', balance: roundRobin }\n" +
        "  - host: a.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], balance: least_conn }\n",
      [
        '5:55 routes[0].upstream.balance: only applies to http:// and https:// upstreams: passthrough connections are shared in turn',
        '7:83 routes[1].upstream.balance: must be "roundRobin" or "leastRequests" or "clientIPHash" or "headerHash" (did you mean "leastRequests"?)',
      ],
    ],
    [
      'a stickyCookie on a passthrough route, for one url, and a name that is no cookie name',
      "listen: { https: 127.0.0.1:8443, http: 127.0.0.1:8080 }\nroutes:\n  - host: p.test\n    tls: passthrough\n    upstream: { url: ['tcp://127.0.0.1:9443', 'tcp://127.0.0.1:9444'], stickyCookie: s }\n" +
        "  - host: a.test\n    upstream: { url: 'http://127.0.0.1:9000', stickyCookie: s }\n" +
        "  - host: b.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], stickyCookie: 'my cookie' }\n",
      [
        '5:86 routes[0].upstream.stickyCookie: only applies to http:// and https:// upstreams: a passthrough connection carries no cookie the gateway reads',
        '7:61 routes[1].upstream.stickyCookie: keeps a client on one url of a list: url is one url',
        "9:88 routes[2].upstream.stickyCookie: \"my cookie\" is no cookie name: letters, digits and ! # $ % & ' * + - . ^ _ ` | ~, without spaces",
      ],
    ],
    [
      'a slowStart for one url, with clientIPHash, and of 0',
      "listen: { http: 127.0.0.1:8080 }\nroutes:\n  - host: a.test\n    upstream: { url: 'http://127.0.0.1:9000', slowStart: 30s }\n" +
        "  - host: b.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], balance: clientIPHash, slowStart: 30s }\n" +
        "  - host: c.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], slowStart: 0s }\n",
      [
        "4:58 routes[0].upstream.slowStart: ramps up a url's share of a list's requests: url is one url",
        "6:108 routes[1].upstream.slowStart: does not go with clientIPHash: a request's url is its hash's, which no weight of the moment may change (nginx refuses slow_start with ip_hash and hash too)",
        '8:85 routes[2].upstream.slowStart: must be more than 0',
      ],
    ],
    [
      'a headerHash without its hashHeader, a hashHeader without headerHash, one that is no header name, and a slowStart with it',
      "listen: { http: 127.0.0.1:8080 }\nroutes:\n  - host: a.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], balance: headerHash }\n" +
        "  - host: b.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], hashHeader: X-Tenant-ID }\n" +
        "  - host: c.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], balance: headerHash, hashHeader: 'X Tenant' }\n" +
        "  - host: d.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], balance: headerHash, hashHeader: X-Tenant-ID, slowStart: 30s }\n",
      [
        '4:5 routes[0].upstream.hashHeader: is required with balance: headerHash: the name of the header whose value chooses the url (e.g. X-Tenant-ID)',
        '6:86 routes[1].upstream.hashHeader: only applies with balance: headerHash',
        "8:107 routes[2].upstream.hashHeader: 'X Tenant' is not a header name: one word of letters, digits and ! # $ % & ' * + - . ^ _ ` | ~",
        "10:131 routes[3].upstream.slowStart: does not go with headerHash: a request's url is its hash's",
      ],
    ],
    [
      'a retryOn on a passthrough route, for one url, and of a status that is no failure',
      "listen: { https: 127.0.0.1:8443, http: 127.0.0.1:8080 }\nroutes:\n  - host: p.test\n    tls: passthrough\n    upstream: { url: ['tcp://127.0.0.1:9443', 'tcp://127.0.0.1:9444'], retryOn: [503] }\n" +
        "  - host: a.test\n    upstream: { url: 'http://127.0.0.1:9000', retryOn: [503] }\n" +
        "  - host: b.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], retryOn: [404] }\n",
      [
        '5:72 routes[0].upstream.retryOn: only applies to http:// and https:// upstreams: a passthrough connection gets no status',
        '7:47 routes[1].upstream.retryOn: sends a request to the next url of a list: url is one url',
        '9:84 routes[2].upstream.retryOn[0]: 404 answers the request as it was sent, wherever it goes: only 429 and 500 to 599 are retried',
      ],
    ],
    [
      'allowedClients without clientCAs, with a certificate optional, empty, and with a fingerprint that is none',
      "listen: { https: 127.0.0.1:8443 }\nroutes:\n" +
        "  - host: a.test\n    tls: { cert: srv.crt, key: srv.key, allowedClients: { commonName: [alice] } }\n    upstream: { url: 'http://127.0.0.1:9000' }\n" +
        "  - host: b.test\n    tls: { cert: srv.crt, key: srv.key, clientCAs: ca.crt, clientCertRequired: false, allowedClients: { commonName: [alice] } }\n    upstream: { url: 'http://127.0.0.1:9000' }\n" +
        "  - host: c.test\n    tls: { cert: srv.crt, key: srv.key, clientCAs: ca.crt, allowedClients: {} }\n    upstream: { url: 'http://127.0.0.1:9000' }\n" +
        "  - host: d.test\n    tls: { cert: srv.crt, key: srv.key, clientCAs: ca.crt, allowedClients: { fingerprint: [abc] } }\n    upstream: { url: 'http://127.0.0.1:9000' }\n",
      [
        '4:41 routes[0].tls.allowedClients: needs tls.clientCAs: without them no client certificate is asked for',
        '7:87 routes[1].tls.allowedClients: needs a client certificate: with clientCertRequired: false, a client without one would be served',
        '10:60 routes[2].tls.allowedClients: needs at least one of its keys: uri, dns, commonName, fingerprint',
        "13:92 routes[3].tls.allowedClients.fingerprint[0]: 'abc' is no SHA-256 fingerprint",
      ],
    ],
    [
      'subjectAltNames for a plain upstream, and beside insecureSkipVerify',
      "listen: { http: 127.0.0.1:8080 }\nroutes:\n  - host: a.test\n    upstream: { url: 'http://127.0.0.1:9000', subjectAltNames: { dns: [a.internal] } }\n" +
        "  - host: b.test\n    upstream: { url: 'https://127.0.0.1:9000', subjectAltNames: { dns: [a.internal] }, insecureSkipVerify: true }\n",
      [
        '4:47 routes[0].upstream.subjectAltNames: only applies to https:// upstreams',
        '6:48 routes[1].upstream.subjectAltNames: names what the upstream is verified by: insecureSkipVerify turns verification off',
      ],
    ],
    [
      'a maxRequests on a passthrough route, and ones that are no count',
      "listen: { https: 127.0.0.1:8443, http: 127.0.0.1:8080 }\nroutes:\n  - host: p.test\n    tls: passthrough\n    upstream: { url: 'tcp://127.0.0.1:9443', maxRequests: 10 }\n" +
        "  - host: a.test\n    upstream: { url: 'http://127.0.0.1:9000', maxRequests: 0 }\n" +
        "  - host: b.test\n    upstream: { url: 'http://127.0.0.1:9000', maxRequests: 2.5 }\n",
      [
        '5:59 routes[0].upstream.maxRequests: only applies to http:// and https:// upstreams: a passthrough connection is no request',
        '7:60 routes[1].upstream.maxRequests: 0 is too small: must be at least 1',
        '9:60 routes[2].upstream.maxRequests: must be a whole number',
      ],
    ],
    [
      'a rateLimit by header without the header, a header without by: header, and one that is no header name',
      "listen: { http: 127.0.0.1:8080 }\nroutes:\n  - host: a.test\n    rateLimit: { requests: 5, by: header }\n    upstream: { url: 'http://127.0.0.1:9000' }\n" +
        "  - host: b.test\n    rateLimit: { requests: 5, header: X-API-Key }\n    upstream: { url: 'http://127.0.0.1:9000' }\n" +
        "  - host: c.test\n    rateLimit: { requests: 5, by: header, header: 'X API Key' }\n    upstream: { url: 'http://127.0.0.1:9000' }\n",
      [
        '4:5 routes[0].rateLimit.header: is required with by: header: the name of the header whose value is the bucket (e.g. X-API-Key)',
        '7:39 routes[1].rateLimit.header: only applies with by: header',
        "10:51 routes[2].rateLimit.header: 'X API Key' is not a header name: one word of letters, digits and ! # $ % & ' * + - . ^ _ ` | ~",
      ],
    ],
    [
      'a rateLimit by clientCert on a route without clientCAs',
      "listen: { https: 127.0.0.1:8443 }\nroutes:\n  - host: a.test\n    tls: { cert: srv.crt, key: srv.key }\n    rateLimit: { requests: 5, by: clientCert }\n    upstream: { url: 'http://127.0.0.1:9000' }\n",
      ['5:35 routes[0].rateLimit.by: clientCert needs tls.clientCAs: without them no client certificate is asked for'],
    ],
    [
      'clientCertRequired without clientCAs',
      "listen: { https: 127.0.0.1:8443 }\nroutes:\n  - host: a.test\n    tls: { cert: srv.crt, key: srv.key, clientCertRequired: false }\n    upstream: { url: 'http://127.0.0.1:9000' }\n",
      ['4:61 routes[0].tls.clientCertRequired: needs tls.clientCAs: without them no client certificate is asked for'],
    ],
    [
      'ocsp without clientCAs, a responder that is no http url, an unreachable that is neither, and a timeout of 0',
      "listen: { https: 127.0.0.1:8443 }\nroutes:\n" +
        "  - host: a.test\n    tls: { cert: srv.crt, key: srv.key, ocsp: {} }\n    upstream: { url: 'http://127.0.0.1:9000' }\n" +
        "  - host: b.test\n    tls: { cert: srv.crt, key: srv.key, clientCAs: ca.crt, ocsp: { responder: 'ldap://ocsp', unreachable: fail_open, timeout: 0s } }\n    upstream: { url: 'http://127.0.0.1:9000' }\n",
      [
        '4:41 routes[0].tls.ocsp: needs tls.clientCAs: OCSP is asked about client certificates',
        '7:79 routes[1].tls.ocsp.responder: "ldap://ocsp" is no http:// or https:// url',
        '7:107 routes[1].tls.ocsp.unreachable: must be "refuse" or "allow"',
        '7:127 routes[1].tls.ocsp.timeout: must be more than 0',
      ],
    ],
    [
      'header placeholders misspelt, unknown, in a response, in Host, and of a TLS or client certificate a route does not have',
      "listen: { https: 127.0.0.1:8443, http: 127.0.0.1:8080 }\nroutes:\n" +
        "  - host: a.test\n    headers:\n      request: { set: { X-A: '{tls.client.subjet}', X-B: '{tls.version}', X-C: '{tls.client.serial}', Host: '{client.address}' } }\n" +
        "      response: { set: { X-D: '{client.address}' } }\n    upstream: { url: 'http://127.0.0.1:9000' }\n" +
        "  - host: b.test\n    tls: { cert: srv.crt, key: srv.key }\n    headers:\n      request: { set: { X-E: '{tls.client.uri}', X-F: '{tls.version}', X-G: '{nope.nope}' } }\n" +
        "    upstream: { url: 'http://127.0.0.1:9000' }\n",
      [
        '5:30 routes[0].headers.request.set.X-A: {tls.client.subjet} is no placeholder (did you mean {tls.client.subject}?): the placeholders are {client.address} {tls.version} {tls.client.subject} {tls.client.commonName} {tls.client.fingerprint} {tls.client.serial} {tls.client.uri} {tls.client.dns}',
        "5:58 routes[0].headers.request.set.X-B: {tls.version} needs tls: the route's requests come in plaintext",
        '5:80 routes[0].headers.request.set.X-C: {tls.client.serial} needs tls.clientCAs: without them no client certificate is asked for',
        "5:109 routes[0].headers.request.set.Host: '{client.address}' is not a host: write a host name or address, with :port or not (api.example.com, 10.0.0.7:8080)",
        '6:31 routes[0].headers.response.set.X-D: holds a placeholder: placeholders are filled in the requests sent upstream (headers.request) alone',
        '11:30 routes[1].headers.request.set.X-E: {tls.client.uri} needs tls.clientCAs: without them no client certificate is asked for',
        '11:77 routes[1].headers.request.set.X-G: {nope.nope} is no placeholder: the placeholders are {client.address} {tls.version} {tls.client.subject} {tls.client.commonName} {tls.client.fingerprint} {tls.client.serial} {tls.client.uri} {tls.client.dns}',
      ],
    ],
    [
      'weights for one url, a count of weights that is not the count of urls, and weights all 0',
      "listen: { http: 127.0.0.1:8080 }\nroutes:\n" +
        "  - host: a.test\n    upstream: { url: 'http://127.0.0.1:9000', weights: [1, 2] }\n" +
        "  - host: b.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], weights: [1, 2, 3] }\n" +
        "  - host: c.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], weights: [0, 0] }\n",
      [
        '4:47 routes[0].upstream.weights: shares the requests of a list of urls: url is one url',
        '6:74 routes[1].upstream.weights: has 3 weights for 2 urls: write one for each url, in their order',
        '8:74 routes[2].upstream.weights: are all 0: no url would take a new client (a weight of 0 drains one url of the list)',
      ],
    ],
    [
      "values of a list of names written another way, or by another proxy's name",
      "listen: { http: 127.0.0.1:8080 }\nroutes:\n" +
        "  - host: a.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], balance: ip_hash }\n" +
        "  - host: b.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], balance: Round_Robin }\n" +
        "  - host: c.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], balance: hdr }\n",
      [
        '4:83 routes[0].upstream.balance: must be "roundRobin" or "leastRequests" or "clientIPHash" or "headerHash" (did you mean "clientIPHash"?)',
        '6:83 routes[1].upstream.balance: must be "roundRobin" or "leastRequests" or "clientIPHash" or "headerHash" (did you mean "roundRobin"?)',
        '8:83 routes[2].upstream.balance: must be "roundRobin" or "leastRequests" or "clientIPHash" or "headerHash" (did you mean "headerHash"?)',
      ],
    ],
    ['a number for a path, which as text would not start with / either', GOOD.replace('path: /api', 'path: 5'), ['8:11 routes[0].path: "5" must start with /']],
    ['a boolean for a listen address', GOOD.replace('https: 127.0.0.1:8443', 'https: true'), ['2:10 listen.https: true is no address: write host:port, e.g. 0.0.0.0:8443 (all interfaces) or 127.0.0.1:8443']],
    ['an idle timeout of 0', GOOD.replace('connect: 250ms', 'idle: 0s'), ['19:15 routes[0].upstream.timeouts.idle: must be more than 0']],
    ['a value with a colon and a space in it', GOOD.replace('  - name: orders', '  - name: orders: v2'), ["6:11 routes[0].name: invalid YAML: this value holds ': ', which YAML reads as one more key: quote the value"]],
    ['a key without the space after its colon', GOOD.replace('path: /api', 'path:/api'), ['8:5 routes[0]: invalid YAML: YAML reads this line and the next as one key: is a colon, or the space after it, missing here?']],
    [
      'a line between the - of a list item and its keys',
      GOOD.replace('    host: Orders', '   host: Orders'),
      [
        "7:4 routes: invalid YAML: 'host' is indented to column 4, where no mapping above has its keys: move it to column 5 to be a key of routes[0]",
        // The mapping YAML reads it into is one the line above made: its column is no advice.
        "13:5 routes: invalid YAML: 'upstream' is indented to column 5, and the keys of the mapping YAML reads it into start at column 4",
      ],
    ],
    // It was reported at the end of the file, which the open quote swallowed.
    ['an unclosed quote, where it opens', GOOD.replace('host: Orders', 'host: "Orders'), ['7:11 routes[0].host: invalid YAML: the value quoted here has no closing "']],
    [
      'an unknown key, with a hint',
      GOOD.replace('clientCAs: ca.crt', 'clinetCAs: ca.crt'),
      ["12:7 routes[0].tls.clinetCAs: unknown key 'clinetCAs' (did you mean 'clientCAs'?)"],
    ],
    [
      'a bad duration',
      GOOD.replace('connect: 250ms', 'connect: 5 seconds'),
      ['19:18 routes[0].upstream.timeouts.connect: "5 seconds" is not a duration'],
    ],
    ['a duration without its unit', GOOD.replace('connect: 250ms', 'connect: 5'), ['19:18 routes[0].upstream.timeouts.connect: 5 is not a duration: write a number with a unit']],
    ['a second document', `${GOOD}---\nlisten: {}\n`, ['23:1 : invalid YAML: a second document starts here (---); routes.yaml is one document']],
    // These were "the file is empty", with no line.
    ['a file of comments only, at its first', '\n  # nothing yet\n', ['2:3 : the file holds only comments: it needs listen and routes']],
    [
      'a file whose keys are commented out, at the first of listen and routes',
      '# yaml-language-server: $schema=./schema/routes.schema.json\n#listen:\n#  https: 0.0.0.0:8443\n# routes:\n',
      ['2:1 : the file holds only comments: it needs listen and routes, and listen: is commented out here'],
    ],
    ['a document marker and a comment', '--- # routes: to come\n', ['1:5 : the file holds only comments: it needs listen and routes, and routes: is commented out here']],
    ['an empty file, at its start', '', ['1:1 : the file is empty: it needs listen and routes']],
    ['a file of blank lines', '\n  \n\t\n', ['1:1 : the file is empty: it needs listen and routes']],
    ['a zero timeout, which would turn it off', GOOD.replace('connect: 250ms', 'connect: 0s'), ['19:18 routes[0].upstream.timeouts.connect: must be more than 0']],
    ['a timeout under a millisecond, which rounds to 0', GOOD.replace('connect: 250ms', 'connect: 0.4ms'), ['19:18 routes[0].upstream.timeouts.connect: must be at least 1ms: durations count whole milliseconds']],
    [
      'a timeout longer than Node timers hold, which would fire after 1 ms',
      GOOD.replace('connect: 250ms', 'connect: 597h'),
      ["19:18 routes[0].upstream.timeouts.connect: must be at most 596h (Node's timers hold up to 24.8 days)"],
    ],
    ['a grace longer than Node timers hold', `${GOOD}shutdown: { grace: 9999h }\n`, ['23:20 shutdown.grace: must be at most 596h']],
    ['a missing file', GOOD.replace('ca: ca.crt', 'ca: nope.crt'), [`15:11 routes[0].upstream.ca: file not found: ${join(dir, 'nope.crt')}`]],
    [
      'a PEM pasted where its path belongs, without echoing it',
      GOOD.replace('key: cli.key', 'key: "-----BEGIN PRIVATE KEY-----\\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\\n-----END PRIVATE KEY-----\\n"'),
      ['17:12 routes[0].upstream.key: file not found: this is PEM content; write the path of a file that holds it'],
    ],
    [
      'a base64 key (a Kubernetes Secret data field) where its path belongs, without echoing it',
      GOOD.replace('key: cli.key', `key: ${Buffer.from('-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n').toString('base64')}`),
      ["17:12 routes[0].upstream.key: file not found: this is base64 content (a Kubernetes Secret's data?); decode it into a file (base64 -d) and write that file's path"],
    ],
    [
      'the first line of a base64 key, cut short, without echoing it',
      GOOD.replace('key: cli.key', `key: ${Buffer.from('-----BEGIN PRIVATE KEY-----\nMIGHAg').toString('base64').slice(0, 20)}`),
      ["17:12 routes[0].upstream.key: file not found: this is base64 content (a Kubernetes Secret's data?); decode it into a file (base64 -d) and write that file's path"],
    ],
    [
      'a missing file with a long path of base64 characters, shown as it is',
      GOOD.replace('ca: ca.crt', 'ca: /etc/portcullis/secrets/upstreams/orders/client/certificate/current/cert'),
      ['15:11 routes[0].upstream.ca: file not found: /etc/portcullis/secrets/upstreams/orders/client/certificate/current/cert'],
    ],
    // A path of mixed case with digits read as a token, and was not shown.
    [
      'a missing file whose path is of mixed case with digits, by its path',
      GOOD.replace('ca: ca.crt', 'ca: /Users/alice/Projects/Portcullis2/certs/upstreamCA2024.crt'),
      ['15:11 routes[0].upstream.ca: file not found: /Users/alice/Projects/Portcullis2/certs/upstreamCA2024.crt'],
    ],
    // It said "this is PEM content": any line break counted as PEM.
    [
      'a path on the line below `cert: |`, whose line break the block keeps',
      GOOD.replace('cert: srv.crt', 'cert: |\n        tls/srv.crt'),
      [`10:13 routes[0].tls.cert: file not found: ${join(dir, 'tls/srv.crt')} with a line break at its end, which a | or > block keeps: write |- or >-, or the path on the key's line (cert: tls/srv.crt)`],
    ],
    [
      'the lines of a PEM body pasted without its -----BEGIN line, without echoing them',
      GOOD.replace('key: cli.key', `key: |\n        ${'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAbCdEfGhIjKlMnOpQrSt'}\n        ${'uVwXyZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX'}`),
      ['17:12 routes[0].upstream.key: file not found: this is PEM content; write the path of a file that holds it'],
    ],
    // Each of these quoted the value back whole: a key pasted into a key of text went to the terminal,
    // the log and the POST /reload answer ('-----BEGIN RSA PRIVATE KEY-----\u000aMIIEowIBAAKCAQEAqB58…).
    [
      'a PEM pasted into a url, without echoing it',
      GOOD.replace('url: http://10.0.0.7', `url: |\n        -----BEGIN RSA PRIVATE KEY-----\n        ${KEY_LINE}\n        -----END RSA PRIVATE KEY-----`),
      ['22:12 routes[1].upstream.url: PEM text is not a URL (e.g. https://orders.internal:8443)'],
    ],
    ['the lines of a PEM body pasted into a host', GOOD.replace('host: open.example.com', `host: |\n      ${KEY_LINE}\n      ${KEY_LINE}`), ['20:11 routes[1].host: PEM text is not a host name or a *.wildcard']],
    ['a line of a key for a serverName', GOOD.replace('key: cli.key', `key: cli.key\n      serverName: ${KEY_LINE}`), ['18:19 routes[0].upstream.serverName: base64 of a key or certificate is not a DNS name (no port, wildcard, spaces or brackets)']],
    ['a PEM header for a route name', GOOD.replace('name: orders', 'name: "-----BEGIN PRIVATE KEY-----"'), ['6:11 routes[0].name: PEM text may hold letters, digits and _ . : - only']],
    ['a token for a route path', GOOD.replace('path: /api', `path: ${TOKEN}`), ['8:11 routes[0].path: a long base64 value must start with /']],
    ['a token for a listener', GOOD.replace('https: 127.0.0.1:8443', `https: ${TOKEN}:8443`), ['2:10 listen.https: a long base64 value is not host:port']],
    ['a PEM header for a duration', GOOD.replace('connect: 250ms', 'connect: "-----BEGIN PRIVATE KEY-----"'), ['19:18 routes[0].upstream.timeouts.connect: PEM text is not a duration']],
    ['a list of a PEM for a size', GOOD.replace('path: /api', 'path: /api\n    maxRequestBody: ["-----BEGIN PRIVATE KEY-----"]'), ['9:21 routes[0].maxRequestBody: PEM text is not a size']],
    ['a token in an upstream without its url key', GOOD.replace('upstream:\n      url: http://10.0.0.7', `upstream: https://${TOKEN}`), ['21:15 routes[1].upstream: must be a mapping: write upstream: {url: …}']],
    ['a token with a port for a url', GOOD.replace('url: http://10.0.0.7', `url: ${TOKEN}:443`), ['22:12 routes[1].upstream.url: a long base64 value has no scheme: write https:// or http:// before it']],
    ['a token for a file', GOOD.replace('ca: ca.crt', `ca: ${TOKEN}`), ['15:11 routes[0].upstream.ca: file not found: this is a long base64 value, not a path; write the path of a file that holds it']],
    ['a PEM to merge', `${GOOD}x-a: { <<: "-----BEGIN PRIVATE KEY-----" }\n`, ['23:12 x-a.<<: invalid YAML: << merges a mapping, an alias of one (<<: *defaults) or a list of them, not PEM text']],
    [
      'a line of a key one column off, as a key',
      GOOD.replace('      key: cli.key\n', `      key: cli.key\n     ${KEY_LINE}: x\n`),
      ['18:6 routes[0]: invalid YAML: this key is indented to column 6, where no mapping above has its keys'],
    ],
    [
      'a line of a key at the column of keys, as an unknown key',
      GOOD.replace('      key: cli.key\n', `      key: cli.key\n      ${KEY_LINE}: x\n`),
      [`18:7 routes[0].upstream.${KEY_LINE}: unknown key base64 of a key or certificate`],
    ],
    [
      'a long host, cut short',
      GOOD.replace('host: open.example.com', `host: ${'a'.repeat(70)}_`),
      [`20:11 routes[1].host: '${'a'.repeat(59)}…' is not a host name or a *.wildcard`],
    ],
    // `!!merge <<` is the merge key, which the yaml library gives as a Symbol: these said "undefined is not a duration".
    ['the merge key for a grace', `${GOOD}shutdown:\n  grace: !!merge <<\n`, [`24:18 shutdown.grace: ${MERGE_KEY_HERE}: write ${A_DURATION}`]],
    ['the merge key for a connect timeout', GOOD.replace('connect: 250ms', 'connect: !!merge <<'), [`19:26 routes[0].upstream.timeouts.connect: ${MERGE_KEY_HERE}: write ${A_DURATION}`]],
    ['the merge key for a response timeout', GOOD.replace('connect: 250ms', 'response: !!merge <<'), [`19:27 routes[0].upstream.timeouts.response: ${MERGE_KEY_HERE}: write ${A_DURATION}`]],
    [
      'the merge key for a size',
      GOOD.replace('path: /api', 'path: /api\n    maxRequestBody: !!merge <<'),
      [`9:29 routes[0].maxRequestBody: ${MERGE_KEY_HERE}: write a size, a number with a unit (B, KB, MB, GB, or KiB, MiB, GiB), e.g. 10MiB`],
    ],
    [
      'a route path with repeated slashes, which merged request paths never match',
      GOOD.replace('path: /api', 'path: /files//raw'),
      [`8:11 routes[0].path: ${NEVER_MATCHES}; write /files/raw`],
    ],
    ['a route path with a dot segment', GOOD.replace('path: /api', 'path: /a/../b'), [`8:11 routes[0].path: ${NEVER_MATCHES}; write /b`]],
    ['a route path with an escape of ASCII', GOOD.replace('path: /api', 'path: /a%2Fb'), [`8:11 routes[0].path: ${NEVER_MATCHES}; write /a/b`]],
    ['a route path that is not ASCII, as no request path is', GOOD.replace('path: /api', 'path: /café/naïve'), ['8:11 routes[0].path: never matches: request paths are ASCII, other characters percent-encoded; write /caf%C3%A9/na%C3%AFve']],
    ['a route path with a NUL, which requests may not carry', GOOD.replace('path: /api', 'path: "/a\\0b"'), ['8:11 routes[0].path: never matches: a request path with a NUL (%00) is refused']],
    ['a route path with a query', GOOD.replace('path: /api', 'path: /search?q'), ['8:11 routes[0].path: never matches: a route matches the path, and the query after ? is not part of it']],
    ['a serverName with a port', GOOD.replace('key: cli.key', 'key: cli.key\n      serverName: up.test:443'), ["18:19 routes[0].upstream.serverName: 'up.test:443' is not a DNS name"]],
    ['a wildcard serverName', GOOD.replace('key: cli.key', 'key: cli.key\n      serverName: "*.up.test"'), ["18:19 routes[0].upstream.serverName: '*.up.test' is not a DNS name"]],
    [
      'an IP serverName other than the url host',
      GOOD.replace('key: cli.key', 'key: cli.key\n      serverName: 10.0.0.9'),
      ['18:19 routes[0].upstream.serverName: an IP address is never sent as SNI (RFC 6066 3)'],
    ],
    ['a bad URL', GOOD.replace('url: http://10.0.0.7', 'url: not a url'), ["22:12 routes[1].upstream.url: 'not a url' is not a URL"]],
    // The URL parser reads `localhost:` as a scheme, so this was "must be http:// or https://".
    ['an upstream url without its scheme', GOOD.replace('url: http://10.0.0.7', 'url: localhost:8080'), ["22:12 routes[1].upstream.url: 'localhost:8080' has no scheme: write https://localhost:8080 or http://localhost:8080"]],
    ['an upstream address without its scheme', GOOD.replace('url: http://10.0.0.7', 'url: 10.0.0.7:8080'), ["22:12 routes[1].upstream.url: '10.0.0.7:8080' has no scheme: write https://10.0.0.7:8080 or http://10.0.0.7:8080"]],
    // A Kubernetes Service is named alone (orders, orders.shop.svc), as Traefik's and Caddy's upstreams take it.
    ['an upstream url of a host alone, without its scheme', GOOD.replace('url: http://10.0.0.7', 'url: orders'), ["22:12 routes[1].upstream.url: 'orders' has no scheme: write https://orders or http://orders"]],
    ['an upstream url of a host and path, without its scheme', GOOD.replace('url: http://10.0.0.7', 'url: orders.shop.svc/api'), ["22:12 routes[1].upstream.url: 'orders.shop.svc/api' has no scheme: write https://orders.shop.svc/api or http://orders.shop.svc/api"]],
    ['an upstream url of a number alone', GOOD.replace('url: http://10.0.0.7', 'url: "8080"'), ["22:12 routes[1].upstream.url: '8080' is not a URL"]],
    ['an upstream url whose scheme lacks its colon', GOOD.replace('url: http://10.0.0.7', 'url: http//orders'), ["22:12 routes[1].upstream.url: 'http//orders' is not a URL"]],
    ['an upstream on port 0, where nothing listens', GOOD.replace('url: http://10.0.0.7', 'url: http://10.0.0.7:0'), ["22:12 routes[1].upstream.url: port 0 is no server's port"]],
    ['a bad scheme', GOOD.replace('url: http://10.0.0.7', 'url: ftp://x'), ['22:12 routes[1].upstream.url: must be http:// or https://']],
    [
      'a tcp:// url on a route that terminates TLS',
      GOOD.replace('url: http://10.0.0.7', 'url: tcp://10.0.0.7:5432'),
      ["22:12 routes[1].upstream.url: must be http:// or https:// (tcp:// forwards the raw TLS stream: that is a route with 'tls: passthrough')"],
    ],
    ['a wss:// url', GOOD.replace('url: http://10.0.0.7', 'url: wss://10.0.0.7'), ['22:12 routes[1].upstream.url: must be http:// or https:// (WebSockets go through an https:// upstream)']],
    ['a list of urls of two schemes', GOOD.replace('url: http://10.0.0.7', 'url: [http://10.0.0.7, https://10.0.0.8]'), ['22:30 routes[1].upstream.url[1]: every url of the list has the scheme of the first, http://']],
    ['a list of urls of two paths', GOOD.replace('url: http://10.0.0.7', 'url: [http://10.0.0.7/a, http://10.0.0.8/b]'), ['22:32 routes[1].upstream.url[1]: every url of the list has the path of the first, /a']],
    ['a url listed twice', GOOD.replace('url: http://10.0.0.7', 'url: [http://10.0.0.7, "http://10.0.0.7:80/"]'), ['22:30 routes[1].upstream.url[1]: names the same upstream as routes[1].upstream.url[0]']],
    ['a list with a url without its scheme', GOOD.replace('url: http://10.0.0.7', 'url: [http://10.0.0.7, orders]'), ["22:30 routes[1].upstream.url[1]: 'orders' has no scheme: write https://orders or http://orders"]],
    ['an empty list of urls', GOOD.replace('url: http://10.0.0.7', 'url: []'), ['22:7 routes[1].upstream.url: needs at least 1 entry']],
    // A key a level too shallow or too deep: "unknown key" alone sent users looking for a typo.
    [
      'the keys of tls written at the level of the route',
      GOOD.replace('      cert: srv.crt\n      key: srv.key\n      clientCAs: ca.crt\n', '    cert: srv.crt\n    key: srv.key\n    clientCAs: ca.crt\n'),
      [
        '9:9 routes[0].tls: must be a mapping or "passthrough"',
        "10:5 routes[0].cert: unknown key 'cert' (a key of routes[0].tls or routes[0].upstream: check its indentation)",
        "11:5 routes[0].key: unknown key 'key' (a key of routes[0].tls or routes[0].upstream: check its indentation)",
        "12:5 routes[0].clientCAs: unknown key 'clientCAs' (a key of routes[0].tls: check its indentation)",
      ],
    ],
    ['a key of upstream written at the level of the route', GOOD.replace('      timeouts:\n        connect', '    timeouts:\n      connect'), ["18:5 routes[0].timeouts: unknown key 'timeouts' (a key of routes[0].upstream: check its indentation)"]],
    [
      'a key of the route written inside its tls',
      GOOD.replace(/    upstream:\n(      .*\n|        .*\n)+/, (block) => block.replace(/^(?=.)/gm, '  ')),
      ["13:7 routes[0].tls.upstream: unknown key 'upstream' (a key of routes[0]: check its indentation)"],
    ],
    // One mistake, one problem, as for a required key misspelt: not also "routes: is required".
    [
      'the routes written inside listen',
      GOOD.replace(/^routes:\n(.*\n)+/m, (block) => block.replace(/^(?=.)/gm, '  ')),
      ["5:3 listen.routes: unknown key 'routes' (a key of the top level: check its indentation)"],
    ],
    // Both: the cert may be meant for upstream, and tls miss its own.
    [
      'a required key of tls written at the level of the route, where upstream takes it too',
      GOOD.replace('      cert: srv.crt\n', '').replace('    tls:\n', '    cert: srv.crt\n    tls:\n'),
      ["9:5 routes[0].cert: unknown key 'cert' (a key of routes[0].tls or routes[0].upstream: check its indentation)", '10:5 routes[0].tls.cert: is required'],
    ],
    ['an upstream written as its url alone', GOOD.replace('upstream:\n      url: http://10.0.0.7', 'upstream: http://10.0.0.7'), ['21:15 routes[1].upstream: must be a mapping: write upstream: {url: http://10.0.0.7}']],
    // Ajv's own words: "must NOT have fewer than 1 characters".
    ['an empty file path', GOOD.replace('ca: ca.crt', 'ca: ""'), ['15:11 routes[0].upstream.ca: must not be empty']],
    ['a size in nginx\'s spelling', GOOD.replace('path: /api', 'path: /api\n    maxRequestBody: 10m'), ['9:21 routes[0].maxRequestBody: "10m" is not a size: write a number with a unit (B, KB, MB, GB, or KiB, MiB, GiB), e.g. 10MiB; nginx\'s 10m is 10MiB']],
    ['a size without its unit', GOOD.replace('path: /api', 'path: /api\n    maxRequestBody: 1048576'), ['9:21 routes[0].maxRequestBody: 1048576 is not a size: write a number with a unit (B, KB, MB, GB, or KiB, MiB, GiB), e.g. 10MiB']],
    ['a size of nothing', GOOD.replace('path: /api', 'path: /api\n    maxRequestBody: 0KiB'), ['9:21 routes[0].maxRequestBody: must be at least 1B: leave the key out for no limit']],
    [
      'a body limit on a passthrough route',
      `${GOOD}  - { host: pass.example.com, tls: passthrough, maxRequestBody: 1MiB, upstream: { url: 'tcp://10.0.0.9:443' } }\n`,
      ['23:65 routes[2].maxRequestBody: a passthrough route has no request bodies to limit: its requests are never decrypted here'],
    ],
    [
      'header changes a route may not make, each said without its value',
      GOOD.replace('host: open.example.com\n', `host: open.example.com\n    headers:\n      request:\n        set: { 'X Env': a, x-forwarded-for: b, Authorization: "Bearer ${TOKEN}\\n", X-Num: 5, X-Dup: a, x-dup: b }\n        remove: [Connection, X_Forwarded_Client_Cert, authorization]\n      response: { set: { Content-Length: '0' }, remove: [Transfer-Encoding] }\n`),
      [
        "23:25 routes[1].headers.request.set.X Env: 'X Env' is not a header name",
        "23:45 routes[1].headers.request.set.x-forwarded-for: x-forwarded-for is the gateway's: it sets X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and X-Real-IP on every request",
        '23:63 routes[1].headers.request.set.Authorization: holds a line break, a control character or a character other than ASCII',
        '23:117 routes[1].headers.request.set.X-Num: 5 is a number to YAML: quote it ("5") to make it a string',
        '23:137 routes[1].headers.request.set.x-dup: x-dup is set twice: X-Dup is the same header (names are case-insensitive)',
        '24:18 routes[1].headers.request.remove[0]: Connection is hop-by-hop (RFC 9110 7.6.1): the gateway never passes it on',
        '24:30 routes[1].headers.request.remove[1]: X_Forwarded_Client_Cert (read as X-Forwarded-Client-Cert by servers that take _ for -) carries the client certificate',
        '25:42 routes[1].headers.response.set.Content-Length: Content-Length frames the message: it passes as the client or the upstream sent it',
        '25:58 routes[1].headers.response.remove[0]: Transfer-Encoding is hop-by-hop',
      ],
    ],
    ['a path to strip on a route without one', GOOD.replace('host: open.example.com\n', 'host: open.example.com\n    stripPath: true\n'), ['21:16 routes[1].stripPath: needs a path: a route without one has no prefix to strip']],
    [
      'a Host set to no host, and Host removed',
      `${GOOD.replace('host: open.example.com\n', "host: open.example.com\n    headers: { request: { set: { Host: 'a b' } } }\n")}  - { host: other.example.com, headers: { request: { remove: [Host] } }, upstream: { url: 'http://10.0.0.8' } }\n`,
      [
        "21:40 routes[1].headers.request.set.Host: 'a b' is not a host: write a host name or address, with :port or not",
        '24:63 routes[2].headers.request.remove[0]: Host cannot be removed: every HTTP/1.1 request carries it (set it to ask the upstream for another host)',
      ],
    ],
    [
      'a header both set and removed',
      GOOD.replace('host: open.example.com\n', 'host: open.example.com\n    headers: { response: { set: { Server: gw }, remove: [server] } }\n'),
      ['21:58 routes[1].headers.response.remove[0]: server is set too (routes[1].headers.response.set.Server): a header is either set or removed'],
    ],
    [
      'header changes on a passthrough route',
      `${GOOD}  - { host: pass.example.com, tls: passthrough, headers: { request: { remove: [Cookie] } }, upstream: { url: 'tcp://10.0.0.9:443' } }\n`,
      ['23:49 routes[2].headers: a passthrough route has no headers to change: its requests are never decrypted here'],
    ],
    [
      'forwardAuth on a passthrough route, of a url that is none, a timeout of 0, and response headers the gateway manages or that are no names',
      `${GOOD}  - { host: pass.example.com, tls: passthrough, forwardAuth: { url: 'http://auth:4180' }, upstream: { url: 'tcp://10.0.0.9:443' } }\n` +
        "  - { host: a.example.com, forwardAuth: { url: 'ftp://auth' }, upstream: { url: 'http://10.0.0.9' } }\n" +
        "  - { host: b.example.com, forwardAuth: { url: 'http://auth', timeout: 0s, responseHeaders: [X-Forwarded-For, 'X User'] }, upstream: { url: 'http://10.0.0.9' } }\n",
      [
        '23:49 routes[2].forwardAuth: a passthrough route has no requests to ask about: they are never decrypted here',
        '24:48 routes[3].forwardAuth.url: "ftp://auth" is no http:// or https:// url',
        '25:72 routes[4].forwardAuth.timeout: must be more than 0',
        "25:94 routes[4].forwardAuth.responseHeaders[0]: X-Forwarded-For is the gateway's",
        "25:111 routes[4].forwardAuth.responseHeaders[1]: 'X User' is not a header name",
      ],
    ],
    [
      'compress on a passthrough route',
      `${GOOD}  - { host: pass.example.com, tls: passthrough, compress: true, upstream: { url: 'tcp://10.0.0.9:443' } }\n`,
      ['23:59 routes[2].compress: a passthrough route has no responses to compress: they are never decrypted here'],
    ],
    ['tls neither mapping nor passthrough', GOOD.replace(/tls:\n(\s+cert: srv.crt\n\s+key: srv.key\n\s+clientCAs: ca.crt\n)/, 'tls: passthru\n'), ['9:10 routes[0].tls: must be a mapping or "passthrough"']],
    ['a missing required key', GOOD.replace('      url: http://10.0.0.7\n', '      ca: ca.crt\n'), ['21:5 routes[1].upstream.url: is required']],
    ['cert without key upstream', GOOD.replace('      key: cli.key\n', ''), ['13:5 routes[0].upstream.key: is required with upstream.cert']],
    [
      'duplicate host and path',
      `${GOOD}  - host: OPEN.example.com\n    upstream:\n      url: http://10.0.0.8\n`,
      ['23:5 routes[2].path: same host and path as routes[1] (open.example.com/)'],
    ],
    ['a route name with a space', GOOD.replace('name: orders', 'name: order service'), ['6:11 routes[0].name: "order service" may hold letters, digits and _ . : - only']],
    ['a route name YAML reads as a number', GOOD.replace('name: orders', 'name: 2024'), ['6:11 routes[0].name: 2024 is a number to YAML: quote it ("2024") to make it a string']],
    ['a bad host', GOOD.replace('host: open.example.com', 'host: "open example"'), ["20:11 routes[1].host: 'open example' is not a host name or a *.wildcard"]],
    ['a host with a trailing dot, with the spelling that routes', GOOD.replace('host: open.example.com', 'host: open.example.com.'), ["20:11 routes[1].host: 'open.example.com.' is not a host name or a *.wildcard; write open.example.com"]],
    ['a host with a port', GOOD.replace('host: open.example.com', 'host: "open.example.com:8080"'), ["20:11 routes[1].host: 'open.example.com:8080' is not a host name or a *.wildcard; write open.example.com"]],
    ['a host written as a site address, with its scheme', GOOD.replace('host: open.example.com', 'host: https://Open.example.com:443/'), ["20:11 routes[1].host: 'https://Open.example.com:443/' is not a host name or a *.wildcard; write open.example.com"]],
    ['an internationalized host, with its ASCII form that clients send', GOOD.replace('host: open.example.com', 'host: "*.Bücher.example"'), ["20:11 routes[1].host: '*.Bücher.example' is not a host name or a *.wildcard; write *.xn--bcher-kva.example"]],
    ['an IPv6 host', GOOD.replace('host: open.example.com', 'host: "[fd00::1]"'), ["20:11 routes[1].host: '[fd00::1]' is not a host name or a *.wildcard; an IPv6 address is not taken as a route host yet"]],
    // Hostile-input pass: these loaded as names; an all-digit last label makes a host an IPv4 address (the URL standard parses it so).
    ['a host that is a hyphen', GOOD.replace('host: open.example.com', 'host: "-"'), ["20:11 routes[1].host: '-' is not a host name or a *.wildcard; a label cannot start or end with a hyphen (RFC 1123 2.1)"]],
    ['an IPv4 host with a leading zero', GOOD.replace('host: open.example.com', 'host: 01.2.3.4'), ["20:11 routes[1].host: '01.2.3.4' is not a host name or a *.wildcard; a host whose last label is a number is an IPv4 address (RFC 3696 2): four numbers of 0 to 255, without leading zeros"]],
    ['a dotted number of five parts', GOOD.replace('host: open.example.com', 'host: 1.1.1.1.1'), ["20:11 routes[1].host: '1.1.1.1.1' is not a host name or a *.wildcard; a host whose last label is a number is an IPv4 address"]],
    ['two public listeners on one address and port', GOOD.replace('http: 127.0.0.1:8080', 'http: 0.0.0.0:8443'), ['3:9 listen.http: must not share an address and port with listen.https']],
    // The bind resolves localhost to 127.0.0.1 or ::1: check told nothing, the start failed with EADDRINUSE.
    ['a public listener on localhost and one on its loopback address', GOOD.replace('http: 127.0.0.1:8080', 'http: LocalHost:8443'), ['3:9 listen.http: must not share an address and port with listen.https']],
    ['a listener given a port alone', GOOD.replace('https: 127.0.0.1:8443', 'https: 8443'), ['2:10 listen.https: 8443 is a port alone: write host:port, e.g. 0.0.0.0:8443']],
    ['a listener without its host, and only that', GOOD.replace('https: 127.0.0.1:8443', 'https: ":8443"'), ["2:10 listen.https: ':8443' has no host: write 0.0.0.0:8443 for every IPv4 address, or '[::]:8443' for IPv6 and IPv4"]],
    ['a plaintext listener without its host, and only that', GOOD.replace('http: 127.0.0.1:8080', 'http: ":8080"'), ["3:9 listen.http: ':8080' has no host: write 0.0.0.0:8080"]],
    ['httpsRedirect without the http listener it is for', `${GOOD.replace('  http: 127.0.0.1:8080\n', '').replace('  - host: open.example.com', '  - host: open.example.com\n    tls: { cert: srv.crt, key: srv.key }')}httpsRedirect: 443\n`, ['23:16 httpsRedirect: needs listen.http, whose requests it redirects, and listen.https, where they go']],
    ['httpsRedirect to a port over 65535', `${GOOD}httpsRedirect: 70000\n`, ['23:16 httpsRedirect: 70000 is too large: must be at most 65535']],
    ['a trusted PROXY protocol source that is no address', `${GOOD}proxyProtocol: { trustedIPs: [10.0.0.0/8, 10.0.0.0/33, lb.internal] }\n`, [
      "23:43 proxyProtocol.trustedIPs[1]: '10.0.0.0/33' is not an IP address or a CIDR range (e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)",
      "23:56 proxyProtocol.trustedIPs[2]: 'lb.internal' is not an IP address or a CIDR range (e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)",
    ]],
    ['a trusted X-Forwarded-For source that is no address', `${GOOD}forwardedFor: { trustedIPs: [10.0.0.0/33] }\n`, [
      "23:30 forwardedFor.trustedIPs[0]: '10.0.0.0/33' is not an IP address or a CIDR range (e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)",
    ]],
    ['admin on a public port', GOOD.replace('admin: 127.0.0.1:9901', 'admin: 127.0.0.1:8080'), ['4:10 listen.admin: must not share a port with listen.http']],
    ['a misspelt top-level key', GOOD.replace('listen:', 'listne:'), ["1:1 listne: unknown key 'listne' (did you mean 'listen'?)"]],
    // Notepad and some Windows editors begin a UTF-8 file with a byte order mark, which no editor counts as a column.
    ['a misspelt top-level key after a byte order mark, at the column an editor shows', `\uFEFF${GOOD.replace('listen:', 'listne:')}`, ["1:1 listne: unknown key 'listne' (did you mean 'listen'?)"]],
    ['a value of the first line after a byte order mark', `\uFEFF${GOOD.replace(/^listen:\n( .*\n)+/, 'listen: { https: 127.0.0.1:70000, http: 127.0.0.1:8080 }\n')}`, ["1:18 listen.https: '127.0.0.1:70000': port 70000 is over 65535"]],
    ['a file of a byte order mark and comments only', '\uFEFF# routes: to come\n', ['1:1 : the file holds only comments: it needs listen and routes, and routes: is commented out here']],
    // The routes are checked still, without the rules that ask which listeners there are.
    [
      'a misspelt listen, with a problem of a route',
      GOOD.replace('listen:', 'listne:').replace('ca: ca.crt', 'ca: nope.crt'),
      ["1:1 listne: unknown key 'listne' (did you mean 'listen'?)", `15:11 routes[0].upstream.ca: file not found: ${join(dir, 'nope.crt')}`],
    ],
    [
      'a plaintext listener refused, with a problem of its route',
      GOOD.replace('http: 127.0.0.1:8080', 'http: 8080').replace('url: http://10.0.0.7', 'url: ftp://x'),
      ['3:9 listen.http: 8080 is a port alone: write host:port, e.g. 0.0.0.0:8080 (all interfaces) or 127.0.0.1:8080', '22:12 routes[1].upstream.url: must be http:// or https://'],
    ],
    ['a missing top-level key, at the start of the document', `# routes only\n\n${GOOD.slice(GOOD.indexOf('routes:'))}`, ['3:1 listen: is required']],
    ['a route without the - of a list item', GOOD.replace('  - name: orders', '    name: orders').replace(/  - host: open.example.com\n    upstream:\n      url: http:\/\/10.0.0.7\n/, ''), ["6:5 routes: must be a list: each entry starts with '- ', as `  - host: …`"]],
    // ngrok's SDKs take mutual_tls_cas as a list; here one PEM file holds every CA, as for ngrok's agent.
    ['a list of client CA files', GOOD.replace('clientCAs: ca.crt', 'clientCAs: [ca.crt, ca.crt]'), ['12:18 routes[0].tls.clientCAs: takes one file, not a list: put the CAs in one PEM bundle (cat a.crt b.crt > cas.pem)']],
    ['a list of upstream CA files', GOOD.replace('      ca: ca.crt', '      ca:\n        - ca.crt'), ['16:9 routes[0].upstream.ca: takes one file, not a list: put the CAs in one PEM bundle (cat a.crt b.crt > cas.pem)']],
    // A list or a mapping where a text belongs was placed at its key, a scalar of the wrong type at the value.
    ['a list for a path, at the list', GOOD.replace('path: /api', 'path: [api]'), ['8:11 routes[0].path: must be a string']],
    ['a mapping for a host, at the mapping', GOOD.replace('host: open.example.com', 'host:\n      name: open.example.com'), ['21:7 routes[1].host: must be a string']],
    ['a list for a certificate', GOOD.replace('cert: srv.crt', 'cert: [srv.crt]'), ['10:13 routes[0].tls.cert: takes one file, not a list: put the certificate, then its intermediates, in one PEM file']],
    ['an empty route list', 'listen: { http: 127.0.0.1:8080 }\nroutes: []\n', ['2:1 routes: needs at least 1 entry']],
    ['a connection limit of 0', `${GOOD}limits: { connections: 0 }\n`, ['23:24 limits.connections: 0 is too small: must be at least 1']],
    ['a negative request limit', `${GOOD}limits:\n  requests: -1\n`, ['24:13 limits.requests: -1 is too small: must be at least 1']],
    // YAML's .inf is Infinity to JavaScript, which Ajv took for an integer: `connections: .inf` loaded as if it meant "no limit".
    ['a connection limit of .inf, which is not "no limit"', `${GOOD}limits: { connections: .inf }\n`, ['23:24 limits.connections: .inf is not a whole number']],
    ['a request limit of -.inf', `${GOOD}limits:\n  requests: -.Inf\n`, ['24:13 limits.requests: -.inf is not a whole number']],
    ['workers of .nan', `${GOOD}workers: .nan\n`, ['23:10 workers: .nan is not a whole number']],
    ['a timeout of .inf', GOOD.replace('connect: 250ms', 'connect: .inf'), ['19:18 routes[0].upstream.timeouts.connect: .inf is not a duration']],
    // YAML 1.1 (and the readers of Ansible and of older Compose files) took yes, no, on and off as booleans; YAML 1.2 reads them as text.
    ['a boolean written as YAML 1.1 wrote it', `${GOOD}mergeSlashes: no\n`, ['23:15 mergeSlashes: "no" is text to YAML 1.2, not a boolean (yes, no, on and off were booleans in YAML 1.1): write false']],
    ['a boolean quoted', `${GOOD}accessLog: "true"\n`, ['23:12 accessLog: "true" is text, as it is quoted: write true, without quotes']],
    ['a limit written as a string', `${GOOD}limits: { requests: "100" }\n`, ['23:21 limits.requests: must be a whole number']],
    ['a misspelt limit', `${GOOD}limits: { conections: 10 }\n`, ["23:11 limits.conections: unknown key 'conections' (did you mean 'connections'?)"]],
    ['crl without clientCAs', GOOD.replace('      clientCAs: ca.crt\n', '      crl: a.crl\n'), ['12:12 routes[0].tls.crl: needs tls.clientCAs']],
    // With the built-in roots, the CRL of every CA of a public chain is nothing a user holds.
    ['upstream.crl without upstream.ca', GOOD.replace('      ca: ca.crt\n', '      crl: [a.crl]\n'), ["15:7 routes[0].upstream.crl: needs upstream.ca: OpenSSL checks the CRL of every CA of the upstream's chain, its root's too"]],
    ['upstream.crl on a plaintext upstream', GOOD.replace('      url: http://10.0.0.7\n', '      url: http://10.0.0.7\n      ca: ca.crt\n      crl: a.crl\n'), ['23:11 routes[1].upstream.ca: only applies to https:// upstreams', '24:12 routes[1].upstream.crl: only applies to https:// upstreams']],
    [
      'a key written twice, at its key path',
      GOOD.replace('    path: /api\n', '    path: /api\n    path: /v2\n'),
      ["9:5 routes[0].path: invalid YAML: 'path' is written twice in one mapping (first on line 8)"],
    ],
    [
      'a key written twice in a flow mapping, 1 and "1" alike, as they are one key to the config',
      `${GOOD}x-defaults: { 1: a, "1": b }\n`,
      ["23:21 x-defaults.1: invalid YAML: '1' is written twice in one mapping (first on line 23)"],
    ],
    // A list or mapping as a key became its text ("[ a, b ]") with no line and column, and a warning on stderr.
    ['a list as a key, at the key', GOOD.replace('    upstream:\n      url: http://10.0.0.7', '    ? [a, b]\n    : 1\n    upstream:\n      url: http://10.0.0.7'), ['21:7 routes[1]: invalid YAML: this key is a list; a key must be a name, such as host or url']],
    ['a list as a key of a flow mapping', `${GOOD}x-keys: {[a]: 1}\n`, ['23:10 x-keys: invalid YAML: this key is a list']],
    ['a mapping as a top-level key', `${GOOD}? {a: 1}\n: 2\n`, ['23:3 : invalid YAML: this key is a mapping']],
    ['an alias of a mapping as a key', `${GOOD}x-a: &m {a: 1}\nx-b:\n  ? *m\n  : 2\n`, ['25:5 x-b: invalid YAML: this key is a mapping']],
    // Its value held itself: check and a start crashed on a TypeError (circular structure to JSON) as the
    // message quoted it, and a merge of it overflowed the stack.
    [
      'an alias inside the value its anchor names',
      GOOD.replace('timeouts:\n        connect: 250ms', 'timeouts: &t\n        connect: *t'),
      ['19:18 routes[0].upstream.timeouts.connect: invalid YAML: *t is inside the value that &t names, so that value would hold itself without end'],
    ],
    ['a merge of the mapping that holds it', `${GOOD}x-defaults: &d { a: 1, <<: *d }\n`, ['23:28 x-defaults: invalid YAML: *d is inside the value that &d names']],
    // The library threw as it built the value, and the message had no line, no key path, and its own words.
    ['a merge key of text', `${GOOD}x-a: { <<: text }\n`, ['23:12 x-a.<<: invalid YAML: << merges a mapping, an alias of one (<<: *defaults) or a list of them, not "text"']],
    ['a merge key with nothing after it', `${GOOD}x-a:\n  <<:\n  b: 1\n`, ['24:6 x-a.<<: invalid YAML: << merges a mapping, an alias of one (<<: *defaults) or a list of them, not null']],
    ['a merge key of an alias of a list', `${GOOD}x-l: &l [a]\nx-a: { <<: *l }\n`, ['24:12 x-a.<<: invalid YAML: << merges a mapping, an alias of one (<<: *defaults) or a list of them, not "a"']],
    // It had no line: a key brought by a merge has no place of its own.
    ['an unknown top-level key brought by a merge, at its alias', `${GOOD}x-m: &m { listne: 1 }\n<<: *m\n`, ["24:5 listne: unknown key 'listne' (did you mean 'listen'?)"]],
    // These had no line, and the first the key path [0], that of a list item.
    ['an unknown top-level key that is a number', `${GOOD}"0": 1\n`, ["23:1 0: unknown key '0'; keys of your own start with x-"]],
    [
      'an unknown key with a bracket, from an anchor, at the key that uses it',
      `x-t: &t { "re[sponse": 1s }\n${GOOD.replace('timeouts:\n        connect: 250ms', 'timeouts: *t')}`,
      ["19:7 routes[0].upstream.timeouts.re[sponse: unknown key 're[sponse' (did you mean 'response'?)"],
    ],
    // YAML 1.1's types, as the library builds them: a Buffer read as a mapping of its methods (a hundred
    // unknown keys), an ordered mapping as one without its keys (url "is required"), a Date key as its text.
    ['bytes (!!binary) where a mapping belongs', GOOD.replace('upstream:\n      url: http://10.0.0.7', 'upstream: !!binary aHR0cDovLzEwLjAuMC43'), ['21:24 routes[1].upstream: invalid YAML: this is bytes (!!binary), which no key of routes.yaml takes: write text']],
    ['an ordered mapping (!!omap)', GOOD.replace('upstream:\n      url: http://10.0.0.7', 'upstream: !!omap [url: http://10.0.0.7]'), ['21:22 routes[1].upstream: invalid YAML: this is an ordered mapping (!!omap), which no key of routes.yaml takes: write a mapping']],
    ['a timestamp as a key under %YAML 1.1', `%YAML 1.1\n---\n${GOOD}2024-01-01: x\n`, ['25:1 : invalid YAML: this key is a timestamp to YAML; a key must be a name, such as host or url']],
    // Both were "the file is empty", with no line.
    ['a document that is null', '~\n', ['1:1 : must be a mapping']],
    // The library warned of these and went on with a value other than the one written, which the
    // gateway then served: a tag that does not fit its value gave the text (a name "1"), a tag of no YAML
    // type the text after it (a key file named TLS_KEY, a host named HOST), one on a collection nothing.
    ['a tag that does not fit its value', `${GOOD}workers: !!float 1\n`, ['23:10 workers: invalid YAML: !!float does not fit this value, so YAML would read it as text: remove the tag']],
    ['a name tagged as a number', GOOD.replace('name: orders', 'name: !!int orders'), ['6:11 routes[0].name: invalid YAML: !!int does not fit this value']],
    [
      'a tag no YAML reader resolves, as for an environment variable',
      GOOD.replace('key: srv.key', 'key: !env TLS_KEY'),
      ['11:12 routes[0].tls.key: invalid YAML: !env is a tag portcullis does not resolve (it reads no variables or secrets), so YAML would read this value as the text written: write the value itself'],
    ],
    ['a tag of text on a mapping', GOOD.replace('timeouts:\n', 'timeouts: !!str\n'), ['18:17 routes[0].upstream.timeouts: invalid YAML: !!str does not fit a mapping: remove the tag']],
    ['a tag of bytes on a list', GOOD.replace('routes:\n', 'routes: !!binary\n'), ['5:9 routes: invalid YAML: !!binary does not fit a list: remove the tag']],
    ['a tag of its own on a mapping', GOOD.replace('upstream:\n      url: http://10.0.0.7', 'upstream: !service\n      url: http://10.0.0.7'), ['21:15 routes[1].upstream: invalid YAML: !service is a tag portcullis does not resolve: remove it']],
    // Fuzzer: a tag on a key left empty crashed the wording of the tag warning (TypeError: Cannot read
    // properties of null (reading 'tag')), printed with its stack by check and a start, and named no file
    // in a reload's log.
    ['a tag on an empty key of a flow mapping', `${GOOD}x-a: {!a: 1}\n`, ['23:7 x-a: invalid YAML: !a: is a tag portcullis does not resolve']],
    ['a tag on an empty explicit key', `${GOOD}? !x\n`, ['23:3 : invalid YAML: !x is a tag portcullis does not resolve']],
    ['a tag alone in a flow mapping', `${GOOD}x-a: {!x }\n`, ['23:7 x-a: invalid YAML: !x is a tag portcullis does not resolve']],
    ['a YAML version the reader does not know', `%YAML 1.0\n---\n${GOOD}`, ["1:7 : invalid YAML: this reader knows YAML 1.2 and 1.1, not 1.0, whose values may read otherwise: write %YAML 1.2 or remove the line"]],
    ['a file whose line breaks are CR alone, read as YAML reads them', GOOD.replace('path: /api', 'path: /a//b').replace(/\n/g, '\r'), [`8:11 routes[0].path: ${NEVER_MATCHES}; write /a/b`]],
    ['an unknown key null, at its line', GOOD.replace('      url: http://10.0.0.7\n', '      url: http://10.0.0.7\n      ~: 1\n'), ["23:7 routes[1].upstream.: unknown key ''"]],
  ]
  for (const [name, yaml, expected] of cases) {
    test(`refuses ${name}`, () => {
      const issues = issuesOf(yaml)
      assert.equal(issues.length, expected.length, issues.join('\n'))
      expected.forEach((line, i) => assert.ok(issues[i]!.startsWith(line), `${issues[i]}\n  does not start with\n${line}`))
    })
  }

  test('suggests no value where the one written is like none of the names', () => {
    const yaml = "listen: { http: 127.0.0.1:8080 }\nroutes:\n  - host: a.test\n    upstream: { url: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'], balance: random }\n"
    assert.deepEqual(issuesOf(yaml), ['4:83 routes[0].upstream.balance: must be "roundRobin" or "leastRequests" or "clientIPHash" or "headerHash"'])
  })

  test('writes a key that looks like a secret as … in the key path of an issue, as check, the log and POST /reload show it', () => {
    const [issue] = configIssuesOf(GOOD.replace('      key: cli.key\n', `      key: cli.key\n      ${KEY_LINE}: x\n`))
    assert.equal(formatIssue(issue!), `${file}:18:7 routes[0].upstream.…: unknown key base64 of a key or certificate`)
  })

  // The library warns of these too, and reads each value as written: YAML 1.2 (6.8) has readers ignore a
  // directive they do not know, and an alias whose name ends in a colon stands for the anchor of that name.
  test('takes what the YAML library warns of but reads as written', () => {
    assert.deepEqual(issuesOf(`%PORTCULLIS 1\n---\n${GOOD}`), [])
    const colons = `x-name: &name: orders\n${GOOD.replace('name: orders', 'name: *name:')}`
    assert.deepEqual(issuesOf(colons), [])
    assert.equal(parseConfig(colons, file).routes[0]!.name, 'orders')
  })

  test('takes an anchor used by every route, and refuses aliases that expand without bound', () => {
    const routes = Array.from({ length: 150 }, (_, i) => `  - { host: h${i}.test, upstream: { url: 'http://10.0.0.7', timeouts: ${i === 0 ? '&t { connect: 1s }' : '*t'} } }`)
    assert.deepEqual(issuesOf(`listen: { http: 127.0.0.1:8080 }\nroutes:\n${routes.join('\n')}\n`), [])
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
    for (let i = 1; i < 9; i++) laughs.push(`l${i}: &l${i} [${Array(10).fill(i === 1 ? '*a' : `*l${i - 1}`).join(', ')}]`)
    // At the first alias: the library gives the error no place.
    assert.deepEqual(issuesOf(`${laughs.join('\n')}\n`), [
      '2:10 l1[0]: invalid YAML: the aliases (*name) of this file expand past 100,000 copies of what their anchors hold, as a file made to exhaust memory does: refer fewer times to anchors that hold aliases themselves',
    ])
  })

  // The first read "(a key of the top level or routes[0].tls or routes[0].upstream: check its indentation)",
  // as every object has a toString; the second "(did you mean 'ca'?)".
  test('hints no key for a name every object has, nor one that changes every letter', () => {
    assert.deepEqual(issuesOf(GOOD.replace('    path: /api\n', '    path: /api\n    toString: x\n')), ["9:5 routes[0].toString: unknown key 'toString'"])
    assert.deepEqual(issuesOf(GOOD.replace('      url: http://10.0.0.7\n', '      url: http://10.0.0.7\n      "0": x\n')), ["23:7 routes[1].upstream.0: unknown key '0'"])
  })

  // The NUL was "ERR_INVALID_ARG_VALUE", and each of these characters went into the terminal and the
  // log as it is: nothing to see, a line broken in two, or the text after it reversed.
  test('shows the characters of a quoted value that print as nothing, or break or reverse the line, as escapes', () => {
    const linesOf = (text: string) => {
      try {
        new ConfigLoader(file).parse(text)
      } catch (error) {
        return (error as ConfigError).message.split('\n')
      }
      return []
    }
    assert.deepEqual(linesOf(GOOD.replace('ca: ca.crt', 'ca: "ca\\0\\u202e.crt"')), [`${file}:15:11 routes[0].upstream.ca: cannot read ${dir}/ca\\u0000\\u202e.crt: no file name holds a NUL (\\u0000)`])
    assert.deepEqual(linesOf(GOOD.replace('host: open.example.com', 'host: "open\\n\\u200bexample"')), [`${file}:20:11 routes[1].host: 'open\\u000a\\u200bexample' is not a host name or a *.wildcard; write openexample`])
  })

  // The path to write instead was the token again, with its slashes merged or its é escaped.
  test('writes no path to use instead of a route path that holds a token', () => {
    assert.deepEqual(issuesOf(GOOD.replace('path: /api', `path: /${TOKEN}//x`)), [`8:11 routes[0].path: ${NEVER_MATCHES}`])
    assert.deepEqual(issuesOf(GOOD.replace('path: /api', `path: /${TOKEN}é`)), ['8:11 routes[0].path: never matches: request paths are ASCII, other characters percent-encoded'])
  })

  // It said "must be a mapping: write upstream: {url: ca.crt}".
  test('writes no url for an upstream of text that is no url', () => {
    assert.deepEqual(issuesOf(GOOD.replace('upstream:\n      url: http://10.0.0.7', 'upstream: ca.crt')), ['21:15 routes[1].upstream: must be a mapping'])
  })

  test('takes a route path with repeated slashes when mergeSlashes is off', () => {
    assert.deepEqual(issuesOf(`${GOOD.replace('path: /api', 'path: /files//raw')}mergeSlashes: false\n`), [])
  })

  test("gives examples of a listener address that load as the message writes them, IPv6's quoted", () => {
    const [message] = issuesOf(GOOD.replace('https: 127.0.0.1:8443', 'https: localhost'))
    const examples = /\(e\.g\. (\S+) or ('[^']+')/.exec(message!)!.slice(1)
    for (const example of examples) assert.deepEqual(issuesOf(GOOD.replace('https: 127.0.0.1:8443', `https: ${example}`)), [], example)
  })

  test('takes two public listeners on one port of different addresses', () => {
    assert.deepEqual(issuesOf(GOOD.replace('http: 127.0.0.1:8080', 'http: 127.0.0.2:8443')), [])
  })

  test('takes an IP serverName that is the url own, IPv6 too, and sends no SNI for it', () => {
    for (const [url, serverName] of [['https://10.0.0.5', '10.0.0.5'], ['https://[fd00::1]', 'fd00::1'], ['https://[fd00::1]', '"[fd00::1]"']]) {
      const config = parseConfig(GOOD.replace('url: https://orders.internal:8443/v1/', `url: ${url}`).replace('key: cli.key', `key: cli.key\n      serverName: ${serverName}`), file)
      assert.equal(config.routes[0]!.upstream.urls[0]!.serverName, '', serverName)
    }
  })

  test('keeps serverName as SNI compares it: lower case, without a trailing dot', () => {
    const config = parseConfig(GOOD.replace('key: cli.key', 'key: cli.key\n      serverName: Orders.Internal.'), file)
    assert.equal(config.routes[0]!.upstream.urls[0]!.serverName, 'orders.internal')
  })

  test('takes merge keys and keys of the user own (x-) as a place for anchors', () => {
    const yaml = `x-upstream: &up { url: 'http://10.0.0.7', timeouts: { connect: 2s } }
listen: { http: 127.0.0.1:8080 }
routes:
  - { host: a.test, upstream: { <<: *up, timeouts: { connect: 3s } } }
  - { host: b.test, upstream: *up }
`
    const config = parseConfig(yaml, file)
    assert.deepEqual(config.routes.map((route) => route.upstream.timeouts.connect), [3000, 2000])
    assert.deepEqual(issuesOf(yaml.replace('x-upstream', 'upstreams')), ["1:1 upstreams: unknown key 'upstreams'; keys of your own start with x-"])
  })

  // A reload parses on the event loop: the yaml library's own check for repeated keys compared each key
  // with every key before it, so one mapping of 40,000 keys (a 600 KB file) held every request for 40 s.
  test('reads a mapping of 40,000 keys in linear time', () => {
    const keys = Array.from({ length: 40_000 }, (_, i) => `  k${i}: ${i}\n`).join('')
    const started = performance.now()
    assert.deepEqual(issuesOf(`${GOOD}x-many:\n${keys}`), [])
    const seconds = (performance.now() - started) / 1000
    assert.ok(seconds < 5, `took ${seconds.toFixed(1)} s`)
  })

  // The yaml library composes a value nested N deep with recursion N deep. Past some 800 levels the
  // stack ran out, which it caught, but a later such load in the same process (the next reload or file
  // change) aborted it in V8's RegExp compiler ("FATAL ERROR: RegExpCompiler Allocation failed"), with
  // nothing to catch: one bad edit stopped the gateway. So in a process of its own, which must live.
  test('refuses a value nested more than 100 deep, load after load, before the stack runs out', () => {
    const script = join(dir, 'deep.ts')
    writeFileSync(
      script,
      `import { ConfigLoader } from ${JSON.stringify(new URL('../../src/config/load.ts', import.meta.url).href)}
const text = ${JSON.stringify(`x-deep: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`)}
const loader = new ConfigLoader(${JSON.stringify(file)})
for (let i = 0; i < 3; i++) {
  try {
    loader.parse(text)
  } catch (error) {
    for (const issue of error.issues) console.log(\`\${issue.line}:\${issue.col} \${issue.message}\`)
  }
}
`,
    )
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 })
    assert.equal(run.status, 0, run.stderr.slice(0, 2000))
    const lines = run.stdout.trimEnd().split('\n')
    assert.equal(lines.length, 3, run.stdout)
    for (const line of lines) assert.match(line, /^1:108 invalid YAML: nested more than 100 deep here; /)
  })

  test('says which lines nest without meaning to, when lines YAML cannot read pass the depth', () => {
    const issues = issuesOf(Array.from({ length: 150 }, (_, i) => `k${i}: a: b\n`).join(''))
    assert.deepEqual(issues, [
      "100:6 k0: invalid YAML: nested more than 100 deep here; if not meant, lines above are read as nested each in the one before (a value holding ': ' unquoted, or a line indented deeper than its key)",
    ])
  })

  // Each level of an unclosed [[[[… is a YAML error of its own: 90 brackets printed 90 lines, in check
  // and in the reload log, and the first, the cause, scrolled away.
  test('lists the first few YAML errors, then one line that counts the rest', () => {
    const unclosed = (at: string, what = 'list'): string => `${at}: invalid YAML: the ${what} opened here has no closing ${what === 'list' ? ']' : '}'}`
    assert.deepEqual(issuesOf(`${GOOD}x-deep: ${'['.repeat(90)}\n`), [
      ...['23:9 x-deep', '23:10 x-deep[0]', '23:11 x-deep[0][0]', '23:12 x-deep[0][0][0]', '23:13 x-deep[0][0][0][0]'].map((at) => unclosed(at)),
      '23:13 : invalid YAML: … and 85 more YAML errors, not listed; the first is often the cause of the rest',
    ])
    const lines = Array.from({ length: 40 }, (_, i) => `  d${i}, {e${i}: [`).join('\n')
    assert.deepEqual(issuesOf(`${GOOD}x-open: {a: [b, {c: [\n${lines}\n`), [
      unclosed('23:9 x-open', 'mapping'),
      unclosed('23:13 x-open.a'),
      unclosed('23:17 x-open.a[1]', 'mapping'),
      unclosed('23:21 x-open.a[1].c'),
      unclosed('24:7 x-open.a[1].c[1]', 'mapping'),
      '24:7 : invalid YAML: … and 79 more YAML errors, not listed; the first is often the cause of the rest',
    ])
  })

  // Fuzzer: a YAML error early in a file made every later character an error of its own, for each of
  // which the yaml library built an Error, stack and all: a valid config followed by 1 MB of ] took 27 s
  // and 1.5 GB to refuse, and a reload of it held the event loop, then ran the gateway out of memory.
  // Reading stops after 1,000 such errors: where it stops is the count of what was read.
  test('stops reading YAML after 1,000 errors, past a line it cannot place', () => {
    const stopped = (at: string, more = '') => `${at} : invalid YAML: …${more} YAML stops reading here, after 1,000 errors; the first is often the cause of the rest`
    assert.deepEqual(issuesOf(`${GOOD}${']'.repeat(1_000_000)}`), [
      '23:1 routes[1].upstream.url: invalid YAML: this ] closes no list: remove it',
      stopped('23:1001'),
    ])
    assert.deepEqual(issuesOf(`*u\nx: ${'{a: '.repeat(1_000_000)}1}${'}'.repeat(999_999)}`), [
      '2:1 : invalid YAML: YAML cannot read this here, where the value before it has ended: the mistake is often just before it',
      stopped('2:1335'),
    ])
    const issues = issuesOf(`${GOOD}${']\n'.repeat(3000)}`)
    assert.deepEqual(issues.slice(5), [stopped('1022:2', ' and 995 more YAML errors, not listed;')])
  })

  // Fuzzer: the yaml library's parser closes each open collection in a call of its own, one inside the
  // other, where a line less indented closes many: 3,000 nested keys, then one at the top level, threw
  // RangeError (Maximum call stack size exceeded at Parser.blockMap) out of check, a start and a reload.
  test('refuses block keys nested 3,000 deep for their depth, followed by a line less indented or not', () => {
    const nested = Array.from({ length: 3000 }, (_, j) => `${' '.repeat(j + 2)}k:`).join('\n')
    const tooDeep = "123:102 x-deep.k.k.k.k.k.k.k.k.k: invalid YAML: nested more than 100 deep here; if not meant, lines above are read as nested each in the one before (a value holding ': ' unquoted, or a line indented deeper than its key)"
    for (const after of ['\nx-after: 1\n', '\n', '']) assert.deepEqual(issuesOf(`${GOOD}x-deep:\n${nested}${after}`), [tooDeep], JSON.stringify(after))
  })

  test('lists every problem at once, in file order', () => {
    const yaml = GOOD.replace('clientCAs: ca.crt', 'clinetCAs: ca.crt').replace('connect: 250ms', 'connect: soon')
    const issues = issuesOf(yaml)
    assert.equal(issues.length, 2)
    assert.match(issues[0]!, /^12:/)
    assert.match(issues[1]!, /^19:/)
  })

  test('checks the files a config names at every load, when its text is unchanged too', () => {
    const loader = new ConfigLoader(file)
    assert.deepEqual(issuesOf(GOOD, loader), [])
    rmSync(join(dir, 'cli.key'))
    try {
      assert.deepEqual(issuesOf(GOOD, loader), [`17:12 routes[0].upstream.key: file not found: ${join(dir, 'cli.key')}`])
    } finally {
      writeFileSync(join(dir, 'cli.key'), '')
    }
    assert.deepEqual(issuesOf(GOOD, loader), [])
    const bad = GOOD.replace('connect: 250ms', 'connect: soon')
    assert.equal(issuesOf(bad, loader).length, 1)
    assert.equal(issuesOf(bad, loader).length, 1, 'an invalid text is refused again')
  })

  // A missing file was told by the words its issue starts with (`file not found: `): rewording them
  // would have taken away check's hint under missing certificate files, with no test to say so.
  test('marks the issue of a file that does not exist as such where it finds it, and not that of a file it cannot reach otherwise', () => {
    symlinkSync('loop-b.crt', join(dir, 'loop-a.crt'))
    symlinkSync('loop-a.crt', join(dir, 'loop-b.crt'))
    const issues = configIssuesOf(GOOD.replace('ca: ca.crt', 'ca: nope.crt').replace('cert: cli.crt', 'cert: loop-a.crt'))
    assert.deepEqual(
      issues.map(({ path, kind }) => [path, kind]),
      [
        ['routes[0].upstream.ca', 'missing-file'],
        ['routes[0].upstream.cert', undefined],
      ],
    )
  })

  // The loader is a start's and a reload's too: they list these as check does.
  test("checks the rest of a route the schema refuses, not the rules that the keys it refused would fail", () => {
    const yaml = `${GOOD}  - host: orders.example.com
    tsl: passthrough
    upstream: { url: 'tcp://legacy.internal:8443' }
  - hots: x.test
    upstream: { url: localhost:8080, ca: missing.crt, timeouts: { connect: 0s } }
`
    assert.deepEqual(issuesOf(yaml), [
      "24:5 routes[2].tsl: unknown key 'tsl' (did you mean 'tls'?)",
      "26:5 routes[3].hots: unknown key 'hots' (did you mean 'host'?)",
      "27:22 routes[3].upstream.url: 'localhost:8080' has no scheme: write https://localhost:8080 or http://localhost:8080",
      `27:42 routes[3].upstream.ca: file not found: ${join(dir, 'missing.crt')}`,
      '27:76 routes[3].upstream.timeouts.connect: must be more than 0',
    ])
  })

  test('every route of one host shares one TLS policy, but for clientCAs, clientCertRequired and allowedClients', () => {
    const yaml = `${GOOD}  - host: orders.example.com\n    path: /other\n    upstream:\n      url: http://10.0.0.9\n`
    assert.match(issuesOf(yaml).join('\n'), /routes\[2\]\.tls: must equal routes\[0\]\.tls/)
    const partner = (extra: string) =>
      `${GOOD}  - host: orders.example.com\n    path: /public\n    tls: { cert: srv.crt, key: srv.key, clientCAs: ca.crt${extra} }\n    upstream:\n      url: http://10.0.0.9\n`
    assert.deepEqual(issuesOf(partner(', clientCertRequired: false')), [], 'clientCertRequired may differ')
    assert.deepEqual(issuesOf(partner('').replace('clientCAs: ca.crt }', 'clientCAs: cli.crt }')), [], 'clientCAs may differ')
    assert.deepEqual(issuesOf(partner(', allowedClients: { uri: [spiffe://a/*] }')), [], 'allowedClients may differ')
    assert.match(issuesOf(partner('').replace(', clientCAs: ca.crt }', ' }')).join('\n'), /routes\[2\]\.tls: must equal routes\[0\]\.tls \(but for clientCAs, clientCertRequired and allowedClients\)/, 'but not be left out')
    assert.match(issuesOf(partner(', clientCertRequired: false, minVersion: TLSv1.3')).join('\n'), /routes\[2\]\.tls: must equal routes\[0\]\.tls/)
  })
})

test('parseDuration', () => {
  assert.equal(parseDuration('250ms'), 250)
  assert.equal(parseDuration('1.5s'), 1500)
  assert.equal(parseDuration('2m'), 120_000)
  assert.equal(parseDuration('1h'), 3_600_000)
  for (const bad of ['5', '5 s', 's', '-1s', '1d']) assert.equal(parseDuration(bad), undefined, bad)
})

// What the message says when the gateway may not read a file: the ids it runs as and the file's owner
// and mode, or less when stat fails too. The integration test meets a real EACCES (cli.test.ts).
test('readFailure', () => {
  const readable = join(dir, 'mode-640.key')
  writeFileSync(readable, '')
  chmodSync(readable, 0o640)
  const { uid, gid } = statSync(readable)
  const eacces = Object.assign(new Error(`EACCES: permission denied, open '${readable}'`), { code: 'EACCES' })
  const runsAs = `portcullis runs as uid ${process.getuid!()}, gid ${process.getgid!()}`
  const cases: [string, Error, string][] = [
    [readable, eacces, `permission denied (${runsAs}; the file is owned by ${uid}:${gid}, mode 640)`],
    // stat fails as well (the file went away since): no owner or mode to tell.
    [join(dir, 'gone.key'), eacces, `permission denied (${runsAs})`],
    [join(dir, 'gone.key'), Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' }), 'ENOENT: no such file or directory'],
    [readable, new Error('not a regular file'), 'not a regular file'],
  ]
  for (const [file, error, expected] of cases) assert.equal(readFailure(file, error), expected, file)
})

test('parseListenAddress', () => {
  assert.deepEqual(parseListenAddress('0.0.0.0:8443'), { host: '0.0.0.0', port: 8443 })
  assert.deepEqual(parseListenAddress('[::]:8443'), { host: '::', port: 8443 })
  assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 })
  for (const bad of ['8443', ':8443', '1.2.3.4:99999', '[zz]:1', 'a b:1', '999.1.1.1:80', '10.0.1:80']) assert.equal(parseListenAddress(bad), undefined, bad)
})

test('schema/routes.schema.json is generated from the schema source (run npm run schema)', () => {
  const committed = readFileSync(new URL('../../schema/routes.schema.json', import.meta.url), 'utf8')
  assert.equal(committed, renderJsonSchema())
})
