/** (b) As (a), but clients must present a certificate (ingress mutual TLS), via wrk and its shim. */
import { measureLoad } from '../measure.js'
import { directPeer } from '../peers/direct.js'
import { nginxPeer } from '../peers/nginx.js'
import { httpProxy3Peer, undiciMinPeer } from '../peers/node-server.js'
import { portcullisPeer } from '../peers/portcullis.js'
import { KEEPALIVE_COLUMNS, rowsOf, skippedRow, subjectsOf, withPeers } from './common.js'
import { reuseTarget, rowOf } from '../targets.js'
import type { Scenario } from './types.js'

export const ingressMtlsScenario: Scenario = {
  id: 'b',
  title: 'b. keep-alive HTTPS with client certificates (ingress mTLS) → mTLS upstream',
  async run(env) {
    if (!env.wrk.clientCertShim) {
      return {
        id: 'b',
        title: this.title,
        columns: KEEPALIVE_COLUMNS,
        rows: [skippedRow('all peers', 'skipped: no C compiler to build the wrk client-certificate shim')],
        notes: [],
      }
    }
    const portcullis = portcullisPeer({
      label: 'portcullis (forwardClientCert: xfcc, the default)',
      ...(env.config.profile && { cpuProfileDir: env.profileDir }),
    })
    const peers = [
      directPeer,
      nginxPeer,
      httpProxy3Peer,
      undiciMinPeer,
      portcullis,
      portcullisPeer({ label: 'portcullis (forwardClientCert: none)', forwardClientCert: 'none' }),
    ]
    return withPeers(env, peers, { ingressMtls: true }, async (running) => {
      const subjects = subjectsOf(running)
      const samples = await measureLoad(env, subjects, { path: '/', connections: env.config.connections, clientCert: env.pki.client })
      const rows = rowsOf(subjects, samples)
      return {
        id: 'b',
        title: this.title,
        columns: KEEPALIVE_COLUMNS,
        rows,
        targets: [reuseTarget('b: ≥ 99.9 % of requests on reused upstream connections', rowOf(rows, portcullis), env.config.duration)],
        notes: [
          'wrk presents the client certificate through bench/wrk-client-cert.c (LD_PRELOAD into wrk\'s libssl); same generator, same settings as (a).',
          'Only portcullis (xfcc) adds a header derived from the client certificate (X-Forwarded-Client-Cert); the "none" row isolates that cost.',
          'direct: wrk to the upstream mTLS port.',
        ],
      }
    })
  },
}
