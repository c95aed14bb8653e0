/** Shared pieces of the scenarios: starting and always stopping peers, rows, the usual columns. */
import { medianSample, type Sample, type Subject } from '../measure.js'
import type { Peer, PeerOptions, RunningPeer } from '../peers/types.js'
import type { Column, Row, ScenarioEnv } from './types.js'

/** Starts the peers (those BENCH_PEERS allows), runs `body`, and stops every one that started. */
export async function withPeers<T>(
  env: ScenarioEnv,
  peers: readonly Peer[],
  options: PeerOptions,
  body: (running: RunningPeer[]) => Promise<T>,
): Promise<T> {
  const running: RunningPeer[] = []
  try {
    for (const peer of peers) {
      if (!env.wants(peer.kind)) continue
      running.push(await peer.start(env.peerContext, options))
    }
    return await body(running)
  } finally {
    for (const peer of running.reverse()) await peer.stop()
  }
}

export function row(label: string, samples: readonly Sample[]): Row {
  const totals: Sample = {}
  for (const sample of samples) for (const [key, value] of Object.entries(sample)) totals[key] = (totals[key] ?? 0) + (Number.isNaN(value) ? 0 : value)
  return { label, samples, median: medianSample(samples), totals }
}

export function rowsOf(subjects: readonly Subject[], samples: Map<Subject, Sample[]>): Row[] {
  return subjects.map((s) => row(s.label, samples.get(s)!))
}

export function skippedRow(label: string, reason: string): Row {
  return { label, samples: [], median: {}, totals: {}, skipped: reason }
}

export function subjectsOf(running: readonly RunningPeer[]): Subject[] {
  return running.map((peer) => ({ label: peer.label, peer }))
}

/** Columns of the keep-alive scenarios. */
export const KEEPALIVE_COLUMNS: readonly Column[] = [
  { key: 'rps', label: 'req/s' },
  { key: 'p50', label: 'p50 ms', digits: 2 },
  { key: 'p99', label: 'p99 ms', digits: 2 },
  { key: 'errors', label: 'errors (all runs)', total: true },
  { key: 'proxyCpu', label: 'proxy CPU %' },
  { key: 'upOpened', label: 'upstream conns opened', total: true },
  { key: 'upResumed', label: 'of which resumed', total: true },
  { key: 'pcUpHandshakes', label: 'portcullis upstream handshakes', total: true },
  { key: 'pcUpResumed', label: 'portcullis upstream resumptions', total: true },
  { key: 'perCore', label: 'req/s per proxy core' },
  { key: 'ratio', label: 'ratio vs nginx', digits: 2 },
  { key: 'ratioPerCore', label: 'ratio vs nginx per core', digits: 2 },
  { key: 'core0Other', label: 'core 0 other %' },
]
