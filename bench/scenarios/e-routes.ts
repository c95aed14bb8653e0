/**
 * (e) The same route alone, or behind 999 others: 999 other hosts (a hash lookup should not care) or
 * 999 other path prefixes on the same host (the longest-prefix scan does). Also the time to start and
 * to reload each table, measured before the load.
 */
import { measureLoad, median, type Sample } from '../measure.js'
import { nginxPeer } from '../peers/nginx.js'
import { FILLER_ROUTES, portcullisPeer, TABLE_PATH } from '../peers/portcullis.js'
import { sleep } from '../proc.js'
import { RELOAD_INTERVAL_MS } from '../../src/reload/reloader.js'
import { KEEPALIVE_COLUMNS, rowsOf, subjectsOf, withPeers } from './common.js'
import type { Peer } from '../peers/types.js'
import { ratioTarget, rowOf } from '../targets.js'
import type { Scenario } from './types.js'

export const routeTableScenario: Scenario = {
  id: 'e',
  title: `e. route table: 1 route vs ${FILLER_ROUTES + 1} routes (keep-alive, as a)`,
  async run(env) {
    const oneRoute = portcullisPeer({ label: 'portcullis (1 route)' })
    const otherHosts = portcullisPeer({ label: `portcullis (${FILLER_ROUTES + 1} routes: other hosts)`, table: 'hosts' })
    const otherPaths = portcullisPeer({
      label: `portcullis (${FILLER_ROUTES + 1} routes: other paths, same host)`,
      table: 'paths',
      ...(env.config.profile && { cpuProfileDir: env.profileDir }),
    })
    const peers = [nginxPeer, oneRoute, otherHosts, otherPaths]
    return withPeers(env, peers, { ingressMtls: false }, async (running) => {
      // portcullis' start and reload times; nginx's rows show none.
      const setup = new Map<string, Sample>()
      for (const peer of running) {
        if (peer.kind !== 'portcullis') continue
        const times: number[] = []
        // A reload interval apart: reloads asked for sooner wait their turn (reload/reloader.ts).
        for (let i = 0; i < 3; i++) {
          await sleep(RELOAD_INTERVAL_MS)
          times.push((await peer.reload!()).ms)
        }
        setup.set(peer.label, { startS: peer.startSeconds!, reloadMs: median(times) })
      }
      const subjects = subjectsOf(running)
      const samples = await measureLoad(env, subjects, { path: TABLE_PATH, connections: env.config.connections })
      for (const subject of subjects) for (const sample of samples.get(subject)!) Object.assign(sample, setup.get(subject.label))
      const rows = rowsOf(subjects, samples)
      const withinFivePercent = (table: Peer, of: string) =>
        ratioTarget({ target: `e: ${of} ≥ 0.95× one route`, metric: 'rps', of: rowOf(rows, table), to: rowOf(rows, oneRoute), bound: 0.95 })
      return {
        id: 'e',
        title: this.title,
        columns: [...KEEPALIVE_COLUMNS.filter((c) => !c.key.startsWith('pc')), { key: 'startS', label: 'start s', digits: 2 }, { key: 'reloadMs', label: 'POST /reload ms', digits: 0 }],
        rows,
        targets: [withinFivePercent(otherHosts, `${FILLER_ROUTES + 1} hosts`), withinFivePercent(otherPaths, `${FILLER_ROUTES + 1} paths of one host`)],
        notes: [
          `Requests go to ${TABLE_PATH}; the serving route is host localhost, path /bench (nginx: its one location /).`,
          `"other paths": /bench0001 … /bench0999 on localhost, each a longer prefix than /bench, which a table that scanned its routes longest first would try before it (portcullis looks up the prefixes of the request path instead). Every route has its own tls block and upstream block (same files): one pool, ${FILLER_ROUTES + 1} SecureContexts for "other hosts".`,
          'start s: spawn to /readyz 200. POST /reload ms: median of 3 reloads before the load, a second apart (unchanged files).',
        ],
      }
    })
  },
}
