import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { normalizePath, routingPath, withoutRoutePath } from '../../src/routing/path.js'

describe('normalizePath', () => {
  test('leaves a target without repeated slashes or dot segments as it is, byte for byte', () => {
    for (const target of ['/', '/api/items?q=1', '/a%2Fb', '/.well-known/x', '/a/.../b', '/a/b.', '/file%2etxt', '/?x=/../y']) {
      assert.equal(normalizePath(target), target)
    }
  })

  test('resolves . and .. as RFC 3986 5.2.4 does, %2e spellings included, and keeps the query', () => {
    const cases: [string, string][] = [
      ['/api/../admin', '/admin'],
      ['/api/./x', '/api/x'],
      ['/a/b/..', '/a/'],
      ['/a/.', '/a/'],
      ['/.', '/'],
      ['/a/b/../../c?q=/../', '/c?q=/../'],
      ['/api/%2e%2e/admin', '/admin'],
      ['/api/%2E./x/%2e', '/x/'],
    ]
    for (const [target, resolved] of cases) assert.equal(normalizePath(target), resolved, target)
  })

  test('merges repeated slashes in the path, before dot segments, and leaves the query and %2F alone', () => {
    const cases: [string, string][] = [
      ['//admin', '/admin'],
      ['/api///v1//x?next=//y', '/api/v1/x?next=//y'],
      ['/a//..', '/'],
      ['/a%2F%2Fb//c', '/a%2F%2Fb/c'],
    ]
    for (const [target, normalized] of cases) assert.equal(normalizePath(target), normalized, target)
  })

  test('keeps repeated slashes with mergeSlashes off (a URL carried in the path), and still resolves dot segments', () => {
    assert.equal(normalizePath('/unsafe/300x200/https://img.test/a.jpg', { mergeSlashes: false }), '/unsafe/300x200/https://img.test/a.jpg')
    assert.equal(normalizePath('/a//b/../c', { mergeSlashes: false }), '/a//c')
  })

  test('refuses .. above the root', () => {
    for (const target of ['/..', '/../x', '/a/../../x', '/%2e%2e/x']) assert.equal(normalizePath(target), undefined, target)
  })

  test('refuses dot segments with path parameters (Tomcat strips them, then resolves) and NUL', () => {
    for (const target of ['/api/..;/admin', '/..;/app2/secret', '/api/%2e%2e;x/admin', '/api/..%3b/admin', '/api/.;/x', '/api/a%00.html']) {
      assert.equal(normalizePath(target), undefined, target)
    }
    assert.equal(normalizePath('/api;jsessionid=1/x/../y'), '/api;jsessionid=1/y', 'parameters elsewhere are only bytes')
  })

  test('refuses dot segments beside an encoded slash or a backslash: upstreams split those differently', () => {
    for (const target of ['/api/..%2Fadmin', '/api/x%2f../admin', '/api/..%5cadmin', '/api/..\\admin', '/a%2Fb/../c']) {
      assert.equal(normalizePath(target), undefined, target)
    }
  })
})

describe('routingPath', () => {
  test('is the target itself when it has no escape', () => {
    for (const target of ['/', '/api/items?q=1', '//a']) assert.equal(routingPath(target), target)
  })

  test('decodes escapes of ASCII in the path, merges the slashes that makes, and drops the query', () => {
    const cases: [string, string][] = [
      ['/%61dmin', '/admin'],
      ['/admin%2Fusers', '/admin/users'],
      ['/admin%2f%2F/x', '/admin/x'],
      ['/a?q=%61', '/a'],
      ['/%41%7e', '/A~'],
    ]
    for (const [target, routed] of cases) assert.equal(routingPath(target), routed, target)
    assert.equal(routingPath('/a%2F%2Fb', { mergeSlashes: false }), '/a//b')
  })

  test('upper-cases the other escapes, keeps %3F one, and leaves what is not an escape', () => {
    assert.equal(routingPath('/caf%c3%a9'), '/caf%C3%A9')
    assert.equal(routingPath('/%7e%80'), '/~%80', 'ASCII decoded, the first byte beyond it not')
    assert.equal(routingPath('/what%3fnot'), '/what%3Fnot')
    assert.equal(routingPath('/100%'), '/100%')
    assert.equal(routingPath('/%zz%4'), '/%zz%4')
  })
})

describe('withoutRoutePath', () => {
  test('cuts the route path where it ends in the target as sent, escapes and all, and keeps the query', () => {
    const cases: [string, string, string][] = [
      ['/api/orders?x=1', '/api', '/orders?x=1'],
      ['/api', '/api', '/'],
      ['/api?x=1', '/api', '/?x=1'],
      ['/api/', '/api', '/'],
      ['/api/v1/x', '/api/v1', '/x'],
      ['/api/x', '/api/', '/x'],
      ['/%61pi/%78', '/api', '/%78'],
      ['/api%2Fx/y', '/api/x', '/y'],
      ['/caf%C3%A9/menu', '/caf%C3%A9', '/menu'],
      ['/caf%c3%a9/menu', '/caf%C3%A9', '/menu'],
      ['/api;v=2/x', '/api', '/;v=2/x'],
      ['/anything', '/', '/anything'],
    ]
    for (const [target, prefix, rest] of cases) assert.equal(withoutRoutePath(target, prefix), rest, `${target} without ${prefix}`)
  })

  test('counts slashes routing merged as one, unless mergeSlashes is off', () => {
    assert.equal(withoutRoutePath('/a/%2Fb/c', '/a/b'), '/c')
    assert.equal(withoutRoutePath('/a/%2Fb/c', '/a/', { mergeSlashes: false }), '/%2Fb/c')
  })
})
