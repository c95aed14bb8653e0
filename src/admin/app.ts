/**
 * The admin listener (never the public ones): Prometheus metrics, liveness, readiness and reload.
 */
import express from 'express'
import { Registry, type RegistryContentType } from 'prom-client'

export interface AdminDeps {
  readonly registry: Registry<RegistryContentType>
  /** Config loaded and every listener bound, and not draining. */
  readonly isReady: () => boolean
  /** Refresh gauges that are read from live state (pool sockets) just before a scrape. */
  readonly beforeScrape?: () => void
  readonly reload?: () => Promise<{ ok: boolean; errors: string[] }>
}

/**
 * Prometheus lists OpenMetrics first, with parameters (version, escaping) that a strict media-type
 * match would have to repeat exactly; like Go's promhttp, any mention of it is taken as a preference.
 */
function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text(?![^,]*;\s*q=0(\.0*)?\s*(,|$))/i.test(accept)
}

export function createAdminApp(deps: AdminDeps): express.Express {
  const app = express()
  app.disable('x-powered-by')
  app.disable('etag')
  // prom-client fixes the format per registry; scrapes are serialised so that switching it for an
  // OpenMetrics scrape (Prometheus asks for it first) never leaks into a concurrent text scrape.
  let scrapes: Promise<unknown> = Promise.resolve()
  const render = (contentType: RegistryContentType) => {
    const next = scrapes.then(async () => {
      // An OpenMetrics render strips `_total` from counter names in place (prom-client 15, fixed by
      // the still-open siimon/prom-client#829); put the names back so text scrapes keep SPEC's names.
      const names = deps.registry.getMetricsAsArray().map((metric) => [metric, metric.name] as const)
      deps.registry.setContentType(contentType)
      try {
        return await deps.registry.metrics()
      } finally {
        for (const [metric, name] of names) (metric as { name: string }).name = name
      }
    })
    scrapes = next.catch(() => undefined)
    return next
  }

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n')
  })

  app.get('/readyz', (_req, res) => {
    const ready = deps.isReady()
    res.status(ready ? 200 : 503).type('text/plain').send(ready ? 'ready\n' : 'not ready\n')
  })

  app.get('/metrics', async (req, res, next) => {
    try {
      deps.beforeScrape?.()
      const contentType = wantsOpenMetrics(req.get('accept'))
        ? Registry.OPENMETRICS_CONTENT_TYPE
        : Registry.PROMETHEUS_CONTENT_TYPE
      const body = await render(contentType)
      res.set('content-type', contentType).send(body)
    } catch (error) {
      next(error)
    }
  })

  app.post('/reload', async (_req, res, next) => {
    if (!deps.reload) {
      res.status(404).end()
      return
    }
    try {
      const result = await deps.reload()
      res.status(result.ok ? 200 : 422).json({ result: result.ok ? 'success' : 'failure', errors: result.errors })
    } catch (error) {
      next(error)
    }
  })

  return app
}
