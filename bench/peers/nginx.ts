/** The reference: nginx, one worker on the proxy core, TLS in, mutual TLS out over a keep-alive pool. */
import { join } from 'node:path'
import { proxyPeerConfig, startNginx } from '../nginx.js'
import type { Peer } from './types.js'

const label = 'nginx (1 worker)'

export const nginxPeer: Peer = {
  label,
  kind: 'nginx',
  async start(ctx, options) {
    const port = ctx.nextPort()
    const dir = join(ctx.workDir, `nginx-peer-${port}`)
    const instance = await startNginx({
      name: 'nginx peer',
      nginx: ctx.tools.nginx,
      dir,
      config: proxyPeerConfig(dir, ctx.pki, { port, upstreamPort: ctx.upstream.mtls, ingressMtls: options.ingressMtls }),
      cpus: ctx.proxyCpus,
      port,
    })
    return {
      label,
      kind: 'nginx',
      origin: `https://localhost:${port}`,
      pid: instance.proc.pid,
      // SIGHUP returns at once; nginx starts new workers and drains the old ones in the background.
      reload: async () => {
        instance.reload()
        return { ok: true, ms: 0 }
      },
      stop: () => instance.stop(),
    }
  },
}
