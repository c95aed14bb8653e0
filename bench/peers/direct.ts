/**
 * The limit: wrk straight to the upstream nginx, one TLS hop, no proxy. Under plain wrk it uses the
 * upstream's TLS port (wrk has no client certificate); with ingress mTLS it uses the mTLS port. Its CPU
 * column is the upstream's, which shares the load core with wrk.
 */
import type { Peer } from './types.js'

const label = 'direct (wrk → upstream, no proxy)'

export const directPeer: Peer = {
  label,
  kind: 'direct',
  async start(ctx, options) {
    const port = options.ingressMtls ? ctx.upstream.mtls : ctx.upstream.tls
    return {
      label,
      kind: 'direct',
      origin: `https://localhost:${port}`,
      pid: ctx.upstreamPid,
      stop: async () => undefined,
    }
  },
}
