/**
 * (f) Reloads under keep-alive load: portcullis gets POST /reload (unchanged config) BENCH_RELOAD_HZ
 * times per second for the whole run; nginx gets SIGHUP at the same rate as a reference. Both are
 * also measured without reloads, in the same repeat. A reload that breaks in-flight or idle
 * keep-alive connections shows up as wrk socket errors or non-2xx.
 */
import { measureLoad, median, type Activity, type Subject } from '../measure.js'
import { nginxPeer } from '../peers/nginx.js'
import { FILLER_ROUTES, portcullisPeer, TABLE_PATH } from '../peers/portcullis.js'
import { sleep } from '../proc.js'
import { KEEPALIVE_COLUMNS, rowsOf, withPeers } from './common.js'
import type { Scenario } from './types.js'

function reloadHammer(hz: number): Activity {
  return async (peer, signal) => {
    const period = 1000 / hz
    const times: number[] = []
    let failed = 0
    while (!signal.aborted) {
      const t0 = performance.now()
      const { ok, ms } = await peer.reload!()
      times.push(ms)
      if (!ok) failed++
      await sleep(Math.max(0, period - (performance.now() - t0)))
    }
    return {
      reloads: times.length,
      reloadFailed: failed,
      reloadP50: peer.kind === 'portcullis' ? median(times) : Number.NaN,
      reloadMax: peer.kind === 'portcullis' ? Math.max(...times) : Number.NaN,
    }
  }
}

export const reloadScenario: Scenario = {
  id: 'f',
  title: 'f. reloads under keep-alive load',
  async run(env) {
    const hz = env.config.reloadHz
    const peers = [
      nginxPeer,
      portcullisPeer(),
      // A reload rebuilds the whole snapshot; with a large table that takes long enough to matter.
      portcullisPeer({ label: `portcullis (${FILLER_ROUTES + 1} routes: other hosts)`, table: 'hosts' }),
    ]
    return withPeers(env, peers, { ingressMtls: false }, async (running) => {
      const subjects: Subject[] = running.flatMap((peer) => [
        { label: `${peer.label}, no reloads`, peer },
        { label: `${peer.label}, ${peer.kind === 'nginx' ? 'SIGHUP' : 'POST /reload'} ${hz}/s`, peer, during: reloadHammer(hz) },
      ])
      const samples = await measureLoad(env, subjects, { path: TABLE_PATH, connections: env.config.connections })
      return {
        id: 'f',
        title: this.title,
        columns: [
          ...KEEPALIVE_COLUMNS.filter((c) => ['rps', 'p50', 'p99'].includes(c.key)),
          { key: 'max', label: 'max ms' },
          { key: 'socketErrors', label: 'socket errors (all runs)', total: true },
          { key: 'non2xx', label: 'non-2xx (all runs)', total: true },
          { key: 'reloads', label: 'reloads (all runs)', total: true },
          { key: 'reloadFailed', label: 'reloads failed', total: true },
          { key: 'reloadP50', label: 'reload p50 ms', digits: 1 },
          { key: 'reloadMax', label: 'reload max ms', digits: 1 },
          ...KEEPALIVE_COLUMNS.filter((c) => ['upOpened', 'upResumed', 'ratio', 'core0Other'].includes(c.key)),
        ],
        rows: rowsOf(subjects, samples),
        notes: [
          `Reloads come from the bench runner on core ${env.loadCpus}, one at a time, every ${Math.round(1000 / hz)} ms (a slow reload delays the next).`,
          'wrk counts a keep-alive connection the server closes between requests as a read error, then reconnects (full TLS handshake).',
          'upstream conns opened during a run: a reload that keeps the pools (same upstream identity) opens none.',
          `Requests go to ${TABLE_PATH} (served by every peer's route). The ${FILLER_ROUTES + 1}-route table is the "other hosts" one of scenario e.`,
        ],
      }
    })
  },
}
