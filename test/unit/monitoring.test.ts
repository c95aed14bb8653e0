/**
 * The monitoring files in deploy/ against the metrics the gateway really exports: the Grafana dashboard
 * and the Prometheus alerts may only name series that createMetrics() or createWorkerPoolMetrics() registers
 * (a renamed metric must break this test, not a dashboard in production). promtool runs the alert unit tests when installed;
 * scripts/check-monitoring.sh is the hard check that installs it.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { before, describe, test } from 'node:test'
import { parse } from 'yaml'
import { createWorkerPoolMetrics } from '../../src/cluster/worker-pool-metrics.js'
import { createMetrics } from '../../src/metrics/metrics.js'

const file = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url))
const DASHBOARD = file('deploy/grafana/portcullis.json')
const ALERTS = file('deploy/prometheus/alerts.yaml')
const ALERT_TESTS = file('deploy/prometheus/alerts.test.yaml')

/** Series Prometheus adds itself for every target. */
const SCRAPE_SERIES = new Set(['up'])

/** Every series name a scrape of the admin listener can hold: histograms and summaries expand. */
async function exportedSeries(): Promise<Set<string>> {
  const { registry } = createMetrics()
  // With workers, the primary's own beside them.
  const pool = createWorkerPoolMetrics(2, () => 2)
  const names = new Set<string>()
  for (const metric of [...(await registry.getMetricsAsJSON()), ...(await pool.json())]) {
    // prom-client's typings say enum; at run time the type is the Prometheus type name.
    const type = metric.type as unknown as string
    names.add(metric.name)
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix)
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(metric.name + suffix)
  }
  return names
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'atan2', 'inf', 'nan'])

/**
 * The metric names a PromQL expression selects. Strings, label matchers, ranges, grouping label lists
 * and Grafana variables are blanked first; of the identifiers left, those followed by `(` are
 * functions or aggregations and the rest, keywords aside, are metric names (`up`, `portcullis_...`).
 */
function metricNames(expr: string): string[] {
  const blanked = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
  const names = new Set<string>()
  for (const match of blanked.matchAll(/(?<![\w:.$])[a-zA-Z_:][\w:]*(?![\w:])/g)) {
    const rest = blanked.slice(match.index! + match[0].length)
    if (/^\s*\(/.test(rest) || KEYWORDS.has(match[0].toLowerCase())) continue
    names.add(match[0])
  }
  return [...names]
}

interface Target {
  expr?: string
  refId?: string
}
interface Panel {
  id?: number
  type: string
  title?: string
  gridPos?: { h: number; w: number; x: number; y: number }
  datasource?: { type?: string; uid?: string }
  targets?: Target[]
  panels?: Panel[]
}
interface Variable {
  name: string
  type: string
  query?: string | { query?: string }
}
interface Dashboard {
  schemaVersion: unknown
  title?: string
  uid?: string
  panels: Panel[]
  templating?: { list: Variable[] }
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])])
}

function variableQuery(variable: Variable): string {
  return typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '')
}

/** `label_values(metric{...}, label)` and `query_result(expr)` name metrics too. */
function variableMetricNames(query: string): string[] {
  const labelValues = /^\s*label_values\((.*),\s*\w+\s*\)\s*$/.exec(query)
  if (labelValues) return metricNames(labelValues[1]!)
  const queryResult = /^\s*query_result\((.*)\)\s*$/.exec(query)
  return queryResult ? metricNames(queryResult[1]!) : []
}

interface AlertRule {
  alert?: string
  record?: string
  expr: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

function alertRules(): AlertRule[] {
  const doc = parse(readFileSync(ALERTS, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] }
  return doc.groups.flatMap((group) => group.rules)
}

function assertExported(where: string, names: string[], exported: Set<string>): void {
  assert.ok(names.length > 0, `${where}: names no metric`)
  const unknown = names.filter((name) => !exported.has(name) && !SCRAPE_SERIES.has(name))
  assert.deepEqual(unknown, [], `${where} names series the gateway does not export: ${unknown.join(', ')}`)
}

describe('metricNames', () => {
  test('finds selected metrics, not functions, labels, keywords, numbers or variables', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (route, le) (rate(portcullis_request_duration_seconds_bucket{route=~"$route", code=~"5.."}[$__rate_interval]))) > 1e3 and on (job) up offset 5m',
      ),
      ['portcullis_request_duration_seconds_bucket', 'up'],
    )
    assert.deepEqual(metricNames('min((portcullis_certificate_expiry_timestamp_seconds - time()) / 86400) or vector(0)'), [
      'portcullis_certificate_expiry_timestamp_seconds',
    ])
    assert.deepEqual(metricNames('max_over_time(timestamp(portcullis_x > portcullis_x offset 1m)[1d:1m])'), ['portcullis_x'])
  })
})

describe('Grafana dashboard deploy/grafana/portcullis.json', () => {
  let exported: Set<string>
  let dashboard: Dashboard
  before(async () => {
    exported = await exportedSeries()
    dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard
  })

  test('is a dashboard: schemaVersion, title, uid, panels', () => {
    assert.equal(typeof dashboard.schemaVersion, 'number')
    assert.ok((dashboard.schemaVersion as number) >= 36, 'schemaVersion of Grafana 9 or later')
    assert.equal(typeof dashboard.title, 'string')
    assert.equal(typeof dashboard.uid, 'string')
    assert.ok(Array.isArray(dashboard.panels) && dashboard.panels.length > 0)
  })

  test('every panel has unique id, fits the 24-column grid and queries Prometheus through ${datasource}', () => {
    const panels = allPanels(dashboard.panels)
    const ids = panels.map((panel) => panel.id)
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique')
    for (const panel of panels) {
      const where = `panel "${panel.title}"`
      assert.ok(panel.gridPos && panel.gridPos.x + panel.gridPos.w <= 24, `${where}: gridPos within 24 columns`)
      if (panel.type === 'row') continue
      assert.ok(Array.isArray(panel.targets) && panel.targets.length > 0, `${where} has targets`)
      assert.equal(panel.datasource?.uid, '${datasource}', `${where} uses the datasource variable`)
      for (const target of panel.targets) {
        assert.ok(typeof target.expr === 'string' && target.expr.trim() !== '', `${where}: target ${target.refId} has an expr`)
      }
    }
  })

  test('has the datasource and route variables', () => {
    const variables = dashboard.templating?.list ?? []
    const datasource = variables.find((v) => v.name === 'datasource')
    assert.equal(datasource?.type, 'datasource')
    assert.equal(datasource?.query, 'prometheus')
    const route = variables.find((v) => v.name === 'route')
    assert.equal(route?.type, 'query')
    assert.match(variableQuery(route!), /^label_values\(portcullis_requests_total(\{[^}]*\})?,\s*route\)$/)
  })

  test('every expression names only series the gateway exports', () => {
    for (const panel of allPanels(dashboard.panels)) {
      for (const target of panel.targets ?? []) {
        assertExported(`panel "${panel.title}" target ${target.refId}`, metricNames(target.expr ?? ''), exported)
      }
    }
    for (const variable of dashboard.templating?.list ?? []) {
      if (variable.type !== 'query') continue
      assertExported(`variable $${variable.name}`, variableMetricNames(variableQuery(variable)), exported)
    }
  })
})

describe('Prometheus alerts deploy/prometheus/alerts.yaml', () => {
  let exported: Set<string>
  before(async () => {
    exported = await exportedSeries()
  })

  test('every rule has an expression on exported series, a severity and a summary', () => {
    const rules = alertRules()
    assert.ok(rules.length > 0)
    for (const rule of rules) {
      const where = `rule ${rule.alert ?? rule.record}`
      assertExported(where, metricNames(rule.expr), exported)
      if (!rule.alert) continue
      assert.ok(['critical', 'warning', 'info'].includes(rule.labels?.severity ?? ''), `${where} has a severity label`)
      assert.ok(rule.annotations?.summary, `${where} has a summary`)
    }
  })

  test('metric names in annotation queries and comments are exported too', () => {
    const text = readFileSync(ALERTS, 'utf8')
    const names = [...new Set(text.match(/(?<![\w:])portcullis_[a-z0-9_]+/g) ?? [])]
    assertExported('alerts.yaml', names, exported)
  })

  test('the unit tests feed series the gateway exports', () => {
    const doc = parse(readFileSync(ALERT_TESTS, 'utf8')) as { tests: { name: string; input_series: { series: string }[] }[] }
    for (const unit of doc.tests) {
      const names = unit.input_series.map(({ series }) => /^\s*([a-zA-Z_:][\w:]*)/.exec(series)![1]!)
      assertExported(`alerts.test.yaml "${unit.name}"`, names, exported)
    }
  })

  const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
  const skip = promtool.error
    ? 'promtool is not on PATH: scripts/check-monitoring.sh installs it and runs these checks'
    : false
  for (const args of [
    ['check', 'rules', ALERTS],
    ['test', 'rules', ALERT_TESTS],
  ]) {
    test(`promtool ${args.slice(0, 2).join(' ')}`, { skip }, () => {
      const run = spawnSync('promtool', args, { encoding: 'utf8' })
      assert.equal(run.status, 0, `promtool ${args.join(' ')} failed:\n${run.stdout}${run.stderr}`)
    })
  }

  // catalogue MT-06
  test('promtool check metrics accepts a scrape', { skip }, async () => {
    const metrics = createMetrics()
    metrics.requests.inc({ route: 'r', method: 'GET', code: '200' })
    metrics.tlsHandshakeDuration.observe({ side: 'ingress', route: 'r', result: 'ok' }, 0.002)
    metrics.tlsHandshakes.inc({ side: 'ingress', route: 'r', result: 'error', reason: 'renegotiation' })
    metrics.upstreamErrors.inc({ route: 'r', reason: 'timeout', stage: 'before_response' })
    metrics.upstreamRetries.inc({ route: 'r' })
    metrics.upstreamPendingRequests.set({ route: 'r' }, 1)
    metrics.draining.set(1)
    const run = spawnSync('promtool', ['check', 'metrics'], { input: await metrics.registry.metrics(), encoding: 'utf8' })
    assert.equal(run.status, 0, `promtool check metrics failed:\n${run.stdout}${run.stderr}`)
  })
})
