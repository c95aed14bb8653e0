/**
 * What verifies an https upstream whose route names no `upstream.ca`: the system's trusted CAs (SPEC),
 * as Caddy (Go) trusts them, beside the Mozilla roots built into Node and NODE_EXTRA_CA_CERTS. Node reads
 * the system store (on Linux, OpenSSL's default file and directory: `SSL_CERT_FILE`, `SSL_CERT_DIR`,
 * `/etc/ssl/certs`), and `setDefaultCACertificates` makes them the default of every TLS context that
 * names no CA, parsed once: naming the same 800 roots in each upstream's context would take about
 * 40 ms a context. Node 24.5 has both; Node 20 has neither, and there the Mozilla roots and
 * NODE_EXTRA_CA_CERTS stay the default. Read once, at start, as Go and Node read it.
 */
import * as tls from 'node:tls'
import { errorSummary, type Logger } from '../log.js'

/** Node 24.5's API for the CA stores (not in @types/node 20). */
interface CaStores {
  getCACertificates(type: 'default' | 'system'): string[]
  setDefaultCACertificates(certs: readonly string[]): void
}

function caStores(): CaStores | undefined {
  const api = tls as Partial<CaStores>
  return api.getCACertificates && api.setDefaultCACertificates ? (api as CaStores) : undefined
}

/** Adds the system's trusted CAs to what upstreams without `upstream.ca` trust, where this Node can. */
export function trustSystemRoots(logger: Logger): void {
  const stores = caStores()
  if (!stores) {
    logger.debug(`Node ${process.version} cannot read the system CA store: upstreams without upstream.ca trust Node's Mozilla roots only`)
    return
  }
  try {
    const system = stores.getCACertificates('system')
    if (system.length === 0) {
      logger.info("no system CA certificates found: upstreams without upstream.ca trust Node's Mozilla roots")
      return
    }
    stores.setDefaultCACertificates([...stores.getCACertificates('default'), ...system])
    logger.info({ systemCertificates: system.length }, "upstreams without upstream.ca trust the system's CAs and Node's Mozilla roots")
  } catch (error) {
    // A store OpenSSL cannot read must not keep the gateway down: the default stays as Node has it.
    logger.warn({ error: errorSummary(error) }, "the system CA store could not be read: upstreams without upstream.ca trust Node's Mozilla roots only")
  }
}
