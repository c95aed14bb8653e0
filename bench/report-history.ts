/**
 * Prints one markdown row per kept report (bench/reports/) with the targets of issue 8 it measured:
 * the table of docs/performance.md's "Every kept run". Each figure is the report's own, the median of
 * the ratios taken within each repeat, and `*` marks a target missed. Reports from before the targets
 * table, and runs of scenarios that measure none of these targets (d to g), have no row.
 *
 *   node --import tsx bench/report-history.ts > /tmp/history.md
 */
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const REPORTS = fileURLToPath(new URL('./reports/', import.meta.url))

/** The targets' rows as bench/targets.ts words them; c before the wrk column was its generator's. */
const COLUMNS = [
  { heading: 'a ≥ minimal proxy', row: 'a: req/s ≥ the minimal undici proxy' },
  { heading: 'a ≥ 0.35× nginx', row: 'a: req/s ≥ 0.35× nginx' },
  { heading: 'a p99 ≤ 3× nginx', row: 'a: p99 ≤ 3× nginx' },
  { heading: 'c ≥ 0.95× bare Node', row: 'c: handshakes per server core-second (wrk)' },
  { heading: 'c (generator)', row: 'c: handshakes/s' },
] as const

/** The figure a report's targets table gives for a row, with `*` where the target was missed. */
function figure(lines: readonly string[], row: string): string {
  const line = lines.find((text) => text.startsWith(`| ${row}`))
  const cells = line?.split('|').map((cell) => cell.trim())
  const ratio = cells?.[2]?.match(/^[\d.]+[×%]/)?.[0]
  if (!ratio) return ''
  return cells![3]!.includes('missed') ? `${ratio}*` : ratio
}

function historyRow(name: string, report: string): string | undefined {
  if (!report.includes('### Targets')) return undefined
  const commit = /^## portcullis bench \S+ \((\w+)\)/m.exec(report)?.[1] ?? ''
  const node = /^node v(\d+)\./m.exec(report)?.[1] ?? ''
  const scenarios = [...report.matchAll(/^### ([a-g])\. /gm)].map((match) => match[1]).join(',')
  const repeats = /(\d+) × \d+s per peer/.exec(report)?.[1] ?? ''
  const lines = report.split('\n')
  const figures = COLUMNS.map(({ row }) => figure(lines, row))
  if (figures.every((cell) => cell === '')) return undefined
  return `| ${[name.replace(/\.md$/, ''), commit && `\`${commit}\``, node, scenarios, repeats, ...figures].join(' | ')} |`
}

/** What identifies each run, before its figures. */
const RUN_COLUMNS = ['report', 'code', 'Node', 'scenarios', 'repeats']

console.log(`| ${[...RUN_COLUMNS, ...COLUMNS.map(({ heading }) => heading)].join(' | ')} |`)
console.log(`|${[...RUN_COLUMNS.map(() => '---'), ...COLUMNS.map(() => '---:')].join('|')}|`)
for (const name of readdirSync(REPORTS).filter((file) => file.endsWith('.md')).sort()) {
  const row = historyRow(name, readFileSync(REPORTS + name, 'utf8'))
  if (row) console.log(row)
}
