// Preloaded (node --import) into the "portcullis without metrics" peer of scenario a: prom-client's
// recording calls and portcullis' own request counting (metrics/requests.ts, in the bench's build of
// src/, the same module instance the gateway loads) become no-ops, so the pair of rows measures what
// metrics cost per request.
import { Counter, Histogram } from 'prom-client'

const { RequestMetrics } = await import(new URL('./results/build/metrics/requests.js', import.meta.url).href)

const noop = () => {}
Counter.prototype.inc = noop
Counter.prototype.labels = () => ({ inc: noop })
Histogram.prototype.observe = noop
Histogram.prototype.labels = () => ({ observe: noop, startTimer: () => noop })
RequestMetrics.prototype.record = noop
