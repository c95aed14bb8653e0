/** (d) 10 MB responses streamed through the proxy: throughput and the proxy's peak memory. */
import { measureLoad } from '../measure.js'
import { LARGE_PATH } from '../nginx.js'
import { directPeer } from '../peers/direct.js'
import { nginxPeer } from '../peers/nginx.js'
import { httpProxy3Peer, undiciMinPeer } from '../peers/node-server.js'
import { portcullisPeer } from '../peers/portcullis.js'
import { treeStatusKb } from '../proc.js'
import { rowsOf, subjectsOf, withPeers } from './common.js'
import type { Scenario } from './types.js'

const CONNECTIONS = Number(process.env.BENCH_LARGE_CONNECTIONS ?? 8)

export const largeScenario: Scenario = {
  id: 'd',
  title: 'd. 10 MB streamed responses: throughput and peak RSS of the proxy',
  async run(env) {
    const peers = [directPeer, nginxPeer, httpProxy3Peer, undiciMinPeer, portcullisPeer()]
    return withPeers(env, peers, { ingressMtls: false }, async (running) => {
      // Fresh processes: VmHWM is then the peak of this scenario (start-up included).
      const rssAtStart = new Map(running.map((p) => [p, p.pid && p.kind !== 'direct' ? treeStatusKb(p.pid, 'VmRSS') : Number.NaN]))
      const subjects = subjectsOf(running)
      const samples = await measureLoad(env, subjects, { path: LARGE_PATH, connections: CONNECTIONS, timeoutSeconds: 30 })
      for (const subject of subjects) {
        const { pid, kind } = subject.peer
        const peak = pid && kind !== 'direct' ? treeStatusKb(pid, 'VmHWM') / 1024 : Number.NaN
        for (const sample of samples.get(subject)!) {
          sample.rssStartMb = rssAtStart.get(subject.peer)! / 1024
          sample.peakRssMb = peak
        }
      }
      return {
        id: 'd',
        title: this.title,
        columns: [
          { key: 'mbps', label: 'MB/s' },
          { key: 'rps', label: 'responses/s', digits: 1 },
          { key: 'p50', label: 'p50 ms' },
          { key: 'p99', label: 'p99 ms' },
          { key: 'errors', label: 'errors (all runs)', total: true },
          { key: 'proxyCpu', label: 'proxy CPU %' },
          { key: 'rssStartMb', label: 'RSS at start MB' },
          { key: 'peakRssMb', label: 'peak RSS MB (VmHWM)' },
          { key: 'ratio', label: 'ratio vs nginx', digits: 2 },
          { key: 'core0Other', label: 'core 0 other %' },
        ],
        rows: rowsOf(subjects, samples),
        notes: [
          `wrk -c${CONNECTIONS} to ${LARGE_PATH} (10 MiB file, nginx static), --timeout 30s. MB/s = 10^6 bytes/s of response data as wrk counts it.`,
          'peak RSS: VmHWM of the process tree (nginx: master + worker) at the end of the scenario, over all runs. nginx buffers to temp files (proxy_buffering on, default).',
        ],
      }
    })
  },
}
