/**
 * The benchmark's PKI, made with the project's own generator (src/tls/certificate-generator.ts, ECDSA
 * P-256), fresh for every run: one CA; the ingress certificate every peer serves (localhost); the upstream's server
 * certificate (upstream.bench.test); the identity every proxy presents to the upstream (clientAuth);
 * and the end client's certificate for the ingress mTLS scenarios.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createCA, issueCert, type Issued } from '../src/tls/certificate-generator.js'

/** The name proxies send as SNI and verify on the upstream certificate. */
export const UPSTREAM_NAME = 'upstream.bench.test'
/** Subject CN of the proxies' client certificate; the upstream log shows it on every connection. */
export const GATEWAY_CN = 'portcullis-bench-gateway'

export interface PemPair {
  readonly cert: string
  readonly key: string
}

export interface BenchPki {
  readonly dir: string
  readonly ca: string
  readonly server: PemPair
  readonly upstream: PemPair
  readonly gateway: PemPair
  readonly client: PemPair
}

export async function writeBenchPki(dir: string): Promise<BenchPki> {
  await mkdir(dir, { recursive: true })
  const ca = await createCA({ commonName: 'portcullis bench CA' })
  const leaves: Record<'server' | 'upstream' | 'gateway' | 'client', Issued> = {
    server: await issueCert(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' }),
    // Its name alone, not the 127.0.0.1 every proxy connects to: a proxy that sends no SNI, or checks
    // the certificate against the address, fails verification, and its errors show in the report.
    upstream: await issueCert(ca, { commonName: UPSTREAM_NAME, dnsNames: [UPSTREAM_NAME], usage: 'server' }),
    gateway: await issueCert(ca, { commonName: GATEWAY_CN, usage: 'client' }),
    client: await issueCert(ca, { commonName: 'bench-client', usage: 'client' }),
  }
  const write = async (name: string, issued: Issued): Promise<PemPair> => {
    const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }
    await writeFile(pair.cert, issued.cert, { mode: 0o644 })
    await writeFile(pair.key, issued.key, { mode: 0o600 })
    return pair
  }
  return {
    dir,
    ca: (await write('ca', ca)).cert,
    server: await write('server', leaves.server),
    upstream: await write('upstream', leaves.upstream),
    gateway: await write('gateway', leaves.gateway),
    client: await write('client', leaves.client),
  }
}
