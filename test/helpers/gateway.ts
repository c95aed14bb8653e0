/**
 * Starts a real Gateway from routes.yaml text, on ephemeral loopback ports, in a temp folder.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Gateway } from '../../src/gateway.js'

export interface TestGateway {
  readonly gateway: Gateway
  readonly configFile: string
  readonly ports: { https?: number; http?: number; admin?: number }
  close(): Promise<void>
}

/** `yaml` may use {{https}}-free listen blocks; listen ports are whatever the test wrote (use :0). */
export async function startGateway(yaml: string): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-gw-'))
  const configFile = join(dir, 'routes.yaml')
  await writeFile(configFile, yaml)
  const logger = pino({ level: process.env.PORTCULLIS_TEST_LOG ?? 'silent' })
  const gateway = new Gateway({ configFile, logger })
  await gateway.start()
  const addresses = gateway.addresses()
  return {
    gateway,
    configFile,
    ports: {
      ...(addresses.https && { https: addresses.https.port }),
      ...(addresses.http && { http: addresses.http.port }),
      ...(addresses.admin && { admin: addresses.admin.port }),
    },
    async close() {
      await gateway.stop(0)
      await rm(dir, { recursive: true, force: true })
    },
  }
}
