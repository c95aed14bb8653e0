/** Markdown tables for the terminal and the .md file, and the JSON record of a run. */
import { writeFile } from 'node:fs/promises'
import type { Row, ScenarioResult } from './scenarios/types.js'

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
  readonly profiles: Record<string, unknown>
}

/** JSON has no NaN: it is written as null ("does not apply"). */
export async function writeRecord(file: string, record: RunRecord): Promise<void> {
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`)
}
