// Preloaded (node --import) into the "portcullis without metrics" peer of scenario a: prom-client's
// recording calls become no-ops, so the pair of rows measures what metrics cost per request.
import { Counter, Histogram } from 'prom-client'

const noop = () => {}
Counter.prototype.inc = noop
Counter.prototype.labels = () => ({ inc: noop })
Histogram.prototype.observe = noop
Histogram.prototype.labels = () => ({ observe: noop, startTimer: () => noop })
