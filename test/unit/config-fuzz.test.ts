/**
 * A seeded mutation fuzzer of routes.yaml against what `portcullis check` runs (a start and a reload
 * run a part of it): valid documents, the reference config with every key among them, are mutated in
 * their structure (a key deleted, misspelt, moved a level up or down, a value of another type, wrapped
 * in a list, a route duplicated, anchors and tags) and in their text, and each mutant must pass or be
 * refused with a ConfigError whose every issue says where: file, line, column and key path. A TypeError
 * there would crash `check` and a start, and fail a reload with a message that names nothing.
 *
 * The seed is fixed, so a failure reproduces. To hunt further:
 * PORTCULLIS_FUZZ_SEED=7 PORTCULLIS_FUZZ_MUTANTS=100000 node --import tsx --test test/unit/config-fuzz.test.ts
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { checkConfig } from '../../src/cli/check.js'
import { ConfigError, type ConfigIssue } from '../../src/config/issues.js'
import { createTestCA, createCrl, issueTestCert } from '../helpers/pki.js'
import { mutantsOf } from '../helpers/yaml-mutants.js'

const SEED = Number(process.env.PORTCULLIS_FUZZ_SEED ?? 1)
const MUTANTS = Number(process.env.PORTCULLIS_FUZZ_MUTANTS ?? 1500)

/** Every key of the reference config (README), with anchors, a merge key and flow style. */
const REFERENCE = `# yaml-language-server: $schema=./schema/routes.schema.json
x-timeouts: &timeouts
  connect: 5s
  response: 30s
x-upstream-tls: &upstream-tls
  ca: ca.crt
  crl: ca.crl
  cert: client.crt
  key: client.key
listen:
  https: 127.0.0.1:8443
  http: 127.0.0.1:8080
  admin: 127.0.0.1:9901
workers: 2
shutdown:
  grace: 25s
limits:
  connections: 2048
  requests: 1024
mergeSlashes: true
accessLog: false
requestId: true
httpsRedirect: 443
proxyProtocol:
  trustedIPs: [10.0.0.0/8, '2001:db8::/32']
routes:
  - name: orders
    host: orders.example.com
    path: /api
    tls:
      cert: server.crt
      key: server.key
      clientCAs: ca.crt
      crl: [ca.crl]
      minVersion: TLSv1.2
      forwardClientCert: xfcc
    upstream:
      <<: *upstream-tls
      url: https://orders.internal:8443
      serverName: orders.internal
      timeouts: *timeouts
  - host: "*.example.com"
    tls: {cert: server.crt, key: server.key, minVersion: TLSv1.3, forwardClientCert: none}
    upstream:
      url: https://10.0.0.5:443/prefix
      ca: ca.crt
      insecureSkipVerify: true
      timeouts: {connect: 250ms}
  - host: legacy.example.com
    tls: passthrough
    allowedIPs: [10.0.0.0/8]
    upstream:
      url: [tcp://legacy-1.internal:8443, tcp://legacy-2.internal:8443]
  - host: open.example.com
    path: /
    allowedIPs: [192.0.2.7, '2001:db8::/32']
    upstream:
      url:
        - http://127.0.0.1:9000
        - http://127.0.0.1:9001
      timeouts: *timeouts
`

const SEEDS = [
  REFERENCE,
  `listen:
  https: 0.0.0.0:8443
routes:
  - host: orders.example.com
    tls:
      cert: server.crt
      key: server.key
    upstream:
      url: https://orders.internal:8443
`,
  `listen: {http: '[::1]:8080', admin: '127.0.0.1:9901'}
workers: auto
mergeSlashes: false
accessLog: true
routes:
  - {name: a, host: a.example.com, path: /a, upstream: {url: http://a.internal:80/x/}}
  - {name: b, host: a.example.com, path: /b, upstream: {url: 'http://[::1]:81', timeouts: {connect: 1s, response: 2m}}}
  - {host: 10.0.0.1, upstream: {url: http://b.internal}}
`,
  `listen:
  https: 127.0.0.1:8443
shutdown: {grace: 1h}
routes:
  - host: pay.example.com
    tls: &pay-tls
      cert: server.crt
      key: server.key
      clientCAs: ca.crt
      crl: ca.crl
      forwardClientCert: both
    upstream:
      url: https://pay.internal:8443
      ca: ca.crt
      crl: [ca.crl, ca.crl]
      cert: client.crt
      key: client.key
  - host: pay.example.com
    path: /v2
    tls: *pay-tls
    upstream: {url: 'https://pay.internal:8443', ca: ca.crt}
`,
]

const mutant = mutantsOf(SEEDS)

/** What is wrong with where `issue` says the problem is; undefined when it says it all. */
function unclear(issue: ConfigIssue, file: string, text: string): string | undefined {
  if (issue.file !== file) return `names ${issue.file}`
  const lines = text.split(/\r\n|\r|\n/).length
  if (!Number.isInteger(issue.line) || issue.line! < 1 || issue.line! > lines) return `has line ${issue.line}`
  if (!Number.isInteger(issue.col) || issue.col! < 1) return `has column ${issue.col}`
  if (typeof issue.path !== 'string') return `has key path ${String(issue.path)}`
  // About the document as a whole, or its key '' (`~: 1`).
  const documentLevel = /^(invalid YAML|must be a mapping|\S+ is not a mapping|unknown key ''|the file is empty|the file holds only comments)/.test(issue.message)
  if (issue.path === '' && !documentLevel) return 'has no key path'
  if (!issue.message || /undefined|\[object |NaN/.test(issue.message)) return 'has an unclear message'
  return undefined
}

let dir: string
let file: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-fuzz-'))
  file = join(dir, 'routes.yaml')
  const ca = await createTestCA({ commonName: 'Fuzz CA' })
  const names = ['orders.example.com', '*.example.com', 'pay.example.com', 'localhost']
  const server = await issueTestCert(ca, { commonName: 'server', dnsNames: names, usage: 'server' })
  const client = await issueTestCert(ca, { commonName: 'gateway', usage: 'client' })
  const files = { 'ca.crt': ca.cert, 'ca.crl': await createCrl(ca, []), 'server.crt': server.cert, 'server.key': server.key, 'client.crt': client.cert, 'client.key': client.key }
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content)
})
after(() => rm(dir, { recursive: true, force: true }))

test('every seed document passes check', async () => {
  for (const text of SEEDS) {
    await writeFile(file, text)
    await checkConfig(file)
  }
})

test(`${MUTANTS} mutants of seed ${SEED}: each passes check or is refused with every problem placed`, async () => {
  const failures: string[] = []
  for (let index = 0; index < MUTANTS && failures.length < 5; index++) {
    const text = mutant(SEED, index)
    writeFileSync(file, text)
    try {
      const { warnings } = await checkConfig(file)
      for (const warning of warnings) {
        const why = unclear(warning, file, text)
        if (why) failures.push(`mutant ${index}: a warning ${why}: ${warning.path}: ${warning.message}\n${text}`)
      }
    } catch (error) {
      if (!(error instanceof ConfigError)) {
        failures.push(`mutant ${index}: ${(error as Error).stack}\n${text}`)
        continue
      }
      for (const issue of error.issues) {
        const why = unclear(issue, file, text)
        if (why) failures.push(`mutant ${index}: an issue ${why}: ${issue.line}:${issue.col} ${issue.path}: ${issue.message}\n${text}`)
      }
    }
  }
  assert.deepEqual(failures, [])
})
