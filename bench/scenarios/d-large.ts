/**
 * (d) Large responses streamed through the proxy: throughput and the proxy's peak memory, for two body
 * sizes ten times apart. A streaming proxy's peak RSS stays the same; a buffering one grows with the body.
 */
import { measureLoad } from '../measure.js'
import { LARGE_FILES } from '../nginx.js'
import { directPeer } from '../peers/direct.js'
import { nginxPeer } from '../peers/nginx.js'
import { httpProxy3Peer, undiciMinPeer } from '../peers/node-server.js'
import { portcullisPeer } from '../peers/portcullis.js'
import { treeStatusKb } from '../proc.js'
import { row, subjectsOf, withPeers } from './common.js'
import { peakRssTarget, rowOf, RSS_GROWTH_BOUND } from '../targets.js'
import type { Row, Scenario } from './types.js'

const sizedLabel = (label: string, mib: number) => `${label}, ${mib} MiB`

export const largeScenario: Scenario = {
  id: 'd',
  title: 'd. 10 and 100 MiB streamed responses: throughput and peak RSS of the proxy',
  async run(env) {
    const portcullis = portcullisPeer(env.config.profile ? { cpuProfileDir: env.profileDir } : {})
    const peers = [directPeer, nginxPeer, httpProxy3Peer, undiciMinPeer, portcullis]
    const rows: Row[] = []
    for (const file of LARGE_FILES) {
      // Fresh processes for each size: VmHWM is then the peak of this size alone (start-up included).
      await withPeers(env, peers, { ingressMtls: false }, async (running) => {
        const rssAtStart = new Map(running.map((p) => [p, p.pid && p.kind !== 'direct' ? treeStatusKb(p.pid, 'VmRSS') : Number.NaN]))
        const subjects = subjectsOf(running)
        const samples = await measureLoad(env, subjects, { path: file.path, connections: env.config.largeConnections, timeoutSeconds: 60, ratioOf: 'mbps' })
        for (const subject of subjects) {
          const { pid, kind } = subject.peer
          const peak = pid && kind !== 'direct' ? treeStatusKb(pid, 'VmHWM') / 1024 : Number.NaN
          for (const sample of samples.get(subject)!) {
            sample.rssStartMb = rssAtStart.get(subject.peer)! / 1024
            sample.peakRssMb = peak
          }
          rows.push(row(sizedLabel(subject.label, file.mib), samples.get(subject)!))
        }
      })
    }
    const [smallest, largest] = [LARGE_FILES[0]!.mib, LARGE_FILES.at(-1)!.mib]
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
        { key: 'ratio', label: 'ratio vs nginx (MB/s)', digits: 2 },
        { key: 'core0Other', label: 'core 0 other %' },
      ],
      rows,
      targets: [
        peakRssTarget(
          `d: peak RSS with ${largest} MiB responses ≤ ${RSS_GROWTH_BOUND}× that with ${smallest} MiB`,
          rowOf(rows, sizedLabel(portcullis.label, smallest)),
          rowOf(rows, sizedLabel(portcullis.label, largest)),
        ),
      ],
      notes: [
        `wrk -c${env.config.largeConnections} to ${LARGE_FILES.map((f) => f.path).join(' and ')} (nginx static files), --timeout 60s. MB/s = 10^6 bytes/s of response data as wrk counts it.`,
        "peak RSS: VmHWM of the process tree (nginx: master + worker) at the end of each size's runs (fresh processes per size). nginx buffers to temp files (proxy_buffering on, default).",
      ],
    }
  },
}
