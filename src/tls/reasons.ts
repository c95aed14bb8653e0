/**
 * The closed set of failure reasons of TLS handshakes and of the connections they run on (the
 * README's `reason` label, on the handshake, passthrough and WebSocket re-check counters, and on
 * upstream failures). OpenSSL and Node error codes are mapped here, once; anything unknown becomes
 * `other`, so no error text ever becomes a metric label.
 */
import { errorChain } from '../errors.js'

const FAILURE_REASONS = [
  'none',
  'no_client_cert',
  'unknown_ca',
  'cert_expired',
  'cert_not_yet_valid',
  'bad_usage',
  'revoked',
  // OCSP (tls.ocsp): the responder does not know the client's certificate, or no answer could be had.
  'ocsp_unknown',
  'ocsp_unavailable',
  'hostname_mismatch',
  'protocol_version',
  // A client's renegotiation of an established TLS 1.2 connection, which the ingress refuses
  // (tls/renegotiation.ts): no error code names it, so none maps to it below.
  'renegotiation',
  'peer_rejected_cert',
  'timeout',
  'connection_refused',
  'connection_reset',
  'dns',
  'other',
] as const

export type FailureReason = (typeof FAILURE_REASONS)[number]

const REASON_BY_CODE: Record<string, FailureReason> = {
  // Verification results (X509_V_ERR_* as Node names them), on either side.
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown_ca',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown_ca',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown_ca',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown_ca',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown_ca',
  CERT_SIGNATURE_FAILURE: 'unknown_ca',
  CERT_HAS_EXPIRED: 'cert_expired',
  CERT_NOT_YET_VALID: 'cert_not_yet_valid',
  INVALID_PURPOSE: 'bad_usage',
  INVALID_CA: 'bad_usage',
  CERT_REVOKED: 'revoked',
  // What an OCSP lookup of a client certificate found (tls/ocsp-lookups.ts).
  OCSP_CERT_REVOKED: 'revoked',
  OCSP_CERT_UNKNOWN: 'ocsp_unknown',
  OCSP_NO_RESPONDER: 'ocsp_unavailable',
  OCSP_RESPONDER_UNREACHABLE: 'ocsp_unavailable',
  OCSP_RESPONDER_ERROR: 'ocsp_unavailable',
  OCSP_RESPONSE_INVALID: 'ocsp_unavailable',
  OCSP_ISSUER_UNKNOWN: 'ocsp_unavailable',
  // The other verdicts (OTHER_CHAIN_VERDICTS below) are 'other'.
  ERR_TLS_CERT_ALTNAME_INVALID: 'hostname_mismatch',
  // Handshake errors raised by OpenSSL, and alerts the peer sent (*_ALERT_*).
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: 'no_client_cert',
  // An upstream that wants the gateway's client certificate (upstream.cert). TLS 1.2 has no such alert:
  // OpenSSL and BoringSSL servers send handshake_failure, the same alert, code and message as for no
  // shared cipher, group or signature algorithm, so that one stays 'other'. (nginx sends none: it
  // completes the handshake and answers 400.)
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'no_client_cert',
  // The peer refused the gateway's certificate: a client the gateway's server certificate, an upstream
  // its client certificate. The gateway's own verdict on the peer's is a verification result above.
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'peer_rejected_cert',
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: 'peer_rejected_cert',
  // A signature or MAC the peer could not verify. OpenSSL sends it mostly for a certificate that the
  // CA of its issuer's name did not sign (CERT_SIGNATURE_FAILURE): one of another CA of the same name,
  // with no authority key identifier to tell them apart, as `openssl x509 -req` makes it without
  // `-extfile` (the server certificate of ngrok's recipe). Otherwise for a key that is not the
  // certificate's (which the config check refuses), or a handshake that a middlebox altered (its
  // Finished or a resumption's binder).
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: 'peer_rejected_cert',
  ...peerRejectedCertAlerts([
    'BAD_CERTIFICATE',
    'CERTIFICATE_EXPIRED',
    'CERTIFICATE_REVOKED',
    'CERTIFICATE_UNKNOWN',
    'UNSUPPORTED_CERTIFICATE',
  ]),
  ERR_SSL_UNSUPPORTED_PROTOCOL: 'protocol_version',
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: 'protocol_version',
  ERR_SSL_NO_PROTOCOLS_AVAILABLE: 'protocol_version',
  ERR_SSL_WRONG_VERSION_NUMBER: 'protocol_version',
  // Transport.
  ECONNREFUSED: 'connection_refused',
  ECONNRESET: 'connection_reset',
  EPIPE: 'connection_reset',
  UND_ERR_SOCKET: 'connection_reset',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  ETIMEDOUT: 'timeout',
  ERR_TLS_HANDSHAKE_TIMEOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
}

/**
 * OpenSSL's verdicts on a chain for a CRL missing, out of date or unreadable (a listed certificate is
 * CERT_REVOKED): 'other', below, and named in the refusal's log line with the CRL files.
 */
export const CRL_TROUBLES: readonly string[] = [
  'UNABLE_TO_GET_CRL',
  'CRL_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_SIGNATURE_FAILURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
]

/** Whether OpenSSL's `verdict` is one of CRL_TROUBLES. */
export function isCrlTrouble(verdict: string | undefined): boolean {
  return verdict !== undefined && CRL_TROUBLES.includes(verdict)
}

/**
 * OpenSSL's verdicts on a peer's chain (X509_V_ERR_*, as Node names them; UNSPECIFIED for one Node has
 * no name for) that have no reason of their own: 'other', as anything unknown is. A missing or expired
 * CRL is one: it is the gateway's configuration, not a revoked peer, and the refusal's log names the
 * exact code. By this set upstream-errors.ts tells them, TLS failures, from a connection's 'other'.
 */
export const OTHER_CHAIN_VERDICTS: ReadonlySet<string> = new Set([
  ...CRL_TROUBLES,
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'CERT_CHAIN_TOO_LONG',
  'PATH_LENGTH_EXCEEDED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'UNSPECIFIED',
])

/**
 * OpenSSL 3.2 renamed its "sslv3 alert" reasons "ssl/tls alert": Node 20 (OpenSSL 3.0) reports
 * ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE, Node 24 ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE.
 */
function peerRejectedCertAlerts(alerts: readonly string[]): Record<string, FailureReason> {
  const codes = alerts.flatMap((alert) => [`ERR_SSL_SSLV3_ALERT_${alert}`, `ERR_SSL_SSL/TLS_ALERT_${alert}`])
  return Object.fromEntries(codes.map((code) => [code, 'peer_rejected_cert']))
}

export function failureReason(error: unknown): FailureReason {
  const codes = typeof error === 'string' ? [error] : Array.from(errorChain(error), (at) => at.code)
  const known = codes.find((code): code is string => typeof code === 'string' && Object.hasOwn(REASON_BY_CODE, code))
  return known === undefined ? 'other' : REASON_BY_CODE[known]!
}
