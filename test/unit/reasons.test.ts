import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { failureReason } from '../../src/tls/reasons.js'

describe('failureReason', () => {
  test('maps known codes, on the error or its cause, and a verification result given as a string', () => {
    assert.equal(failureReason({ code: 'ECONNREFUSED' }), 'connection_refused')
    assert.equal(failureReason({ code: 'UND_ERR_CONNECT', cause: { code: 'CERT_HAS_EXPIRED' } }), 'cert_expired')
    assert.equal(failureReason('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), 'unknown_ca')
  })

  test('tells the peer refusing the gateway\'s certificate, in either OpenSSL\'s spelling', () => {
    for (const code of ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE', 'ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_EXPIRED']) {
      assert.equal(failureReason({ code }), 'peer_rejected_cert', code)
    }
  })

  test('gives other for anything unknown, names an object has by inheritance included', () => {
    for (const code of ['constructor', 'toString', '__proto__', 'ERR_SOMETHING_NEW']) {
      assert.equal(failureReason({ code }), 'other', code)
      assert.equal(failureReason(code), 'other', code)
    }
  })

  test('ends at an error whose cause points back to it, and at a chain deeper than any real one', () => {
    const loop: { code: string; cause?: unknown } = { code: 'ERR_SOMETHING_NEW' }
    loop.cause = { code: 'ERR_ANOTHER', cause: loop }
    assert.equal(failureReason(loop), 'other')
    let deep: { code: string; cause?: unknown } = { code: 'ECONNREFUSED' }
    for (let i = 0; i < 20; i++) deep = { code: 'ERR_WRAPPED', cause: deep }
    assert.equal(failureReason(deep), 'other')
  })
})
