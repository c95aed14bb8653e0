/**
 * `npm run demo`: a development PKI in certs/ (made once), an upstream on 127.0.0.1:9443 that requires
 * the gateway's client certificate, and the gateway serving routes.yaml. Ctrl-C stops both.
 */
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { ConfigError, problemReport } from '../src/config/issues.js'
import { ConfigLoader } from '../src/config/load.js'
import { Gateway } from '../src/gateway.js'
import { createLog, errorSummary } from '../src/log.js'
import { writeDevPki } from '../src/tls/pki.js'
import { startEchoUpstream, type EchoUpstream } from './echo-upstream.js'

const certs = new URL('../certs/', import.meta.url).pathname
// Relative, as a user names it: the problems of routes.yaml read `routes.yaml:13:7 …`, as in the README.
const routes = relative(process.cwd(), new URL('../routes.yaml', import.meta.url).pathname)
const read = (name: string) => readFileSync(`${certs}${name}`, 'utf8')
const log = createLog()
const { logger } = log

let upstream: EchoUpstream | undefined
let gateway: Gateway | undefined
try {
  const pki = await writeDevPki(certs, { remedy: 'remove certs/ and the demo makes a new set' })
  if (!pki.unchanged) logger.info(`wrote a development PKI to ${relative(process.cwd(), certs)}/`)
  upstream = await startEchoUpstream({
    cert: read('server.crt'),
    key: read('server.key'),
    clientCA: read('ca.crt'),
    port: 9443,
  })
  logger.info('demo upstream on https://127.0.0.1:9443 (client certificate required)')
  gateway = new Gateway({ loader: new ConfigLoader(routes), logger })
  await gateway.start()
} catch (error) {
  // Said as `portcullis` says it (a config as `portcullis check` lists it), not as a stack trace.
  const lines = error instanceof ConfigError ? problemReport(error, routes, 'not started') : [`demo not started: ${errorSummary(error).message}`]
  for (const line of lines) process.stderr.write(`${line}\n`)
  await upstream?.close()
  await log.close()
  process.exit(1)
}
logger.info(
  'try: curl --cacert certs/ca.crt --cert certs/client.crt --key certs/client.key https://localhost:8443/',
)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await gateway.stop(1000)
    await upstream.close()
    logger.info('demo stopped')
    await log.close()
    process.exit(0)
  })
}
