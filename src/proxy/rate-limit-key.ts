/**
 * Whom a route's rateLimit counts a request against: the client's address; with `by: clientCert` the
 * certificate the client sent; with `by: header` the value of the header the route names (an API
 * key). A client that sent no certificate, or no such header, is counted by its address, as nginx's
 * limit_req_zone keys on $binary_remote_addr, $ssl_client_fingerprint or $http_x_api_key.
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { Route } from '../snapshot/snapshot.js'
import { clientFingerprint } from '../tls/peer-certificates.js'

/** The bucket's key, and what it is, for the 429's words ("from your …"). */
export interface RateLimitedClient {
  readonly key: string | undefined
  readonly as: string
}

/** The bucket `req` takes from, on `route` (which has a rateLimit), sent by `address`. */
export function rateLimitedClient(route: Route, req: IncomingMessage, address: string | undefined): RateLimitedClient {
  const { by, header } = route.config.rateLimit!
  // Apart from every address, which never carries a space.
  if (by === 'clientCert') {
    const fingerprint = clientFingerprint(req.socket as TLSSocket)
    if (fingerprint !== undefined) return { key: `certificate ${fingerprint}`, as: 'client certificate' }
  }
  if (by === 'header') {
    const value = req.headers[header!]
    // A digest, not the value: a client's text of up to Node's 16 KiB of headers must not be what
    // each of the limiter's 100,000 buckets keeps.
    if (value) return { key: `header ${createHash('sha256').update(String(value)).digest('base64')}`, as: `${header} header` }
  }
  return { key: address, as: 'address' }
}
