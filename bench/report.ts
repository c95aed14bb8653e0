/** Markdown tables for the terminal and the .md file, and the JSON record of a run. */
import { writeFile } from 'node:fs/promises'
import { profileMarkdown, type ProfileSummary } from './profile.js'
import type { Row, ScenarioResult } from './scenarios/types.js'
import { targetsMarkdown } from './targets.js'

function cell(row: Row, key: string, digits: number, total: boolean): string {
  const value = row.median[key]
  if (value === undefined || Number.isNaN(value)) return '—'
  const shown = total ? row.totals[key]! : value
  return Number.isFinite(shown) ? shown.toFixed(digits) : '—'
}

export function markdownTable(result: ScenarioResult): string {
  const header = ['peer', 'n', ...result.columns.map((c) => c.label)]
  const lines = [`### ${result.title}`, '', `| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`]
  for (const row of result.rows) {
    if (row.skipped) {
      lines.push(`| ${row.label} | 0 | ${row.skipped} |${' |'.repeat(Math.max(0, result.columns.length - 1))}`)
      continue
    }
    const cells = result.columns.map((c) => cell(row, c.key, c.digits ?? 0, c.total ?? false))
    lines.push(`| ${row.label} | ${row.samples.length} | ${cells.join(' | ')} |`)
  }
  if (result.notes.length > 0) lines.push('', ...result.notes.map((n) => `- ${n}`))
  return `${lines.join('\n')}\n`
}

export interface RunRecord {
  readonly startedAt: string
  readonly finishedAt: string
  readonly settings: Record<string, unknown>
  readonly versions: Record<string, string>
  readonly source: { readonly commit: string; readonly dirtyFiles: number; readonly buildWarnings: string }
  readonly machine: { readonly cpus: number; readonly model: string; readonly proxyCpus: string; readonly loadCpus: string }
  readonly scenarios: readonly ScenarioResult[]
  readonly profiles: Record<string, ProfileSummary>
}

/** Issue 8's targets of every scenario that ran, in one table. */
export function runTargets(scenarios: readonly ScenarioResult[]): string {
  return targetsMarkdown(scenarios.flatMap((scenario) => scenario.targets ?? []))
}

/** The .md file of a run: a heading with the commit, the versions and settings, every table, the targets. */
export function runMarkdown(record: RunRecord, settings: { readonly repeats: number; readonly duration: number }): string {
  const { source, versions } = record
  return [
    `## portcullis bench ${record.startedAt} (${source.commit}${source.dirtyFiles ? `, ${source.dirtyFiles} uncommitted files` : ''})`,
    '',
    `node ${versions.node}, OpenSSL ${versions.openssl}, ${versions.nginx}, ${versions.wrk}; ${settings.repeats} × ${settings.duration}s per peer. Each column is its own median over the runs; "(all runs)" columns are sums; a ratio (vs nginx, unless its column names another base) is the median of the ratios taken within each repeat.`,
    '',
    ...record.scenarios.map(markdownTable),
    ...Object.entries(record.profiles).map(([id, profile]) => profileMarkdown(id, profile)),
    runTargets(record.scenarios),
  ].join('\n')
}

/** JSON has no NaN: it is written as null ("does not apply"). */
export async function writeRecord(file: string, record: RunRecord): Promise<void> {
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`)
}
