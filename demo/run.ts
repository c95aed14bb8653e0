/**
 * `npm run demo`: a development PKI in certs/ (made once), an upstream on 127.0.0.1:9443 that requires
 * the gateway's client certificate, and the gateway serving routes.yaml. Ctrl-C stops both.
 */
import { readFileSync } from 'node:fs'
import { ConfigLoader } from '../src/config/load.js'
import { Gateway } from '../src/gateway.js'
import { createLogger } from '../src/log.js'
import { writeDevPki } from '../src/tls/pki.js'
import { startEchoUpstream } from './echo-upstream.js'

const certs = new URL('../certs/', import.meta.url).pathname
const read = (name: string) => readFileSync(`${certs}${name}`, 'utf8')
const logger = createLogger()

await writeDevPki(certs)
const upstream = await startEchoUpstream({
  cert: read('server.crt'),
  key: read('server.key'),
  clientCA: read('ca.crt'),
  port: 9443,
})
logger.info('demo upstream on https://127.0.0.1:9443 (client certificate required)')

const gateway = new Gateway({ loader: new ConfigLoader(new URL('../routes.yaml', import.meta.url).pathname), logger })
await gateway.start()
logger.info(
  'try: curl --cacert certs/ca.crt --cert certs/client.crt --key certs/client.key https://localhost:8443/',
)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await gateway.stop(1000)
    await upstream.close()
    process.exit(0)
  })
}
