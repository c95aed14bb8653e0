/** (a) HTTPS keep-alive clients → proxy → mutual TLS upstream, small responses. */
import { measureLoad } from '../measure.js'
import { directPeer } from '../peers/direct.js'
import { nginxPeer } from '../peers/nginx.js'
import { httpProxy3Peer, undiciMinPeer } from '../peers/node-server.js'
import { portcullisPeer } from '../peers/portcullis.js'
import { KEEPALIVE_COLUMNS, rowsOf, subjectsOf, withPeers } from './common.js'
import { ratioTarget, reuseTarget, rowOf } from '../targets.js'
import type { Scenario } from './types.js'

export const keepAliveScenario: Scenario = {
  id: 'a',
  title: 'a. keep-alive HTTPS → mTLS upstream, 100-byte responses',
  async run(env) {
    const portcullis = portcullisPeer(env.config.profile ? { cpuProfileDir: env.profileDir } : {})
    const withoutMetrics = portcullisPeer({ withoutMetrics: true, label: 'portcullis without metrics (recording calls are no-ops)' })
    const peers = [directPeer, nginxPeer, httpProxy3Peer, undiciMinPeer, portcullis, withoutMetrics]
    return withPeers(env, peers, { ingressMtls: false }, async (running) => {
      const subjects = subjectsOf(running)
      const samples = await measureLoad(env, subjects, { path: '/', connections: env.config.connections })
      const rows = rowsOf(subjects, samples)
      const [ours, minimal, nginx] = [rowOf(rows, portcullis), rowOf(rows, undiciMinPeer), rowOf(rows, nginxPeer)]
      return {
        id: 'a',
        title: this.title,
        columns: KEEPALIVE_COLUMNS,
        rows,
        targets: [
          ratioTarget({ target: 'a: req/s ≥ the minimal undici proxy', metric: 'rps', of: ours, to: minimal, bound: 1 }),
          ratioTarget({ target: 'a: req/s ≥ 0.35× nginx', metric: 'rps', of: ours, to: nginx, bound: 0.35 }),
          ratioTarget({ target: 'a: p99 ≤ 3× nginx', metric: 'p99', of: ours, to: nginx, bound: 3, atMost: true }),
          reuseTarget('a: ≥ 99.9 % of requests on reused upstream connections', ours, env.config.duration),
        ],
        notes: [
          `wrk -t1 -c${env.config.connections} -d${env.config.duration}s --latency on core ${env.loadCpus}, after ${env.config.warmup}s warm-up; proxies on core ${env.peerContext.proxyCpus}; upstream nginx on core ${env.loadCpus} with wrk.`,
          'direct: wrk to the upstream TLS port (no client cert), so its "proxy CPU" is the upstream nginx and its "upstream conns" are wrk\'s own.',
          'upstream conns opened/resumed: from the upstream nginx log (first request of each connection), summed over all runs. The warm-up before each run fills the pools, so these are the connections a pool added or replaced under steady load: few, and each should be resumed (undici-min\'s are not: undici\'s own session cache loses its session at each full GC, see bench/README.md).',
        ],
      }
    })
  },
}
