import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { describe, test } from 'node:test'
import { checkRequest } from '../../src/proxy/request-checks.js'

/** The parts of a parsed request the checks read, as Node's parser leaves them. */
function parsed(url: string, headers: [string, string][] = [['Host', 'a.test']], version = '1.1'): IncomingMessage {
  const [major, minor] = version.split('.').map(Number)
  return {
    url,
    httpVersionMajor: major,
    httpVersionMinor: minor,
    rawHeaders: headers.flat(),
    headers: Object.fromEntries(headers.map(([name, value]) => [name.toLowerCase(), value])),
  } as unknown as IncomingMessage
}

describe('checkRequest', () => {
  test('passes a request with its host normalized and its dot segments resolved in place', () => {
    const req = parsed('/api/./v1/../v2?q=/../x', [['Host', 'A.Test:443']])
    assert.deepEqual(checkRequest(req), { host: 'a.test', path: '/api/v2?q=/../x' })
    assert.equal(req.url, '/api/v2?q=/../x')
  })

  test('routes by the path decoded, and leaves the target encoded', () => {
    const req = parsed('/%61pi//v1%2Fx?q=%61')
    assert.deepEqual(checkRequest(req), { host: 'a.test', path: '/api/v1/x' })
    assert.equal(req.url, '/%61pi/v1%2Fx?q=%61')
  })

  test('merges repeated slashes unless the config says mergeSlashes: false', () => {
    const merged = parsed('//img//https://a.test/x.jpg')
    checkRequest(merged)
    assert.equal(merged.url, '/img/https:/a.test/x.jpg')
    const kept = parsed('//img//https://a.test/x.jpg')
    checkRequest(kept, { mergeSlashes: false })
    assert.equal(kept.url, '//img//https://a.test/x.jpg')
  })

  test('takes the host of an absolute-form target over Host (RFC 9112 3.2.2)', () => {
    const req = parsed('http://b.test/x', [['Host', 'a.test']])
    assert.deepEqual(checkRequest(req), { host: 'b.test', path: '/x' })
    assert.equal(req.url, '/x')
  })

  for (const [what, req, status] of [
    ['no Host', parsed('/', []), 400],
    ['two Host lines', parsed('/', [['Host', 'a.test'], ['host', 'b.test']]), 400],
    ['two Authorization lines', parsed('/', [['Host', 'a.test'], ['Authorization', 'a'], ['Authorization', 'b']]), 400],
    ['two Content-Type lines', parsed('/', [['Host', 'a.test'], ['Content-Type', 'text/plain'], ['content-type', 'application/json']]), 400],
    ['an asterisk-form target', parsed('*'), 400],
    ['a fragment', parsed('/api/..#'), 400],
    ['.. above the root', parsed('/../etc'), 400],
    ['a dot segment beside an encoded slash', parsed('/api/..%2fadmin'), 400],
    ['a transfer coding other than chunked', parsed('/', [['Host', 'a.test'], ['Transfer-Encoding', 'gzip, chunked']]), 501],
    ['Transfer-Encoding in HTTP/1.0', parsed('/', [['Host', 'a.test'], ['Transfer-Encoding', 'chunked']], '1.0'), 400],
    ['HTTP/2.0 on an HTTP/1 listener', parsed('/', undefined, '2.0'), 505],
    ['HTTP/0.9, in either spelling (no version, or HTTP/0.9)', parsed('/', undefined, '0.9'), 400],
    ['TRACE, which an upstream answers with the cookies it got (cross-site tracing)', Object.assign(parsed('/'), { method: 'TRACE' }), 405],
  ] as const) {
    test(`refuses ${what} with ${status}`, () => {
      assert.equal((checkRequest(req) as { status?: number }).status, status)
    })
  }

  test('says what is wrong with a path it cannot resolve, a NUL included', () => {
    assert.match((checkRequest(parsed('/a%00b')) as { detail: string }).detail, /NUL \(%00\)/)
  })
})
