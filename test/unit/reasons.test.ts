import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { handshakeReason } from '../../src/tls/reasons.js'

describe('handshakeReason', () => {
  test('maps known codes, on the error or its cause, and a verification result given as a string', () => {
    assert.equal(handshakeReason({ code: 'ECONNREFUSED' }), 'connection_refused')
    assert.equal(handshakeReason({ code: 'UND_ERR_CONNECT', cause: { code: 'CERT_HAS_EXPIRED' } }), 'cert_expired')
    assert.equal(handshakeReason('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), 'unknown_ca')
  })

  test('gives other for anything unknown, names an object has by inheritance included', () => {
    for (const code of ['constructor', 'toString', '__proto__', 'ERR_SOMETHING_NEW']) {
      assert.equal(handshakeReason({ code }), 'other', code)
      assert.equal(handshakeReason(code), 'other', code)
    }
  })
})
