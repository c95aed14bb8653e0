/**
 * (g) 1 vs 2 workers. Runs only when portcullis really starts worker processes for `workers: 2`;
 * otherwise one clear "skipped" row. With two cores, two workers must share core 1 with wrk and the
 * upstream, so the comparison is of limited use here.
 */
import { measureLoad } from '../measure.js'
import { portcullisPeer } from '../peers/portcullis.js'
import { processTree } from '../proc.js'
import { KEEPALIVE_COLUMNS, rowsOf, skippedRow, subjectsOf, withPeers } from './common.js'
import type { Column, Scenario } from './types.js'

/** The keep-alive columns, with the ratios taken to the workers: 1 row (scenario g has no nginx). */
const columns: readonly Column[] = KEEPALIVE_COLUMNS.map((column) => {
  if (column.key === 'ratio') return { ...column, label: 'ratio vs 1 worker' }
  if (column.key === 'ratioPerCore') return { ...column, label: 'ratio vs 1 worker per core' }
  return column
})

export const workersScenario: Scenario = {
  id: 'g',
  title: 'g. 1 vs 2 workers',
  async run(env) {
    const probe = portcullisPeer({ workers: 2, label: 'portcullis (workers: 2)' })
    const processes = await withPeers(env, [probe], { ingressMtls: false }, async ([peer]) => (peer ? processTree(peer.pid!).length : 0))
    if (processes < 2) {
      return {
        id: 'g',
        title: this.title,
        columns,
        rows: [skippedRow('portcullis workers 1 vs 2', 'skipped: not supported yet (`workers: 2` is accepted but one process serves)')],
        notes: [`With workers: 2 in routes.yaml portcullis ran ${processes} process(es).`],
      }
    }
    const peers = [
      portcullisPeer({ workers: 1, label: 'portcullis (workers: 1, core 0)' }),
      portcullisPeer({ workers: 2, cpus: '0,1', label: 'portcullis (workers: 2, cores 0-1)' }),
    ]
    return withPeers(env, peers, { ingressMtls: false }, async (running) => {
      const subjects = subjectsOf(running)
      const oneWorker = subjects[0] // the ratio base: workers: 1, first in `peers`
      const samples = await measureLoad(env, subjects, { path: '/', connections: env.config.connections }, oneWorker)
      return {
        id: 'g',
        title: this.title,
        columns,
        rows: rowsOf(subjects, samples),
        notes: [
          'workers: 2 shares core 1 with wrk and the upstream.',
          'ratio vs 1 worker: req/s (and req/s per proxy core) of each row ÷ those of workers: 1, in the same repeat, then the median; there is no nginx row. "proxy CPU %" of workers: 2 is that of all its processes, so up to 200.',
        ],
      }
    })
  },
}
