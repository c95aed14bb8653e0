/**
 * The Grafana dashboard's queries on a gateway that serves without a single error, evaluated by
 * `promtool test rules`: every number of the overview shows a value, 0 where nothing failed, and so
 * does the 5xx ratio of each route. In PromQL a sum over a failure series that was never counted is
 * empty, and so is a ratio over it, which Grafana shows as "No data": a healthy gateway would look like
 * a broken panel. Skipped without promtool, as the alert unit tests are (scripts/check-monitoring.sh
 * installs it).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'

interface Panel {
  type: string
  title: string
  targets?: { refId: string; expr: string }[]
  panels?: Panel[]
}

const DASHBOARD = fileURLToPath(new URL('../../deploy/grafana/portcullis.json', import.meta.url))
const panels = (list: Panel[]): Panel[] => list.flatMap((panel) => [panel, ...panels(panel.panels ?? [])])

/** Grafana's variables as a dashboard with every job, instance and route selected fills them. */
const VARIABLES: Record<string, string> = { __rate_interval: '1m', __interval: '1m', __range: '1h' }
const fill = (expr: string) => expr.replace(/\$\{?(\w+)\}?/g, (_, name: string) => VARIABLES[name] ?? '.*')

const TARGET = 'job="portcullis", instance="gw:9901"'
const EXPIRY = 30 * 86400 + 300

/** Five minutes of one gateway at 1 request and 1 handshake a second, all of them good. */
const INPUT = [
  { series: `up{${TARGET}}`, values: '1x20' },
  { series: `portcullis_requests_total{${TARGET}, route="orders", method="GET", code="200"}`, values: '0+15x20' },
  { series: `portcullis_tls_handshakes_total{${TARGET}, side="ingress", route="orders", result="ok", reason="none"}`, values: '0+15x20' },
  { series: `portcullis_certificate_expiry_timestamp_seconds{${TARGET}, route="orders", role="server", subject="CN=orders"}`, values: `${EXPIRY}x20` },
  { series: `portcullis_config_last_reload_success_timestamp_seconds{${TARGET}}`, values: '0x20' },
  { series: `portcullis_config_reloads_total{${TARGET}, result="success"}`, values: '1x20' },
  { series: `portcullis_config_reloads_total{${TARGET}, result="failure"}`, values: '0x20' },
]

/** What each panel shows at 5m: every stat panel must be here. */
const EXPECTED: Record<string, { labels: string; value: number }[]> = {
  Requests: [{ labels: '{}', value: 1 }],
  '5xx ratio': [{ labels: '{}', value: 0 }],
  'TLS handshake failures': [{ labels: '{}', value: 0 }],
  'Next certificate expiry': [{ labels: '{}', value: 30 }],
  'Gateways up': [{ labels: '{}', value: 1 }],
  'Since last good config load': [{ labels: '{}', value: 300 }],
  'Time since last good config load': [{ labels: '{instance="gw:9901"}', value: 300 }],
  'Failed reloads in the time range': [{ labels: '{}', value: 0 }],
  '5xx ratio by route': [{ labels: '{route="orders"}', value: 0 }],
}

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
const skip = promtool.error ? 'promtool is not on PATH: scripts/check-monitoring.sh installs it' : false

test('every overview number and the 5xx ratio by route show a value on a gateway without errors', { skip }, () => {
  const all = panels((JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] }).panels)
  for (const panel of all.filter((p) => p.type === 'stat')) {
    assert.ok(EXPECTED[panel.title], `stat panel "${panel.title}" needs its healthy value in EXPECTED`)
  }
  const promqlExprTest = Object.entries(EXPECTED).flatMap(([title, samples]) => {
    const panel = all.find((p) => p.title === title)
    assert.ok(panel?.targets?.length === 1, `panel "${title}" has one query`)
    return [{ expr: fill(panel.targets[0]!.expr), eval_time: '5m', exp_samples: samples }]
  })
  const dir = mkdtempSync(join(tmpdir(), 'dashboard-healthy-'))
  try {
    const tests = join(dir, 'tests.yaml')
    // JSON is YAML: promtool reads it as its test file format.
    writeFileSync(tests, JSON.stringify({ tests: [{ interval: '15s', input_series: INPUT, promql_expr_test: promqlExprTest }] }))
    const run = spawnSync('promtool', ['test', 'rules', tests], { encoding: 'utf8' })
    assert.equal(run.status, 0, `promtool test rules:\n${run.stdout}${run.stderr}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
