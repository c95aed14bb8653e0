/**
 * Starts a real Gateway from routes.yaml text, on ephemeral loopback ports, in a temp folder.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { Gateway } from '../../src/gateway.js'

export interface TestGateway {
  readonly gateway: Gateway
  readonly configFile: string
  readonly ports: { https?: number; http?: number; admin?: number }
  /** Every log record the gateway wrote, parsed; set PORTCULLIS_TEST_LOG=1 to see them too. */
  readonly logs: Record<string, unknown>[]
  close(): Promise<void>
}

/** `yaml` may use {{https}}-free listen blocks; listen ports are whatever the test wrote (use :0). */
export async function startGateway(yaml: string): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-gw-'))
  const configFile = join(dir, 'routes.yaml')
  await writeFile(configFile, yaml)
  const logs: Record<string, unknown>[] = []
  const sink = new Writable({
    write(line: Buffer, _encoding, done) {
      logs.push(JSON.parse(line.toString()) as Record<string, unknown>)
      if (process.env.PORTCULLIS_TEST_LOG) process.stderr.write(line)
      done()
    },
  })
  const logger = pino({ level: 'debug' }, sink)
  const gateway = new Gateway({ configFile, logger })
  await gateway.start()
  const addresses = gateway.addresses()
  return {
    gateway,
    configFile,
    logs,
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
