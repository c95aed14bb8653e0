/**
 * Whom a route's rateLimit counts a request against: the client's address, or with `by: clientCert`
 * the certificate the client sent (its address where it sent none, on a route whose certificate is
 * optional), as nginx's limit_req_zone keys on $binary_remote_addr or $ssl_client_fingerprint.
 */
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { Route } from '../snapshot/snapshot.js'
import { clientFingerprint } from '../tls/peer-certificates.js'

/** The bucket's key, and what it is, for the 429's words. */
export interface RateLimitedClient {
  readonly key: string | undefined
  readonly as: 'address' | 'client certificate'
}

/** The bucket `req` takes from, on `route` (which has a rateLimit), sent by `address`. */
export function rateLimitedClient(route: Route, req: IncomingMessage, address: string | undefined): RateLimitedClient {
  if (route.config.rateLimit?.by !== 'clientCert') return { key: address, as: 'address' }
  const fingerprint = clientFingerprint(req.socket as TLSSocket)
  // Apart from every address: a fingerprint is 32 hex pairs, an address never carries a space.
  return fingerprint === undefined ? { key: address, as: 'address' } : { key: `certificate ${fingerprint}`, as: 'client certificate' }
}
