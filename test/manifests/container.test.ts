/**
 * The image's contract, read from the Dockerfile, .dockerignore and deploy/container/routes.yaml
 * without building anything (scripts/container-check.sh builds and runs the image for real): the
 * default config starts without certificates, the admin listener it binds is the one HEALTHCHECK
 * probes and EXPOSE names, PORTCULLIS_CONFIG is where that config is copied, the user is not root,
 * and the build context has every file the Dockerfile copies but no key, certificate or test.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../helpers/config.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

interface Instruction {
  readonly keyword: string
  readonly args: string
}

/** Dockerfile instructions, continuation lines joined, comments dropped, split into stages. */
function readStages(text: string): Instruction[][] {
  const stages: Instruction[][] = []
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/)
  for (const line of lines) {
    const trimmed = line.trim()
    if (!trimmed || trimmed.startsWith('#')) continue
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(trimmed) ?? []
    const instruction = { keyword: keyword.toUpperCase(), args }
    if (instruction.keyword === 'FROM') stages.push([])
    stages.at(-1)?.push(instruction)
  }
  return stages
}

/**
 * .dockerignore as Docker and buildah apply it: patterns in order, the last one that matches a path or
 * one of its parent folders decides, `!` re-includes; `*` stays within a folder, `**` crosses folders.
 */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const include = line.startsWith('!')
      const pattern = (include ? line.slice(1) : line).replace(/^\/+/, '').replace(/\/+$/, '')
      const source = pattern
        .split(/(\*\*\/|\/\*\*|\*\*|\*|\?)/)
        .map((part) => {
          switch (part) {
            case '**/':
              return '(?:.*/)?'
            case '/**':
              return '(?:/.*)?'
            case '**':
              return '.*'
            case '*':
              return '[^/]*'
            case '?':
              return '[^/]'
            default:
              return part.replace(/[.+^${}()|[\]\\]/g, '\\$&')
          }
        })
        .join('')
      return { include, regex: new RegExp(`^${source}$`) }
    })
  return (path) => {
    const segments = path.split('/')
    const candidates = segments.map((_, i) => segments.slice(0, i + 1).join('/'))
    let excluded = false
    for (const rule of rules) if (candidates.some((c) => rule.regex.test(c))) excluded = !rule.include
    return excluded
  }
}

const stages = readStages(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
const runtime = stages.at(-1) ?? []
const all = (keyword: string) => runtime.filter((i) => i.keyword === keyword)
const env = new Map(
  all('ENV').flatMap((i) => [...i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')])),
)
const copies = all('COPY').filter((i) => !/--from=/.test(i.args))
const defaultConfigCopy = copies.find((i) => i.args.includes('deploy/container/routes.yaml'))
const defaultConfigText = readFileSync(join(ROOT, 'deploy/container/routes.yaml'), 'utf8')

describe('container image', () => {
  test('every stage builds on node:24-slim; the runtime runs as a numeric non-root user, exec-form CMD', () => {
    assert.ok(stages.length >= 2, 'a multi-stage build')
    for (const stage of stages) assert.match(stage[0]!.args, /^node:24-slim\b/)
    const user = all('USER').at(-1)?.args
    assert.match(user ?? '', /^[1-9][0-9]*(:[0-9]+)?$/, 'USER uid[:gid], not root, numeric for runAsNonRoot')
    const cmd = all('CMD').at(-1)?.args ?? ''
    assert.ok(Array.isArray(JSON.parse(cmd)), 'CMD in exec form, so the gateway is PID 1 and gets SIGTERM')
  })

  test('PORTCULLIS_CONFIG is where the default config is copied, and that config starts without certificates', () => {
    const configPath = env.get('PORTCULLIS_CONFIG')
    assert.equal(configPath, '/etc/portcullis/routes.yaml')
    assert.ok(defaultConfigCopy, 'the runtime stage copies deploy/container/routes.yaml')
    assert.equal(defaultConfigCopy.args.split(/\s+/).at(-1), configPath)
    // Any certificate, key or CA file it named would be missing in a bare `docker run`.
    const config = parseConfig(defaultConfigText, configPath!)
    assert.equal(config.listen.https, undefined)
    assert.ok(config.routes.every((route) => route.tls === undefined && !route.upstream.ca && !route.upstream.cert))
  })

  test('HEALTHCHECK runs dist/healthcheck.js, and listen.admin binds all interfaces and is exposed', () => {
    const config = parseConfig(defaultConfigText, env.get('PORTCULLIS_CONFIG') ?? 'routes.yaml')
    const admin = config.listen.admin
    assert.ok(admin, 'the default config needs listen.admin for the HEALTHCHECK and Prometheus')
    assert.equal(admin.host, '0.0.0.0')
    assert.equal(admin.port, 9901, "the port src/healthcheck.ts probes where routes.yaml gives no listen.admin")
    const healthcheck = all('HEALTHCHECK').at(-1)?.args ?? ''
    assert.match(healthcheck, /CMD \[/, 'HEALTHCHECK in exec form')
    // src/healthcheck.ts, built into dist/ with the rest: it reads listen.admin from the gateway's config.
    assert.match(healthcheck, /CMD \["node", "dist\/healthcheck\.js"\]/)
    assert.ok(existsSync(join(ROOT, 'src/healthcheck.ts')))
    const exposed = all('EXPOSE').flatMap((i) => i.args.split(/\s+/)).map((p) => Number(p.replace(/\/tcp$/, '')))
    for (const address of [config.listen.http, config.listen.https, admin]) {
      if (address) assert.ok(exposed.includes(address.port), `EXPOSE ${address.port}`)
    }
    assert.ok(exposed.includes(8443), 'EXPOSE 8443 for a mounted config with listen.https')
    for (const key of ['http', 'https'] as const) assert.notEqual(config.listen[key]?.port, admin.port)
  })

  test('.dockerignore lets in what the Dockerfile copies and keeps out keys, certificates, tests and .git', () => {
    const excluded = dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'))
    const sources = stages.flat().filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args))
      .flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1))
    assert.ok(sources.length > 0)
    for (const source of sources) assert.equal(excluded(source.replace(/^\.\//, '').replace(/\/$/, '')), false, `COPY ${source} is excluded from the context`)
    for (const path of [
      'certs/ca.key',
      'certs/server.crt',
      'src/tls/leftover.key',
      'deploy/kubernetes/bundle.pem',
      'node_modules/yaml/package.json',
      'dist/cli.js',
      'test/unit/config.test.ts',
      'bench/run.ts',
      '.git/HEAD',
      '.env',
    ]) {
      assert.equal(excluded(path), true, `${path} must stay out of the build context`)
    }
  })
})
