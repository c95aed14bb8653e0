/**
 * The admin listener (never the public ones): Prometheus metrics, liveness, readiness and reload.
 */
import express from 'express'
import { ErrorCodes } from '../errors.js'
import { errorSummary, type Logger } from '../log.js'
import type { MetricsSource } from '../metrics/render.js'
import type { ReloadResult } from '../reload/reloader.js'

export interface AdminDeps {
  readonly logger: Logger
  readonly metrics: MetricsSource
  /** What /readyz answers: the gateway's readiness (Gateway.isReady), or the primary's of its workers. */
  readonly isReady: () => boolean
  readonly reload: () => Promise<ReloadResult>
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

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n')
  })

  app.get('/readyz', (_req, res) => {
    const ready = deps.isReady()
    res.status(ready ? 200 : 503).type('text/plain').send(ready ? 'ready\n' : 'not ready\n')
  })

  app.get('/metrics', async (req, res, next) => {
    try {
      const { contentType, body } = await deps.metrics.render(wantsOpenMetrics(req.get('accept')))
      res.set('content-type', contentType).send(body)
    } catch (error) {
      next(error)
    }
  })
  app.post('/reload', async (req, res, next) => {
    // A browser sends Origin with every POST, curl and scripts none: a web page cannot make the gateway
    // reload, from another site or through a name of its own rebound to the admin address (Caddy's
    // admin API checks Origin too).
    if (req.get('origin') !== undefined) {
      res.status(403).type('text/plain').send('POST /reload from a web page is refused: send it without an Origin header\n')
      return
    }
    try {
      const result = await deps.reload()
      res.status(result.ok ? 200 : result.unavailable ? 503 : 422).json({ result: result.ok ? 'success' : 'failure', errors: result.errors, warnings: result.warnings })
    } catch (error) {
      next(error)
    }
  })

  // Each path answers its other methods 405 with the ones it takes, as Envoy's admin does.
  const allowed: Record<string, string> = { '/healthz': 'GET, HEAD', '/readyz': 'GET, HEAD', '/metrics': 'GET, HEAD', '/reload': 'POST' }
  for (const [path, methods] of Object.entries(allowed)) {
    app.all(path, (_req, res) => {
      res.status(405).set('allow', methods).type('text/plain').send(`${methods} only\n`)
    })
  }

  // Express's own 404 is an HTML page: whoever tries `curl :9901/` is told what is served.
  const served = Object.entries(allowed).map(([path, methods]) => `${methods.split(',')[0]} ${path}`).join(', ')
  app.use((_req, res) => {
    res.status(404).type('text/plain').send(`not found: the admin listener serves ${served}\n`)
  })

  // Express's own last handler answers with the error's stack outside NODE_ENV=production, and writes
  // it to stderr unstructured: the caller gets a plain 500, the log gets the error's code and message.
  app.use((error: Error, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    deps.logger.error({ code: ErrorCodes.INTERNAL, path: req.path, error: errorSummary(error) }, 'admin request failed')
    if (res.headersSent) res.destroy()
    else res.status(500).type('text/plain').send('internal error\n')
  })

  return app
}
