import assert from 'node:assert/strict'
import http from 'node:http'
import { describe, it } from 'node:test'
import { AggregatorRegistry, Counter, Histogram, Registry, type RegistryContentType } from 'prom-client'
import { methodLabel } from '../../src/metrics/labels.js'
import { RequestMetrics } from '../../src/metrics/requests.js'

const BUCKETS = [0.001, 0.005, 0.01, 1]
// [route, method, code, seconds]: on a bound, between bounds, above the last one (+Inf only).
const REQUESTS: ReadonlyArray<readonly [string, string, number, number]> = [
  ['orders', 'GET', 200, 0.001],
  ['orders', 'GET', 200, 0.003],
  ['orders', 'GET', 502, 2.5],
  ['orders', 'POST', 201, 0.0002],
  ['(none)', 'OTHER', 404, 0.00001],
]

function recorded(contentType?: RegistryContentType): { registry: Registry<RegistryContentType>; metrics: RequestMetrics } {
  const registry = new Registry<RegistryContentType>()
  if (contentType) registry.setContentType(contentType)
  const metrics = new RequestMetrics({ buckets: BUCKETS, registers: [registry] })
  for (const [route, method, code, seconds] of REQUESTS) metrics.record(route, method, code, seconds)
  return { registry, metrics }
}

/** What prom-client's own Histogram and Counter print for the same requests. */
async function promClientReference(contentType?: RegistryContentType): Promise<string> {
  const registry = new Registry<RegistryContentType>()
  if (contentType) registry.setContentType(contentType)
  const requests = new Counter({ name: 'portcullis_requests_total', help: 'HTTP requests answered, by route, method and status code.', labelNames: ['route', 'method', 'code'], registers: [registry] })
  const duration = new Histogram({
    name: 'portcullis_request_duration_seconds',
    help: 'Time from request received to response finished, by route and method.',
    labelNames: ['route', 'method'],
    buckets: BUCKETS,
    registers: [registry],
  })
  for (const [route, method, code, seconds] of REQUESTS) {
    requests.inc({ route, method, code: String(code) })
    duration.observe({ route, method }, seconds)
  }
  return registry.metrics()
}

const sorted = (text: string) => text.split('\n').filter(Boolean).sort().join('\n')

describe('RequestMetrics', () => {
  it('prints exactly what prom-client prints for the same requests, text and OpenMetrics', async () => {
    assert.equal(sorted(await recorded().registry.metrics()), sorted(await promClientReference()))
    const openMetrics = Registry.OPENMETRICS_CONTENT_TYPE
    assert.equal(sorted(await recorded(openMetrics).registry.metrics()), sorted(await promClientReference(openMetrics)))
  })

  it('keeps counting across scrapes', async () => {
    const { registry, metrics } = recorded()
    await registry.metrics()
    metrics.record('orders', 'GET', 200, 0.5)
    const text = await registry.metrics()
    assert.match(text, /^portcullis_requests_total\{route="orders",method="GET",code="200"\} 3$/m)
    assert.match(text, /^portcullis_request_duration_seconds_bucket\{le="1",route="orders",method="GET"\} 3$/m)
    assert.match(text, /^portcullis_request_duration_seconds_count\{route="orders",method="GET"\} 4$/m)
  })

  it('sums over workers in the cluster aggregator', async () => {
    const workers = await Promise.all([recorded(), recorded()].map(({ registry }) => registry.getMetricsAsJSON()))
    const text = await AggregatorRegistry.aggregate(workers).metrics()
    assert.match(text, /^portcullis_requests_total\{route="orders",method="GET",code="200"\} 4$/m)
    assert.match(text, /^portcullis_request_duration_seconds_bucket\{le="0.005",route="orders",method="GET"\} 4$/m)
    assert.match(text, /^portcullis_request_duration_seconds_sum\{route="orders",method="GET"\} 5.008$/m)
  })

  it('starts over when the registry is reset', async () => {
    const { registry } = recorded()
    registry.resetMetrics()
    assert.doesNotMatch(await registry.metrics(), /^portcullis_request/m)
  })
})

describe('methodLabel', () => {
  it('keeps the methods of RFC 9110 and PATCH, and folds every other method Node parses into OTHER', () => {
    const kept = http.METHODS.filter((method) => methodLabel(method) === method)
    assert.deepEqual(kept, ['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'])
    for (const method of [...http.METHODS.filter((m) => !kept.includes(m)), 'get', undefined]) assert.equal(methodLabel(method), 'OTHER', String(method))
  })
})
