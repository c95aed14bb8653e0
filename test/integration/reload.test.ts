/**
 * Live reload: edits of routes.yaml and of the certificate files it names are picked up on their own,
 * however they are written; a bad edit keeps the last good config serving.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { X509Certificate } from 'node:crypto'
import { statSync, utimesSync, writeFileSync } from 'node:fs'
import { appendFile, copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { text } from 'node:stream/consumers'
import { after, before, describe, it } from 'node:test'
import tls from 'node:tls'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { runCheck } from '../../src/cli/check.js'
import { ConfigLoader } from '../../src/config/load.js'
import { KEY_MISMATCH_SETTLE_MS } from '../../src/reload/reloader.js'
import { runPortcullis } from '../helpers/cli.js'
import { httpRequest, httpsRequest, sessionExchange } from '../helpers/client.js'
import { eventually, loggedAfter, startGateway, startGatewayFromFile, type TestGateway } from '../helpers/gateway.js'
import { certificateNamed, makeTestPki, type TestPki } from '../helpers/pki.js'
import { startEchoUpstream, type EchoReply, type EchoUpstream } from '../helpers/upstream.js'

describe('live reload', () => {
  let pki: TestPki
  let upstream: EchoUpstream
  let dir: string

  before(async () => {
    pki = await makeTestPki()
    upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key, clientCA: pki.caA.cert })
    dir = await mkdtemp(join(tmpdir(), 'portcullis-reload-'))
  })
  after(async () => {
    await upstream.close()
    await pki.cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  /** routes.yaml with one plaintext route per host, each to the echo upstream over mTLS. */
  const routesYaml = (hosts: string[], clientCert = join(dir, 'client.crt'), clientKey = join(dir, 'client.key')) => `
listen: { http: 127.0.0.1:0, https: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
  - name: tls
    host: localhost
    tls: { cert: ${join(dir, 'server.crt')}, key: ${join(dir, 'server.key')} }
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, cert: ${clientCert}, key: ${clientKey}, serverName: up.test }
${hosts.map((host) => `  - { host: ${host}, upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, cert: ${clientCert}, key: ${clientKey}, serverName: up.test } }`).join('\n')}
`
  const status = async (gw: TestGateway, host: string) => (await httpRequest({ port: gw.ports.http!, host })).status
  const served = (gw: TestGateway, host: string) => eventually(async () => (await status(gw, host)) === 200, 3000, `${host} served`)
  const failures = async (gw: TestGateway) => (await gw.gateway.metrics.configReloads.get()).values.find((v) => v.labels.result === 'failure')?.value ?? 0

  describe('of a plain routes.yaml', () => {
    let gw: TestGateway
    let configFile: string
    before(async () => {
      await copyFile(pki.srv.certFile, join(dir, 'server.crt'))
      await copyFile(pki.srv.keyFile, join(dir, 'server.key'))
      await copyFile(pki.cliA.certFile, join(dir, 'client.crt'))
      await copyFile(pki.cliA.keyFile, join(dir, 'client.key'))
      configFile = join(dir, 'routes.yaml')
      await writeFile(configFile, routesYaml(['one.test']))
      // Reloads back to back: the one-a-second pace would add a second to most of these tests (the pace
      // has tests of its own, below).
      gw = await startGatewayFromFile(configFile, { reloadIntervalMs: 0 })
    })
    after(() => gw.close())

    it('serves a route added by editing the file in place', async () => {
      assert.equal(await status(gw, 'two.test'), 404)
      const since = gw.logs.length
      await writeFile(configFile, routesYaml(['one.test', 'two.test']))
      await served(gw, 'two.test')
      const reloaded = await loggedAfter(gw, since, 'config reloaded')
      // The files read anew, named as check names them (displayPath): this folder is outside the cwd.
      assert.deepEqual([reloaded.trigger, reloaded.changed], ['file change', [configFile]])
    })

    it('serves a route added by an atomic rename (editors, mv)', async () => {
      await writeFile(join(dir, '.routes.yaml.swp'), routesYaml(['one.test', 'two.test', 'three.test']))
      await rename(join(dir, '.routes.yaml.swp'), configFile)
      await served(gw, 'three.test')
    })

    // catalogue RR-05, MT-03
    it('keeps the last good config serving on a broken edit, and counts the failure', async () => {
      const good = await readFile(configFile, 'utf8')
      const before = await failures(gw)
      // Appended after the routes the tests before this one left: its index counts them.
      const index = good.split('\n').filter((line) => line.startsWith('  - ')).length
      await writeFile(configFile, `${good}\n  - { host: four.test, upstream: { url: 'https://127.0.0.1:1', timeouts: { connect: 5 } } }\n`)
      try {
        await eventually(async () => (await failures(gw)) > before, 3000, 'a failed reload')
        assert.equal(await status(gw, 'one.test'), 200)
        assert.equal(await status(gw, 'four.test'), 404)
        assert.equal((await httpRequest({ port: gw.ports.admin!, path: '/readyz' })).status, 200)
        const logged = gw.logs.filter((line) => line.msg === 'reload failed, previous config still serving').at(-1)
        assert.match(String(logged?.errors), new RegExp(`routes\\.yaml:\\d+:\\d+ routes\\[${index}\\]\\.upstream\\.timeouts\\.connect`))
      } finally {
        await writeFile(configFile, good)
      }
    })

    // Shapes a fuzzer of routes.yaml found (test/unit/config-fuzz.test.ts): the first failed the reload
    // with a TypeError's message (circular structure to JSON) and no place, the next four with the YAML
    // library's message or a list of a Buffer's methods, none with its key path and some with no line.
    it('keeps the last good config serving on edits the loader could not place, and answers each problem at its key path', async () => {
      const good = await readFile(configFile, 'utf8')
      const index = good.split('\n').filter((line) => line.startsWith('  - ')).length
      const route = (upstream: string) => `${good}  - { host: four.test, upstream: ${upstream} }\n`
      const edits: [string, string, string][] = [
        [route("&u { url: 'http://127.0.0.1:1', timeouts: { connect: *u } }"), `routes[${index}].upstream.timeouts.connect`, 'invalid YAML: *u is inside the value that &u names'],
        [`${good}x-d: &d { a: 1, <<: *d }\n`, 'x-d', 'invalid YAML: *d is inside the value that &d names'],
        [`${good}x-a: { <<: text }\n`, 'x-a.<<', 'invalid YAML: << merges a mapping, an alias of one (<<: *defaults) or a list of them, not "text"'],
        [route('!!binary aHR0cDovLzEyNy4wLjAuMTox'), `routes[${index}].upstream`, 'invalid YAML: this is bytes (!!binary)'],
        [`${good}"0": 1\n`, '0', "unknown key '0'"],
      ]
      try {
        for (const [text, path, message] of edits) {
          await writeFile(configFile, text)
          const answer = await httpRequest({ port: gw.ports.admin!, path: '/reload', method: 'POST' })
          assert.equal(answer.status, 422, answer.body)
          const { errors } = JSON.parse(answer.body) as { errors: string[] }
          assert.equal(errors.length, 1, answer.body)
          assert.ok(errors[0]!.startsWith(`${configFile}:`) && errors[0]!.includes(` ${path}: ${message}`), errors[0])
          assert.match(errors[0]!, /^[^:]+:\d+:\d+ /, 'names the line and column')
          assert.equal(await status(gw, 'one.test'), 200)
          assert.equal(await status(gw, 'four.test'), 404)
        }
      } finally {
        await writeFile(configFile, good)
      }
    })

    // A reload the schema or the rules refused listed their problems alone: a certificate file that is
    // not PEM, a CA bundle without a CA and a key that is not its certificate's came out one reload
    // later, once the rules passed, where `portcullis check` listed every one of them in one run.
    // catalogue RR-05
    it('answers a reload the rules refuse with every problem check lists, those of the files named too', async () => {
      const good = await readFile(configFile, 'utf8')
      await writeFile(join(dir, 'not-pem.crt'), 'not a certificate\n')
      const tls = `{ cert: ${join(dir, 'not-pem.crt')}, key: ${join(dir, 'server.key')}, clientCAs: ${join(dir, 'server.crt')} }`
      const upstreamTo = `{ url: 'https://127.0.0.1:1', ca: ${pki.caS.certFile}, cert: ${join(dir, 'client.crt')}, key: ${join(dir, 'server.key')}, timeouts: { connect: 5 parsecs } }`
      const index = good.split('\n').filter((line) => line.startsWith('  - ')).length
      try {
        await writeFile(configFile, `${good}  - { host: four.test, tls: ${tls}, upstream: ${upstreamTo} }\n`)
        const checked: string[] = []
        assert.equal(await runCheck(configFile, () => {}, (line) => checked.push(line)), 1)
        const problems = checked.slice(0, -1)
        const keys = ['tls.cert', 'tls.clientCAs', 'upstream.key', 'upstream.timeouts.connect']
        assert.deepEqual(problems.map((line) => line.split(' ')[1]), keys.map((key) => `routes[${index}].${key}:`))
        const since = gw.logs.length
        const answer = await httpRequest({ port: gw.ports.admin!, path: '/reload', method: 'POST' })
        assert.equal(answer.status, 422, answer.body)
        assert.deepEqual((JSON.parse(answer.body) as { errors: string[] }).errors, problems)
        // One line for the reload, with its problems.
        const logged = gw.logs.slice(since).filter((line) => line.trigger === 'POST /reload').map(({ msg, errors }) => ({ msg, errors }))
        assert.deepEqual(logged, [{ msg: 'reload failed, previous config still serving', errors: problems }])
        assert.equal(await status(gw, 'one.test'), 200)
      } finally {
        await writeFile(configFile, good)
      }
    })

    it('reloads when a file that only the refused config names appears (a Secret after its ConfigMap)', async () => {
      const good = await readFile(configFile, 'utf8')
      const before = await failures(gw)
      const late = join(dir, 'late')
      await writeFile(configFile, `${good}  - { host: late.test, tls: { cert: ${late}/tls.crt, key: ${late}/tls.key }, upstream: { url: 'http://127.0.0.1:1' } }\n`)
      try {
        await eventually(async () => (await failures(gw)) > before, 3000, 'a failed reload')
        await mkdir(late)
        await copyFile(pki.srv.certFile, join(late, 'tls.crt'))
        await copyFile(pki.srv.keyFile, join(late, 'tls.key'))
        // A TLS route exists once the plaintext listener answers 421 for it rather than 404.
        await eventually(async () => (await status(gw, 'late.test')) === 421, 3000, 'the route with the new files')
      } finally {
        await writeFile(configFile, good)
      }
      await eventually(async () => (await status(gw, 'late.test')) === 404, 3000, 'the route gone again')
    })

    // A file the refused config names but could not read for another reason than its absence (out of
    // reach: a loop of symlinks, or for a gateway that is not root a folder it may not enter) was not
    // watched, so its repair reloaded nothing until SIGHUP or POST /reload.
    it('reloads when a file that only the refused config names, and that it could not read, is repaired', async () => {
      const good = await readFile(configFile, 'utf8')
      const looped = join(dir, 'looped.key')
      const folder = join(dir, 'folder.crt')
      await symlink('looped.key', looped)
      await mkdir(folder)
      const refusedOnce = async (since: number, what: string) => {
        await eventually(async () => (await failures(gw)) > since, 3000, what)
        const refused = await failures(gw)
        // Left as it is, an unreadable file is no change: a watcher event that finds it so reloads nothing.
        assert.deepEqual(await gw.gateway.reload({ onlyIfChanged: true }), { ok: true, errors: [], warnings: [] })
        assert.equal(await failures(gw), refused)
        return refused
      }
      await writeFile(configFile, `${good}  - { host: unread.test, tls: { cert: ${folder}, key: ${looped} }, upstream: { url: 'http://127.0.0.1:1' } }\n`)
      try {
        const first = await refusedOnce(await failures(gw), 'the reload refused at the key, a loop of symlinks')
        await rm(looped)
        await copyFile(pki.srv.keyFile, looped)
        const second = await refusedOnce(first, 'a reload by the repaired key, refused at the certificate, a folder')
        await rm(folder, { recursive: true })
        // A file read and found wrong (this key is not the certificate's) keeps the digest it was read
        // with. That refusal waits for a key that matches (KEY_MISMATCH_SETTLE_MS) before it is counted.
        const since = gw.logs.length
        await copyFile(pki.up.certFile, folder)
        await loggedAfter(gw, since, 'reload waits for a key that matches its certificate')
        assert.deepEqual(await gw.gateway.reload({ onlyIfChanged: true }), { ok: true, errors: [], warnings: [] })
        assert.equal(gw.logs.slice(since).filter((line) => line.msg === 'reload waits for a key that matches its certificate').length, 1)
        assert.equal(await failures(gw), second)
        await copyFile(pki.srv.certFile, folder)
        // A TLS route exists once the plaintext listener answers 421 for it rather than 404.
        await eventually(async () => (await status(gw, 'unread.test')) === 421, 3000, 'the route with the repaired files')
      } finally {
        await writeFile(configFile, good)
      }
      await eventually(async () => (await status(gw, 'unread.test')) === 404, 3000, 'the route gone again')
    })

    // A file that only a config the schema or the rules refused names, read and found wrong, was kept
    // with no digest, as if it had changed: every watcher event of the folders watched (a log written
    // beside routes.yaml) ran the refused reload again, logged its problems again and counted a failure.
    it('reloads nothing while a file that only a refused config names is left wrong, once it watches it', async () => {
      const good = await readFile(configFile, 'utf8')
      const before = await failures(gw)
      const notPem = join(dir, 'refused-not-pem.crt')
      await writeFile(notPem, 'not a certificate\n')
      // The duration without its unit is the schema's refusal; the certificate is read in the same run.
      const route = `{ host: wrong.test, tls: { cert: ${notPem}, key: ${join(dir, 'server.key')} }, upstream: { url: 'http://127.0.0.1:1', timeouts: { connect: 5 } } }`
      await writeFile(configFile, `${good}  - ${route}\n`)
      try {
        await eventually(async () => (await failures(gw)) > before, 3000, 'the reload refused')
        // Not yet watched when the refused load read it: its first event reloads once more.
        await gw.gateway.reload({ onlyIfChanged: true })
        const refused = await failures(gw)
        assert.deepEqual(await gw.gateway.reload({ onlyIfChanged: true }), { ok: true, errors: [], warnings: [] })
        assert.equal(await failures(gw), refused)
      } finally {
        await writeFile(configFile, good)
      }
    })

    // catalogue RR-01, MT-04
    it('serves a rotated server certificate to new handshakes, without a restart, and exports its expiry in place of the old one', async () => {
      const serverSubjects = async () =>
        (await gw.gateway.metrics.certificateExpiry.get()).values.filter((v) => v.labels.role === 'server').map((v) => v.labels.subject)
      assert.equal(await servedCertificateCN(gw), 'srv')
      assert.deepEqual(await serverSubjects(), ['CN=srv'])
      await copyFile(pki.up.certFile, join(dir, 'server.crt'))
      await copyFile(pki.up.keyFile, join(dir, 'server.key'))
      await eventually(async () => (await servedCertificateCN(gw)) === 'up.test', 3000, 'the new certificate')
      assert.deepEqual(await serverSubjects(), ['CN=up.test'])
    })

    // catalogue RR-01: new connections and keep-alive ones, four requests at a time, across a rotation.
    it('fails no request and refuses no connection while the server certificate rotates under load', async () => {
      const [next, nextCN] = (await servedCertificateCN(gw)) === 'srv' ? [pki.up, 'up.test'] : [pki.srv, 'srv']
      const agent = new https.Agent({ keepAlive: true, maxSockets: 2 })
      const failed: string[] = []
      let answered = 0
      let running = true
      const client = async (keepAlive: boolean) => {
        while (running) {
          const reply = await httpsRequest({ port: gw.ports.https!, servername: 'localhost', ca: pki.caS.cert, ...(keepAlive && { agent }) }).catch((error: Error) => ({ status: error.message }))
          if (reply.status === 200) answered++
          else failed.push(String(reply.status))
        }
      }
      const clients = [client(false), client(false), client(true), client(true)]
      const since = gw.logs.length
      try {
        // The new pair made beside the old, then moved in, as docs/operations.md's "Rotating a certificate" says.
        await copyFile(next.certFile, join(dir, 'server.crt.new'))
        await copyFile(next.keyFile, join(dir, 'server.key.new'))
        await rename(join(dir, 'server.crt.new'), join(dir, 'server.crt'))
        await rename(join(dir, 'server.key.new'), join(dir, 'server.key'))
        await eventually(async () => (await servedCertificateCN(gw)) === nextCN, 3000, 'the rotated certificate')
        await new Promise((resolve) => setTimeout(resolve, 300))
      } finally {
        running = false
        await Promise.all(clients)
        agent.destroy()
      }
      assert.deepEqual(failed, [])
      assert.ok(answered > 20, `${answered} answered`)
      // The log says which certificate the rotation brought.
      const loaded = await loggedAfter(gw, since, 'certificate loaded', (line) => line.key === 'routes[0].tls.cert')
      const { subject, serialNumber } = certificateNamed(next.cert)
      assert.deepEqual([loaded.role, loaded.subject, loaded.serialNumber, loaded.notAfter], ['server', subject, serialNumber, new Date(new X509Certificate(next.cert).validTo).toISOString()])
    })

    // catalogue UM-05, UM-06, RR-03, RR-09
    it('presents a rotated upstream client certificate on new upstream connections, with no request failing meanwhile', async () => {
      const caller = async () => (JSON.parse((await httpRequest({ port: gw.ports.http!, host: 'one.test' })).body) as EchoReply).clientCertCN
      assert.equal(await caller(), 'alice')
      // Requests one after another throughout the rotation: none may fail (catalogue UM-05).
      const statuses: number[] = []
      let rotating = true
      const traffic = (async () => {
        while (rotating) statuses.push(await status(gw, 'one.test'))
      })()
      // A certificate that its key does not match is refused, and the old pair goes on.
      const since = gw.logs.length
      await copyFile(pki.cliB.certFile, join(dir, 'client.crt'))
      await loggedAfter(gw, since, 'reload waits for a key that matches its certificate')
      assert.equal(await caller(), 'alice')
      await copyFile(pki.cliA2.certFile, join(dir, 'client.crt'))
      await copyFile(pki.cliA2.keyFile, join(dir, 'client.key'))
      await eventually(async () => (await caller()) === 'carol', 3000, 'the new client certificate upstream')
      rotating = false
      await traffic
      assert.ok(statuses.length > 0)
      assert.deepEqual(statuses.filter((code) => code !== 200), [], `of ${statuses.length} requests`)
      const clientSubjects = (await gw.gateway.metrics.certificateExpiry.get()).values.filter((v) => v.labels.role === 'client').map((v) => v.labels.subject)
      assert.deepEqual([...new Set(clientSubjects)], ['CN=carol'], 'the expiry gauge follows the rotation')
    })

    // catalogue RR-09
    it('lets go of the config a reload replaced, its TLS servers and keys with it', async () => {
      setFlagsFromString('--expose-gc')
      const gc = runInNewContext('gc') as () => void
      assert.equal(await status(gw, 'one.test'), 200)
      const replaced = new WeakRef((gw.gateway as unknown as { current: object }).current)
      for (let i = 0; i < 3; i++) assert.equal((await gw.gateway.reload()).ok, true)
      assert.equal(await status(gw, 'one.test'), 200)
      // Once the timers and callbacks of the reloads have settled, however long a busy machine takes.
      const collected = async () => {
        gc()
        return replaced.deref() === undefined
      }
      await eventually(collected, 3000, 'a replaced snapshot let go of (still reachable: memory grows with every reload)')
    })

    it('says that a changed workers count waits for the next start', async () => {
      const good = await readFile(configFile, 'utf8')
      await writeFile(configFile, good.replace('listen:', 'workers: 3\nlisten:'))
      try {
        assert.deepEqual(await gw.gateway.reload(), { ok: true, errors: [], warnings: [] })
        assert.ok(gw.logs.some((line) => line.msg === 'workers changed; the new count applies at the next start' && line.workers === 3))
      } finally {
        await writeFile(configFile, good)
      }
      assert.deepEqual(await gw.gateway.reload(), { ok: true, errors: [], warnings: [] })
    })

    it('reloads on POST /reload, and answers 422 with the errors of a bad config', async () => {
      const since = gw.logs.length
      const ok = await httpRequest({ port: gw.ports.admin!, path: '/reload', method: 'POST' })
      assert.equal(ok.status, 200)
      assert.equal((await loggedAfter(gw, since, 'config reloaded')).trigger, 'POST /reload')
      const good = await readFile(configFile, 'utf8')
      try {
        await writeFile(configFile, good.replace('listen:', 'listne:'))
        const bad = await httpRequest({ port: gw.ports.admin!, path: '/reload', method: 'POST' })
        assert.equal(bad.status, 422)
        assert.match(bad.body, /unknown key 'listne'/)
        // Each level of 90 unclosed brackets was a line of its own in the answer and the log.
        await writeFile(configFile, `${good}x-deep: ${'['.repeat(90)}\n`)
        const deep = await httpRequest({ port: gw.ports.admin!, path: '/reload', method: 'POST' })
        assert.equal(deep.status, 422)
        const { errors } = JSON.parse(deep.body) as { errors: string[] }
        assert.equal(errors.length, 6, deep.body)
        assert.match(errors[5]!, /routes\.yaml:\d+:\d+: invalid YAML: … and 85 more YAML errors, not listed/)
        await writeFile(configFile, good.replace('http: 127.0.0.1:0', 'http: 127.0.0.1:1'))
        const moved = await httpRequest({ port: gw.ports.admin!, path: '/reload', method: 'POST' })
        assert.equal(moved.status, 422)
        assert.match(moved.body, /routes\.yaml:2:17 listen\.http: listener addresses changed; restart portcullis/, 'names the line of listen.http')
      } finally {
        await writeFile(configFile, good)
      }
    })
  })

  describe('at its pace of a reload a second at most', () => {
    let gw: TestGateway
    let configFile: string
    before(async () => {
      gw = await startGateway(`listen: { http: 127.0.0.1:0 }\nroutes:\n  - { host: one.test, upstream: { url: 'http://127.0.0.1:1' } }\n`)
      ;({ configFile } = gw)
    })
    after(() => gw.close())

    // catalogue RR-11
    it('reloads within a second or so while a file beside routes.yaml keeps changing', async () => {
      const good = await readFile(configFile, 'utf8')
      const noise = setInterval(() => void writeFile(join(dirname(configFile), 'noise.log'), String(Date.now())), 50)
      try {
        await writeFile(configFile, good.replace('  - { host: one.test', '  - { host: noisy.test, upstream: { url: \'http://127.0.0.1:1\' } }\n  - { host: one.test'))
        await eventually(async () => (await status(gw, 'noisy.test')) === 502, 2500, 'the new route, with the noise still going')
      } finally {
        clearInterval(noise)
        await writeFile(configFile, good)
      }
    })

    // catalogue RR-11: reloads start at most once a second, and the last edit is the one served.
    it('serves the last of 20 edits made 100 ms apart, in a few reloads', async () => {
      const good = await readFile(configFile, 'utf8')
      const reloads = async () => (await gw.gateway.metrics.configReloads.get()).values.reduce((sum, v) => sum + v.value, 0)
      const edited = (i: number) => good.replace('  - { host: one.test', `  - { host: edit${i}.test, upstream: { url: 'http://127.0.0.1:1' } }\n  - { host: one.test`)
      const before = await reloads()
      try {
        for (let i = 1; i <= 20; i++) {
          await writeFile(configFile, edited(i))
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        await eventually(async () => (await status(gw, 'edit20.test')) === 502, 3000, 'the last edit served')
        assert.equal(await status(gw, 'edit19.test'), 404)
        const applied = (await reloads()) - before
        assert.ok(applied >= 1 && applied <= 5, `${applied} reloads`)
      } finally {
        await writeFile(configFile, good)
        await eventually(async () => (await status(gw, 'edit20.test')) === 404, 3000, 'the file as it was')
      }
    })
  })

  /** A keep-alive client of one connection with CA A's client certificate, so a test can tell whether its connection survived. */
  const keepAliveAgent = () => new https.Agent({ keepAlive: true, maxSockets: 1, ca: pki.caS.cert, cert: pki.cliA.cert, key: pki.cliA.key })
  /** The status, and the client port of the connection that carried it. */
  const keepAliveGet = (gw: TestGateway, agent: https.Agent, host: string) =>
    new Promise<[number, number]>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: gw.ports.https!, servername: host, headers: { host }, agent }, (res) => {
          const port = res.socket.localPort!
          res.resume().on('end', () => resolve([res.statusCode!, port]))
        })
        .on('error', reject)
    })

  it('refuses an upstream that an edited upstream.ca no longer trusts, on its pooled connection too', async () => {
    const ca = join(dir, 'upstream-ca.pem')
    await copyFile(pki.caS.certFile, ca)
    const gw = await startGateway(
      `
listen: { http: 127.0.0.1:0 }
routes:
  - { host: ca.test, upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${ca}, cert: ${pki.cliA.certFile}, key: ${pki.cliA.keyFile}, serverName: up.test } }
`,
      { watch: false },
    )
    try {
      assert.equal(await status(gw, 'ca.test'), 200)
      // Another CA in the file's place: the upstream's certificate is no longer trusted.
      await copyFile(pki.caA.certFile, ca)
      assert.deepEqual(await gw.gateway.reload(), { ok: true, errors: [], warnings: [] })
      assert.equal(await status(gw, 'ca.test'), 502)
    } finally {
      await gw.close()
    }
  })

  // A routes.yaml that names a CA bundle yet to come is refused; the reload once it came named the bundle
  // alone as read anew, though it applied the new routes.yaml too: `changed` was against the refused attempt.
  it("names as changed every file that differs from the config served before, a refused reload's edit too", async () => {
    const configFile = join(dir, 'changed-since-served.yaml')
    const lateCa = join(dir, 'late-ca.pem')
    await writeFile(configFile, `listen: { http: 127.0.0.1:0 }\nroutes:\n  - { host: a.test, upstream: { url: 'http://127.0.0.1:9' } }\n`)
    const gw = await startGatewayFromFile(configFile, { watch: false, reloadIntervalMs: 0 })
    try {
      await writeFile(configFile, `listen: { http: 127.0.0.1:0 }\nroutes:\n  - { host: a.test, upstream: { url: 'https://127.0.0.1:9', ca: ${lateCa} } }\n`)
      assert.equal((await gw.gateway.reload()).ok, false)
      await copyFile(pki.caS.certFile, lateCa)
      const since = gw.logs.length
      assert.equal((await gw.gateway.reload()).ok, true)
      assert.deepEqual((await loggedAfter(gw, since, 'config reloaded')).changed, [configFile, lateCa])
    } finally {
      await gw.close()
    }
  })

  /** A gateway of one route, a.test, that asks for a client certificate of the CAs in `clientCAs`: CA A's until a test changes it. */
  const gatewayOfClientCAs = async (name: string, options: { reloadIntervalMs?: number } = {}) => {
    const clientCAs = join(dir, `${name}-cas.pem`)
    await copyFile(pki.caA.certFile, clientCAs)
    const configFile = join(dir, `${name}.yaml`)
    const to = `upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, cert: ${pki.cliA.certFile}, key: ${pki.cliA.keyFile}, serverName: up.test }`
    await writeFile(configFile, `listen: { https: 127.0.0.1:0 }\nroutes:\n  - { host: a.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${clientCAs} }, ${to} }\n`)
    return { gw: await startGatewayFromFile(configFile, options), clientCAs }
  }

  // catalogue RR-06, RR-08
  it('keeps the keep-alive connections whose client passes client CAs a reload changed, and closes the others once their response is out', async () => {
    // Three reloads back to back, none a second after the last.
    const { gw, clientCAs } = await gatewayOfClientCAs('mtls', { reloadIntervalMs: 0 })
    const agent = keepAliveAgent()
    const get = () => keepAliveGet(gw, agent, 'a.test')
    try {
      const [, port] = await get()
      assert.equal((await gw.gateway.reload()).ok, true)
      assert.deepEqual(await get(), [200, port], 'the same client CAs: the connection goes on')
      // A CA added to the bundle (as a CRL re-issued) is another TLS policy, which CA A's client passes.
      await copyFile(pki.caAB.certFile, clientCAs)
      assert.equal((await gw.gateway.reload()).ok, true)
      assert.deepEqual(await get(), [200, port], 'a client that passes the new client CAs: the connection goes on')

      // CA A leaves the bundle while a request is in flight (its body half sent): it is answered, then
      // its connection closes, and the client's next handshake is refused.
      const requestsBefore = upstream.requests.length
      const inFlight = https.request({ host: '127.0.0.1', port: gw.ports.https!, servername: 'a.test', method: 'POST', headers: { host: 'a.test' }, agent })
      const answered = once(inFlight, 'response') as Promise<[IncomingMessage]>
      inFlight.write('half')
      await eventually(async () => upstream.requests.length > requestsBefore, 3000, 'the request at the upstream')
      await copyFile(pki.caB.certFile, clientCAs)
      assert.equal((await gw.gateway.reload()).ok, true)
      inFlight.end(' and the rest')
      const [response] = await answered
      const body = JSON.parse(await text(response)) as EchoReply
      assert.deepEqual([response.statusCode, response.socket.localPort, body.body], [200, port, 'half and the rest'])
      await eventually(async () => response.socket.destroyed && Object.keys(agent.freeSockets).length === 0, 3000, 'its connection closed')
      const closed = gw.logs.filter((line) => String(line.msg).startsWith('connection closes after its response'))
      assert.deepEqual(
        closed.map(({ level, route, reason, client }) => [level, route, reason, client]),
        [[30, 'a.test', 'unknown_ca', '127.0.0.1']],
        'logged once, as a refused handshake is',
      )
      assert.doesNotMatch(JSON.stringify(gw.logs), /BEGIN|MII/, 'no certificate in the log')
      assert.equal((await get())[0], 400, 'a handshake under the new client CAs: its certificate refused')
    } finally {
      agent.destroy()
      await gw.close()
    }
  })

  it('holds a request that comes while a reload checks the clients of a changed policy until its own check, then serves it', async () => {
    const { gw, clientCAs } = await gatewayOfClientCAs('checked')
    // Connections checked before the agent's, one a turn of the event loop: its request comes meanwhile.
    const others = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const socket = tls.connect({ host: '127.0.0.1', port: gw.ports.https!, servername: 'a.test', ca: pki.caS.cert, cert: pki.cliA.cert, key: pki.cliA.key })
        await once(socket, 'secureConnect')
        return socket
      }),
    )
    const agent = keepAliveAgent()
    try {
      const [, port] = await keepAliveGet(gw, agent, 'a.test')
      await copyFile(pki.caAB.certFile, clientCAs)
      assert.equal((await gw.gateway.reload()).ok, true)
      assert.deepEqual(await keepAliveGet(gw, agent, 'a.test'), [200, port], 'served on its connection, not a 421')
    } finally {
      for (const socket of others) socket.destroy()
      agent.destroy()
      await gw.close()
    }
  })

  // catalogue RR-08
  it('closes the idle keep-alive connections of a route whose new client CAs its client fails, while another route keeps the old ones', async () => {
    // Both routes trust CA A at first: one TLS policy. The reload gives a.test its own bundle; b.test
    // keeps the old policy, so the old policy lives on.
    const aCAs = join(dir, 'a-cas.pem')
    await copyFile(pki.caA.certFile, aCAs)
    const configFile = join(dir, 'shared-policy.yaml')
    const to = `upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, cert: ${pki.cliA.certFile}, key: ${pki.cliA.keyFile}, serverName: up.test }`
    await writeFile(
      configFile,
      `
listen: { https: 127.0.0.1:0 }
routes:
  - { host: a.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${aCAs} }, ${to} }
  - { host: b.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile} }, ${to} }
`,
    )
    const gw = await startGatewayFromFile(configFile)
    const agents = { a: keepAliveAgent(), b: keepAliveAgent() }
    try {
      await keepAliveGet(gw, agents.a, 'a.test')
      const [, bPort] = await keepAliveGet(gw, agents.b, 'b.test')
      await copyFile(pki.caB.certFile, aCAs)
      assert.equal((await gw.gateway.reload()).ok, true)
      await eventually(async () => Object.keys(agents.a.freeSockets).length === 0, 3000, "a.test's idle connection closed")
      assert.equal((await keepAliveGet(gw, agents.a, 'a.test'))[0], 400, 'a handshake under the new client CAs: its certificate refused')
      assert.deepEqual(await keepAliveGet(gw, agents.b, 'b.test'), [200, bPort], "b.test's policy did not change: its connection goes on")
    } finally {
      agents.a.destroy()
      agents.b.destroy()
      await gw.close()
    }
  })

  it('closes a TLS 1.2 keep-alive connection once a reload makes its route take TLS 1.3 alone, and keeps a TLS 1.3 one', async () => {
    const configFile = join(dir, 'min-version.yaml')
    const routes = (minVersion: string) => `
listen: { https: 127.0.0.1:0 }
routes:
  - host: a.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.caA.certFile}, minVersion: ${minVersion} }
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, cert: ${pki.cliA.certFile}, key: ${pki.cliA.keyFile}, serverName: up.test }
`
    await writeFile(configFile, routes('TLSv1.2'))
    const gw = await startGatewayFromFile(configFile)
    const agents = { tls12: new https.Agent({ keepAlive: true, maxSockets: 1, ca: pki.caS.cert, cert: pki.cliA.cert, key: pki.cliA.key, maxVersion: 'TLSv1.2' }), tls13: keepAliveAgent() }
    try {
      await keepAliveGet(gw, agents.tls12, 'a.test')
      const [, port13] = await keepAliveGet(gw, agents.tls13, 'a.test')
      await writeFile(configFile, routes('TLSv1.3'))
      assert.equal((await gw.gateway.reload()).ok, true)
      await eventually(async () => Object.keys(agents.tls12.freeSockets).length === 0, 3000, 'the TLS 1.2 connection closed')
      assert.deepEqual(await keepAliveGet(gw, agents.tls13, 'a.test'), [200, port13], 'the TLS 1.3 connection goes on')
    } finally {
      agents.tls12.destroy()
      agents.tls13.destroy()
      await gw.close()
    }
  })

  // catalogue IM-12, RR-06, RR-07
  it('never resumes a session verified under client CAs or CRLs that a reload changed (Envoy CVE-2022-21654)', async () => {
    const clientCAs = join(dir, 'resumed-cas.pem')
    const intCrl = join(dir, 'resumed-int.crl')
    await copyFile(pki.caA.certFile, clientCAs)
    await copyFile(pki.crlIntEmpty.file, intCrl)
    const configFile = join(dir, 'resumed.yaml')
    const to = `upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, cert: ${pki.cliA.certFile}, key: ${pki.cliA.keyFile}, serverName: up.test }`
    const cert = `cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}`
    await writeFile(
      configFile,
      `
listen: { https: 127.0.0.1:0 }
routes:
  - { host: a.test, tls: { ${cert}, clientCAs: ${clientCAs} }, ${to} }
  - { host: chain.w.test, tls: { ${cert}, clientCAs: ${pki.root.certFile}, crl: [${pki.crlRootEmpty.file}, ${intCrl}] }, ${to} }
`,
    )
    const gw = await startGatewayFromFile(configFile)
    const connect = (servername: string, version: tls.SecureVersion, client?: { cert: string; key: string }, session?: Buffer) =>
      sessionExchange({ port: gw.ports.https!, servername, version, ca: pki.caS.cert, ...client, ...(session && { session }) })
    try {
      const versions = ['TLSv1.3', 'TLSv1.2'] as const
      const sessions = []
      for (const version of versions) {
        const a = await connect('a.test', version, pki.cliA)
        const chain = await connect('chain.w.test', version, pki.leafChain)
        assert.deepEqual([a.status, chain.status], ['200', '200'])
        // Without a certificate, as the attack offers it: before the reload, the session stands for one.
        assert.deepEqual(await connect('a.test', version, undefined, a.session), { resumed: true, status: '200', session: a.session })
        sessions.push({ version, a: a.session!, chain: chain.session! })
      }
      // CA A leaves a.test's bundle, and the intermediate's re-issued CRL revokes the leaf.
      await copyFile(pki.caB.certFile, clientCAs)
      await copyFile(pki.crlIntRevokesLeaf.file, intCrl)
      assert.equal((await gw.gateway.reload()).ok, true)
      const requestsBefore = upstream.requests.length
      for (const { version, a, chain } of sessions) {
        assert.deepEqual(await connect('a.test', version, undefined, a), { resumed: false, status: undefined, session: a }, `${version}: a.test`)
        assert.deepEqual(await connect('chain.w.test', version, undefined, chain), { resumed: false, status: undefined, session: chain }, `${version}: chain.w.test`)
      }
      assert.equal(upstream.requests.length, requestsBefore, 'nothing reached the upstream')
      // catalogue RR-06, RR-07: full handshakes follow the new bundle and the new CRL.
      assert.equal((await connect('a.test', 'TLSv1.3', pki.cliB)).status, '200', 'a client of the CA added')
      assert.equal((await connect('a.test', 'TLSv1.3', pki.cliA)).status, '400', 'a client of the CA removed')
      assert.equal((await connect('chain.w.test', 'TLSv1.3', pki.leafChain)).status, '400', 'a client the new CRL revokes')
    } finally {
      await gw.close()
    }
  })

  // A session ticket carries the leaf alone, and the chain is read at a full handshake only where a
  // route forwards it: a reload that begins to forward it must not resume the sessions of before.
  it('resumes no session of before a reload that makes its route forward the client chain (rfc9440)', async () => {
    const configFile = join(dir, 'chain-forwarded.yaml')
    const config = (forwardClientCert: string) => `
listen: { https: 127.0.0.1:0 }
routes:
  - host: chain.w.test
    tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.root.certFile}, forwardClientCert: ${forwardClientCert} }
    upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, cert: ${pki.cliA.certFile}, key: ${pki.cliA.keyFile}, serverName: up.test }
`
    await writeFile(configFile, config('xfcc'))
    const gw = await startGatewayFromFile(configFile)
    const connect = (session?: Buffer) =>
      sessionExchange({ port: gw.ports.https!, servername: 'chain.w.test', version: 'TLSv1.3', ca: pki.caS.cert, ...pki.leafChain, ...(session && { session }) })
    try {
      const first = await connect()
      assert.equal(first.status, '200')
      assert.equal((await connect(first.session)).resumed, true, 'resumed before the reload')
      await writeFile(configFile, config('rfc9440'))
      assert.equal((await gw.gateway.reload()).ok, true)
      const after = await connect(first.session)
      assert.deepEqual([after.resumed, after.status], [false, '200'], 'a full handshake, which reads the chain')
    } finally {
      await gw.close()
    }
  })

  it('closes the pooled upstream connections of an upstream.ca a reload changed, and verifies the next one anew (catalogue UV-09)', async () => {
    const own = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    const upstreamCa = join(dir, 'upstream-ca.pem')
    await copyFile(pki.caS.certFile, upstreamCa)
    const configFile = join(dir, 'upstream-ca.yaml')
    await writeFile(configFile, `listen: { http: 127.0.0.1:0 }\nroutes:\n  - { host: up.test, upstream: { url: 'https://127.0.0.1:${own.port}', ca: ${upstreamCa} } }\n`)
    const gw = await startGatewayFromFile(configFile, { reloadIntervalMs: 0 })
    const openAtUpstream = () => new Promise<number>((resolve, reject) => own.server.getConnections((error, count) => (error ? reject(error) : resolve(count))))
    try {
      assert.deepEqual([await status(gw, 'up.test'), await status(gw, 'up.test')], [200, 200])
      assert.equal(await openAtUpstream(), 1, 'one pooled connection')
      // The upstream's CA leaves the bundle: the pooled connection and its TLS session go with the old pool.
      await copyFile(pki.caOther.certFile, upstreamCa)
      assert.deepEqual(await gw.gateway.reload(), { ok: true, errors: [], warnings: [] })
      await eventually(async () => (await openAtUpstream()) === 0, 3000, 'the pooled connection closed')
      const requestsBefore = own.requests.length
      assert.equal(await status(gw, 'up.test'), 502)
      assert.equal(own.requests.length, requestsBefore, 'nothing reached the upstream')
    } finally {
      await gw.close()
      await own.close()
    }
  })

  // catalogue RR-02
  it('serves a route added by a Kubernetes ConfigMap update (..data symlink swap)', async () => {
    const volume = join(dir, 'configmap')
    await mkdir(join(volume, '..2026_11_28_v1'), { recursive: true })
    await writeFile(join(volume, '..2026_11_28_v1', 'routes.yaml'), routesYaml(['one.test'], pki.cliA.certFile, pki.cliA.keyFile))
    await symlink('..2026_11_28_v1', join(volume, '..data'))
    await symlink('..data/routes.yaml', join(volume, 'routes.yaml'))
    const gw = await startGatewayFromFile(join(volume, 'routes.yaml'))
    try {
      await mkdir(join(volume, '..2026_11_28_v2'))
      await writeFile(join(volume, '..2026_11_28_v2', 'routes.yaml'), routesYaml(['one.test', 'k8s.test'], pki.cliA.certFile, pki.cliA.keyFile))
      await symlink('..2026_11_28_v2', join(volume, '..data_tmp'))
      await rename(join(volume, '..data_tmp'), join(volume, '..data'))
      await rm(join(volume, '..2026_11_28_v1'), { recursive: true })
      await served(gw, 'k8s.test')
    } finally {
      await gw.close()
    }
  })

  // Only the file's folder and the one above it were watched: a swap higher up changed nothing there.
  it('serves a route added by swapping a release symlink two folders above routes.yaml', async () => {
    // Every file the config names sits in a quiet folder, whose parent is not app's folder either: a
    // change in a folder watched for another file (the temp folder above them all, or the folder of
    // `current`) would reload the config, fix or no fix.
    const app = join(dir, 'app')
    const shared = join(dir, 'release-test-files', 'upstream')
    await mkdir(shared, { recursive: true })
    const files = { ca: pki.caS.certFile, cert: pki.cliA.certFile, key: pki.cliA.keyFile }
    for (const [name, file] of Object.entries(files)) await copyFile(file, join(shared, `${name}.pem`))
    const upstreamOf = `{ url: 'https://127.0.0.1:${upstream.port}', ca: ${join(shared, 'ca.pem')}, cert: ${join(shared, 'cert.pem')}, key: ${join(shared, 'key.pem')}, serverName: up.test }`
    const routes = (hosts: readonly string[]) =>
      `listen: { http: 127.0.0.1:0 }\nroutes:\n${hosts.map((host) => `  - { host: ${host}, upstream: ${upstreamOf} }`).join('\n')}\n`
    for (const [release, hosts] of [['1', ['one.test']], ['2', ['one.test', 'release.test']]] as const) {
      await mkdir(join(app, 'releases', release, 'config'), { recursive: true })
      await writeFile(join(app, 'releases', release, 'config', 'routes.yaml'), routes(hosts))
    }
    await symlink(join('releases', '1'), join(app, 'current'))
    const gw = await startGatewayFromFile(join(app, 'current', 'config', 'routes.yaml'))
    try {
      await symlink(join('releases', '2'), join(app, 'current.new'))
      await rename(join(app, 'current.new'), join(app, 'current'))
      await served(gw, 'release.test')
    } finally {
      await gw.close()
    }
  })

  // routes.yaml edited while the gateway started, after its load had read the file and before its
  // folders were watched, was never reloaded: no watcher event told of the edit, and the digest the
  // start kept was the edited file's. With `workers`, that worker served the old routes beside the others.
  it('reloads an edit of routes.yaml made while the gateway starts', async () => {
    const configFile = join(dir, 'edited-at-start.yaml')
    const routes = (hosts: string[]) => routesYaml(hosts, pki.cliA.certFile, pki.cliA.keyFile)
    await writeFile(configFile, routes(['one.test']))
    /** Saves an edit of its file once, just after its first load has read it. */
    class EditedAfterItsRead extends ConfigLoader {
      private edited = false
      override async load() {
        const loaded = await super.load()
        if (!this.edited) writeFileSync(this.file, routes(['one.test', 'edited.test']))
        this.edited = true
        return loaded
      }
    }
    const gw = await startGatewayFromFile(configFile, { loader: new EditedAfterItsRead(configFile) })
    try {
      await served(gw, 'edited.test')
    } finally {
      await gw.close()
    }
  })

  // A reload closed every watch and laid it again at its end, all in the turn of the event loop that read
  // the files: the event of a file written meanwhile, waiting to be read, went with the closed watch,
  // and that edit was never reloaded (a key copied in just after its certificate, the reload of which
  // was under way).
  it('reloads an edit saved while a reload reads the files', async () => {
    // Folders of their own, two deep: no other test's file events wake the watcher by chance.
    const folder = join(dir, 'edited-during-reload', 'conf')
    await mkdir(folder, { recursive: true })
    const configFile = join(folder, 'routes.yaml')
    const routes = (hosts: string[]) => `listen: { http: 127.0.0.1:0 }\nroutes:\n${hosts.map((host) => `  - { host: ${host}, upstream: { url: 'http://127.0.0.1:9' } }\n`).join('')}`
    await writeFile(configFile, routes(['one.test']))
    /** Saves an edit of its file once, just after a reload's load has read it. */
    class EditedAfterAReloadRead extends ConfigLoader {
      private loads = 0
      override async load() {
        const loaded = await super.load()
        if (++this.loads === 2) writeFileSync(this.file, routes(['one.test', 'edited.test']))
        return loaded
      }
    }
    const gw = await startGatewayFromFile(configFile, { loader: new EditedAfterAReloadRead(configFile), reloadIntervalMs: 0 })
    try {
      assert.equal((await gw.gateway.reload()).ok, true)
      await eventually(async () => (await status(gw, 'edited.test')) !== 404, 3000, 'edited.test routed')
    } finally {
      await gw.close()
    }
  })

  // `./routes.yaml`, the default, was read by its path relative to the working folder: once that
  // folder was removed and created again, the process still held the old one, where no routes.yaml was
  // left, and every reload failed (ENOENT), SIGHUP and POST /reload too, until a restart.
  it('reloads a relative routes.yaml whose folder, the working folder, is removed and created again', async () => {
    const folder = join(dir, 'working-folder-recreated', 'portcullis')
    const routes = (hosts: string[]) => `listen: { http: 127.0.0.1:0 }\nroutes:\n${hosts.map((host) => `  - { host: ${host}, upstream: { url: 'http://127.0.0.1:9' } }\n`).join('')}`
    await mkdir(folder, { recursive: true })
    await writeFile(join(folder, 'routes.yaml'), routes(['one.test']))
    const gateway = runPortcullis('routes.yaml', { cwd: folder })
    try {
      const { http: { port } } = (await gateway.logged('portcullis is serving')).listeners as { http: { port: number } }
      await rm(folder, { recursive: true })
      await mkdir(folder)
      await writeFile(join(folder, 'routes.yaml'), routes(['one.test', 'edited.test']))
      await eventually(async () => (await httpRequest({ port, host: 'edited.test' })).status !== 404, 3000, 'edited.test routed')
    } finally {
      gateway.child.kill('SIGTERM')
      await gateway.exited
    }
  })

  describe('of certificate folders away from routes.yaml', () => {
    /** Longer than the watcher's debounce: each step is an event of its own. */
    const pause = () => new Promise((resolve) => setTimeout(resolve, 400))
    const layout = async (name: string) => {
      const root = join(dir, name)
      await mkdir(join(root, 'conf'), { recursive: true })
      return { root, configFile: join(root, 'conf', 'routes.yaml'), secret: join(root, 'secrets', 'tls') }
    }
    const tlsRoute = (folder: string) =>
      `listen: { https: 127.0.0.1:0 }\nroutes:\n  - { host: localhost, tls: { cert: ${folder}/tls.crt, key: ${folder}/tls.key }, upstream: { url: 'http://127.0.0.1:9' } }\n`
    const fill = async (folder: string, pair: { certFile: string; keyFile: string }) => {
      await mkdir(folder, { recursive: true })
      await copyFile(pair.certFile, join(folder, 'tls.crt'))
      await copyFile(pair.keyFile, join(folder, 'tls.key'))
    }

    /**
     * A gateway serving `secret`'s certificate (srv, as `populate` lays it out: plain files by default)
     * from a config in another folder, for the test's edits.
     */
    const withGateway = async (
      name: string,
      test: (gw: TestGateway, paths: Awaited<ReturnType<typeof layout>>) => Promise<void>,
      populate = (secret: string) => fill(secret, pki.srv),
    ) => {
      const paths = await layout(name)
      await populate(paths.secret)
      await writeFile(paths.configFile, tlsRoute(paths.secret))
      // Reloads back to back, as each step is an event of its own: the pace has tests of its own.
      const gw = await startGatewayFromFile(paths.configFile, { reloadIntervalMs: 0 })
      try {
        await test(gw, paths)
      } finally {
        await gw.close()
        await rm(paths.root, { recursive: true })
      }
    }

    it('keeps watching a certificate folder that is replaced by mv, and the new folder after it', () =>
      withGateway('replaced', async (gw, { secret }) => {
        await fill(`${secret}.new`, pki.up)
        await rename(secret, `${secret}.old`)
        await rename(`${secret}.new`, secret)
        await eventually(async () => (await servedCertificateCN(gw)) === 'up.test', 3000, 'the certificate of the new folder')
        await pause()
        await fill(secret, pki.srv)
        await eventually(async () => (await servedCertificateCN(gw)) === 'srv', 3000, 'a certificate copied into the new folder')
      }))

    it('keeps watching a certificate folder that is removed and created again (often with the same inode)', () =>
      withGateway('recreated', async (gw, { secret }) => {
        await rm(secret, { recursive: true })
        await mkdir(secret)
        await pause()
        await fill(secret, pki.up)
        await eventually(async () => (await servedCertificateCN(gw)) === 'up.test', 3000, 'the certificate of the recreated folder')
      }))

    // The folder of a symlinked certificate's target was watched while it existed only: once it was
    // removed, the watches were laid on the symlinks' folder, where nothing moves when it comes back.
    it('keeps watching the folder a certificate is symlinked into when it is removed and created again', () =>
      withGateway(
        'symlinked-recreated',
        async (gw, { root }) => {
          const target = join(root, 'vault', 'tls')
          await rm(target, { recursive: true })
          await pause()
          await fill(target, pki.up)
          await eventually(async () => (await servedCertificateCN(gw)) === 'up.test', 3000, 'the certificate of the recreated folder')
        },
        async (secret) => {
          const target = join(dirname(dirname(secret)), 'vault', 'tls')
          await fill(target, pki.srv)
          await mkdir(secret, { recursive: true })
          for (const name of ['tls.crt', 'tls.key']) await symlink(join(target, name), join(secret, name))
        },
      ))

    // catalogue RR-02: a kubernetes.io/tls Secret volume, each file a symlink through ..data, which a
    // rename swaps to a new dated folder; a watch of the file's own path never sees it.
    it('serves the certificate of a Secret volume whose ..data symlink is swapped (Kubernetes)', () =>
      withGateway(
        'secret-volume',
        async (gw, { secret }) => {
          assert.equal(await servedCertificateCN(gw), 'srv')
          await fill(join(secret, '..v2'), pki.up)
          await symlink('..v2', join(secret, '..data_tmp'))
          await rename(join(secret, '..data_tmp'), join(secret, '..data'))
          await rm(join(secret, '..v1'), { recursive: true })
          await eventually(async () => (await servedCertificateCN(gw)) === 'up.test', 3000, 'the certificate of the new ..data')
        },
        async (secret) => {
          await fill(join(secret, '..v1'), pki.srv)
          await symlink('..v1', join(secret, '..data'))
          for (const name of ['tls.crt', 'tls.key']) await symlink(join('..data', name), join(secret, name))
        },
      ))

    // catalogue RR-03: `cat new > tls.crt` and `touch -r` to the old time: only the bytes tell.
    it('serves a certificate rewritten in place whose files keep their old modification times', () =>
      withGateway('in-place', async (gw, { secret }) => {
        const pairs = [[join(secret, 'tls.crt'), pki.up.certFile], [join(secret, 'tls.key'), pki.up.keyFile]] as const
        const contents = await Promise.all(pairs.map(([, source]) => readFile(source)))
        // In one turn of the event loop, as `cat` and `touch -r` would have it done before any watcher looks.
        pairs.forEach(([file], i) => {
          const { atime, mtime } = statSync(file)
          writeFileSync(file, contents[i]!)
          utimesSync(file, atime, mtime)
        })
        await eventually(async () => (await servedCertificateCN(gw)) === 'up.test', 3000, 'the rewritten certificate')
      }))

    /** Writes a new certificate without its key, and waits for the reload it makes, which waits for a key that matches. */
    const newCertificateAlone = async (gw: TestGateway, secret: string) => {
      const before = await failures(gw)
      const since = gw.logs.length
      await copyFile(pki.up.certFile, join(secret, 'tls.crt'))
      await loggedAfter(gw, since, 'reload waits for a key that matches its certificate')
      return { before, since }
    }

    // catalogue RR-03: a certificate written well before its key never serves beside the old key, and
    // `cp tls.crt; sleep 1; cp tls.key` is no failed reload (an alert on those would fire).
    it('serves the old pair while a new certificate waits for its key, then the new pair, and counts no failure', () =>
      withGateway('cert-then-key', async (gw, { secret }) => {
        const { before, since } = await newCertificateAlone(gw, secret)
        assert.equal(await servedCertificateCN(gw), 'srv')
        await new Promise((resolve) => setTimeout(resolve, 1000))
        await copyFile(pki.up.keyFile, join(secret, 'tls.key'))
        await eventually(async () => (await servedCertificateCN(gw)) === 'up.test', 3000, 'the new pair')
        // Past the time the refusal was held for: it is never counted.
        await new Promise((resolve) => setTimeout(resolve, KEY_MISMATCH_SETTLE_MS))
        assert.equal(await failures(gw), before)
        assert.deepEqual(gw.logs.slice(since).filter((line) => String(line.msg).startsWith('reload failed')), [])
      }))

    it('counts and logs a certificate left without its key once the time a key may take is over', () =>
      withGateway('cert-alone', async (gw, { secret }) => {
        const { before, since } = await newCertificateAlone(gw, secret)
        assert.equal(await failures(gw), before)
        await eventually(async () => (await failures(gw)) === before + 1, KEY_MISMATCH_SETTLE_MS + 3000, 'the refusal counted')
        const failed = await loggedAfter(gw, since, 'reload failed, previous config still serving')
        assert.match(String((failed.errors as string[])[0]), /tls\.key is not the private key of .*tls\.crt/)
        assert.equal(await servedCertificateCN(gw), 'srv')
      }))

    // catalogue RR-04
    it('serves the old certificate when its file is emptied or its key removed, and refuses each once', () =>
      withGateway('emptied', async (gw, { secret }) => {
        const before = await failures(gw)
        await writeFile(join(secret, 'tls.crt'), '')
        await eventually(async () => (await failures(gw)) === before + 1, 3000, 'the empty certificate refused')
        assert.equal(await servedCertificateCN(gw), 'srv')
        await rm(join(secret, 'tls.key'))
        await eventually(async () => (await failures(gw)) === before + 2, 3000, 'the missing key refused')
        assert.equal(await servedCertificateCN(gw), 'srv')
        await pause()
        await pause()
        assert.equal(await failures(gw), before + 2, 'no reload again while the files stay as they are')
      }))

    it('picks up a missing certificate whose folders are created one step at a time', () =>
      withGateway('late', async (gw, { root, secret }) => {
        const before = await failures(gw)
        await rm(join(root, 'secrets'), { recursive: true })
        await eventually(async () => (await failures(gw)) > before, 3000, 'a failed reload')
        await mkdir(join(root, 'secrets'))
        await pause()
        await mkdir(secret)
        await pause()
        await copyFile(pki.up.certFile, join(secret, 'tls.crt'))
        await pause()
        await copyFile(pki.up.keyFile, join(secret, 'tls.key'))
        await eventually(async () => (await servedCertificateCN(gw)) === 'up.test', 3000, 'the certificate that arrived')
      }))
  })

  async function servedCertificateCN(gw: TestGateway): Promise<string> {
    const socket = tls.connect({ port: gw.ports.https!, host: '127.0.0.1', servername: 'localhost', ca: pki.caS.cert })
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    const cn = socket.getPeerCertificate().subject.CN
    socket.destroy()
    return String(cn)
  }
})

describe('config warnings in the log', () => {
  it('logs each warning when it first appears, at most 20 lines a load', async () => {
    const pki = await makeTestPki()
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-warnings-'))
    // 25 routes whose certificate names none of their hosts.
    const routes = (count: number) =>
      Array.from({ length: count }, (_, i) => `  - { host: h${i}.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile} }, upstream: { url: 'http://127.0.0.1:9' } }`)
    const configFile = join(dir, 'routes.yaml')
    await writeFile(configFile, `listen: { https: 127.0.0.1:0 }\nroutes:\n${routes(25).join('\n')}\n`)
    // Two reloads back to back, not a second apart.
    const gw = await startGatewayFromFile(configFile, { reloadIntervalMs: 0 })
    const warnings = () => gw.logs.filter((line) => String(line.msg).startsWith('config warning: ')).map((line) => String(line.msg))
    try {
      assert.equal(warnings().length, 21)
      assert.match(warnings()[0]!, /routes\[0\]\.tls\.cert: does not name h0\.test/)
      assert.equal(warnings()[20], 'config warning: 5 more; portcullis check lists them all')
      // The reload's answer lists them all, each time.
      const reloaded = async () => {
        const result = await gw.gateway.reload()
        return { ok: result.ok, errors: result.errors, warnings: result.warnings.length }
      }
      assert.deepEqual(await reloaded(), { ok: true, errors: [], warnings: 25 })
      assert.equal(warnings().length, 21, 'an unchanged config logs nothing again')
      await writeFile(configFile, `listen: { https: 127.0.0.1:0 }\nroutes:\n${routes(26).join('\n')}\n`)
      assert.deepEqual(await reloaded(), { ok: true, errors: [], warnings: 26 })
      assert.match(warnings().at(-1)!, /routes\[25\]\.tls\.cert: does not name h25\.test/, 'only the new one')
      assert.equal(warnings().length, 22)
    } finally {
      await gw.close()
      await pki.cleanup()
      await rm(dir, { recursive: true, force: true })
    }
  })

  // POST /reload answered {"result":"success","errors":[]} while the log said that the config it loaded
  // turned upstream verification off.
  it('answers POST /reload with the warnings of the config it loaded, as the log says them, and of one it refuses those known beside its problems', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-reload-warnings-'))
    const configFile = join(dir, 'routes.yaml')
    const good = `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\nroutes:\n  - { host: a.test, upstream: { url: 'http://127.0.0.1:9' } }\n`
    await writeFile(configFile, good)
    const gw = await startGatewayFromFile(configFile, { reloadIntervalMs: 0 })
    const postReload = async () => {
      const { status, body } = await httpRequest({ port: gw.ports.admin!, path: '/reload', method: 'POST' })
      return { status, ...(JSON.parse(body) as { result: string; errors: string[]; warnings: string[] }) }
    }
    try {
      await writeFile(configFile, `${good}  - { host: b.test, upstream: { url: 'https://127.0.0.1:9', insecureSkipVerify: true } }\n`)
      const since = gw.logs.length
      const reloaded = await postReload()
      const logged = gw.logs.slice(since).filter((line) => String(line.msg).startsWith('config warning: ')).map((line) => String(line.msg).slice('config warning: '.length))
      assert.deepEqual(logged, [`${configFile}:4:81 routes[1].upstream.insecureSkipVerify: upstream certificate verification is off`])
      assert.deepEqual(reloaded, { status: 200, result: 'success', errors: [], warnings: logged })
      // The log says a warning once, at the load that brings it; the answer says every warning of the config loaded.
      assert.deepEqual(await postReload(), { status: 200, result: 'success', errors: [], warnings: logged })
      // A value the schema refused is read as its default: warnings of that config could be of one never written.
      await writeFile(configFile, good.replace('listen:', 'listne:'))
      const refused = await postReload()
      assert.deepEqual([refused.status, refused.result, refused.warnings], [422, 'failure', []])
      // A file missing leaves the config as written: its warnings are known, and said with the problem, in the log too.
      const skipping = `  - { host: b.test, upstream: { url: 'https://127.0.0.1:9', insecureSkipVerify: true, cert: missing.crt, key: missing.key } }\n`
      await writeFile(configFile, `${good}${skipping}`)
      const beforeMissing = gw.logs.length
      const missing = await postReload()
      const warning = `${configFile}:4:81 routes[1].upstream.insecureSkipVerify: upstream certificate verification is off`
      assert.deepEqual([missing.status, missing.errors.length, missing.warnings], [422, 2, [warning]])
      const record = gw.logs.slice(beforeMissing).find((line) => line.msg === 'reload failed, previous config still serving')
      assert.deepEqual(record?.warnings, [warning])
    } finally {
      await gw.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('logs at most 20 of the problems of a failed reload, which answers with them all', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-reload-errors-'))
    const configFile = join(dir, 'routes.yaml')
    const route = (i: number, upstream: string) => `  - { host: h${i}.test, upstream: { url: '${upstream}' } }`
    await writeFile(configFile, `listen: { http: 127.0.0.1:0 }\nroutes:\n${route(0, 'http://127.0.0.1:9')}\n`)
    const gw = await startGatewayFromFile(configFile, { reloadIntervalMs: 0 })
    const failures = () => gw.logs.filter((line) => String(line.msg).startsWith('reload failed, '))
    try {
      // 25 routes whose upstream url is no url.
      await writeFile(configFile, `listen: { http: 127.0.0.1:0 }\nroutes:\n${Array.from({ length: 25 }, (_, i) => route(i, 'nowhere')).join('\n')}\n`)
      const result = await gw.gateway.reload()
      assert.equal(result.ok, false)
      assert.equal(result.errors.length, 25)
      assert.equal(failures().length, 1)
      const logged = failures()[0]!.errors as string[]
      assert.equal(logged.length, 21)
      assert.match(logged[0]!, /routes\[0\]\.upstream\.url/)
      assert.equal(logged[20], '5 more problems; portcullis check lists them all')
    } finally {
      await gw.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

// A CRL set without the CRL of a root CA of the route's clientCAs: OpenSSL checks the CRL of every CA
// of a chain, the root's too, so every client would be refused. nginx, HAProxy and Envoy load it.
describe('a CRL set that can only refuse every client', () => {
  it('is refused at start, and by a reload, which keeps the last good config serving', async () => {
    const pki = await makeTestPki()
    const upstream = await startEchoUpstream({ cert: pki.up.cert, key: pki.up.key })
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-crl-set-'))
    const crl = join(dir, 'clients.crl')
    const configFile = join(dir, 'routes.yaml')
    await writeFile(
      configFile,
      `listen: { https: 127.0.0.1:0 }
routes:
  - { host: chain.w.test, tls: { cert: ${pki.srv.certFile}, key: ${pki.srv.keyFile}, clientCAs: ${pki.root.certFile}, crl: ${crl} }, upstream: { url: 'https://127.0.0.1:${upstream.port}', ca: ${pki.caS.certFile}, serverName: up.test } }
`,
    )
    const refusal = /routes\.yaml:3:\d+ routes\[0\]\.tls\.crl: .*clients\.crl holds no CRL of a root CA of .*root\.crt \(CN=Test Root CA\)/
    let gw: TestGateway | undefined
    try {
      await writeFile(crl, pki.crlOther.pem)
      const start = await startGatewayFromFile(configFile).then(
        (started) => started.close().then(() => 'started'),
        (error: Error) => error.message,
      )
      assert.match(start, refusal)
      await writeFile(crl, pki.crlRootEmpty.pem + pki.crlIntEmpty.pem)
      gw = await startGatewayFromFile(configFile, { reloadIntervalMs: 0 })
      const client = { port: gw.ports.https!, servername: 'chain.w.test', ca: pki.caS.cert, cert: pki.leafChain.cert, key: pki.leafChain.key }
      assert.equal((await httpsRequest(client)).status, 200)
      for (const crls of [pki.crlOther.pem, pki.crlIntEmpty.pem]) {
        await writeFile(crl, crls)
        const { ok, errors } = await gw.gateway.reload()
        assert.equal(ok, false)
        assert.match(errors.join('\n'), refusal)
        assert.equal((await httpsRequest(client)).status, 200, 'the last good config serves')
      }
    } finally {
      await gw?.close()
      await upstream.close()
      await pki.cleanup()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

// A tester's wrk flood of POST /reload (50 a second) queued one full reload per request on the event
// loop that serves traffic: the proxied rate fell from 7,900 to 5 req/s.
describe('reloads asked for together', () => {
  let gw: TestGateway
  const config = (hosts: string[]) => `
listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
${hosts.map((host) => `  - { host: ${host}, upstream: { url: 'http://127.0.0.1:1' } }`).join('\n')}
`
  before(async () => {
    gw = await startGateway(config(['a.test']))
  })
  after(() => gw.close())

  const successes = async (of = gw) => (await of.gateway.metrics.configReloads.get()).values.find((v) => v.labels.result === 'success')?.value ?? 0
  /** The 'config reloaded' lines logged from `from` on. */
  const reloadedLines = (from: number) => gw.logs.slice(from).filter((line) => line.msg === 'config reloaded')
  const postReload = (to = gw) => httpRequest({ port: to.ports.admin!, path: '/reload', method: 'POST' })

  // catalogue RR-11
  it('answers 30 concurrent POST /reload, each with the result of a reload, in at most two reloads', async () => {
    const before = await successes()
    const logged = gw.logs.length
    const replies = await Promise.all(Array.from({ length: 30 }, postReload))
    for (const reply of replies) assert.deepEqual([reply.status, JSON.parse(reply.body)], [200, { result: 'success', errors: [], warnings: [] }])
    assert.ok((await successes()) - before <= 2, `${(await successes()) - before} reloads`)
    const lines = reloadedLines(logged) as { trigger: string; requests: Record<string, number> }[]
    assert.deepEqual(new Set(lines.map((line) => line.trigger)), new Set(['POST /reload']))
    // File events may join (the watcher follows the temp folder's parent too); the POSTs are all counted.
    assert.equal(lines.reduce((sum, line) => sum + (line.requests['POST /reload'] ?? 0), 0), 30, 'every request is in the count of the run it shared')
  })

  it('reloads nothing for a file event that changed no file, and holds no POST /reload back for it', { timeout: 10_000 }, async (t) => {
    // A gateway of its own, that has not reloaded yet, with a reload interval longer than the test:
    // had the event taken a run, the POST would wait out that hour behind it, and the test time out.
    const own = await startGateway(config(['a.test']), { reloadIntervalMs: 3_600_000 })
    t.after(() => own.close())
    const before = await successes(own)
    assert.deepEqual(await own.gateway.reload({ onlyIfChanged: true, trigger: 'file change' }), { ok: true, errors: [], warnings: [] })
    assert.equal(await successes(own), before)
    assert.equal((await postReload(own)).status, 200)
    assert.equal(await successes(own), before + 1)
  })

  it('reloads nothing for a file event after a reload that changed which files the config names, and sees those files change', async (t) => {
    const pki = await makeTestPki()
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-digests-'))
    t.after(async () => {
      await pki.cleanup()
      await rm(dir, { recursive: true, force: true })
    })
    const [one, two, configFile] = ['one.crt', 'two.crt', 'routes.yaml'].map((name) => join(dir, name)) as [string, string, string]
    await copyFile(pki.caS.certFile, one)
    await copyFile(pki.caS.certFile, two)
    const naming = (ca: string) => `
listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
routes:
  - { host: a.test, upstream: { url: 'https://127.0.0.1:1', ca: ${ca} } }
`
    await writeFile(configFile, naming(one))
    // Reloads come from the calls below alone.
    const own = await startGatewayFromFile(configFile, { watch: false, reloadIntervalMs: 0 })
    t.after(() => own.close())
    const fileEvent = () => own.gateway.reload({ onlyIfChanged: true, trigger: 'file change' })

    await writeFile(configFile, naming(two))
    assert.deepEqual(await fileEvent(), { ok: true, errors: [], warnings: [] })
    const reloaded = await successes(own)
    // An event of another file of a watched folder (the gateway's own log): nothing changed since.
    await fileEvent()
    assert.equal(await successes(own), reloaded, 'no second reload')
    await appendFile(two, pki.caA.cert)
    await fileEvent()
    assert.equal(await successes(own), reloaded + 1, 'a change of the file new to the config reloads')
  })

  it('reloads a file change and a SIGHUP that come together once, under the SIGHUP', async () => {
    const before = await successes()
    const logged = gw.logs.length
    await writeFile(gw.configFile, `${config(['a.test'])}# edited\n`)
    const results = await Promise.all([gw.gateway.reload({ onlyIfChanged: true, trigger: 'file change' }), gw.gateway.reload({ trigger: 'SIGHUP' })])
    assert.deepEqual(results, [{ ok: true, errors: [], warnings: [] }, { ok: true, errors: [], warnings: [] }])
    assert.equal(await successes(), before + 1)
    // Asked for in one moment, they share one run; the watcher's own event for the edit may join it too.
    const lines = reloadedLines(logged) as { trigger: string; requests: Record<string, number> }[]
    assert.deepEqual(lines.map((line) => [line.trigger, line.requests.SIGHUP]), [['SIGHUP', 1]])
    assert.ok(lines[0]!.requests['file change']! >= 1)
  })

  it('reads routes.yaml as it is when a POST /reload comes, right after an earlier reload', async () => {
    assert.equal((await postReload()).status, 200)
    await writeFile(gw.configFile, config(['a.test', 'b.test']))
    assert.equal((await postReload()).status, 200)
    assert.equal((await httpRequest({ port: gw.ports.http!, host: 'b.test' })).status, 502, 'routed to its (closed) upstream, not 404')
  })
})

/**
 * unshare(1) into a user namespace of its own with an inotify watch limit of 0, as a host whose limit
 * is reached; undefined where this machine cannot make one.
 */
function launcherWithoutInotifyWatches(): string[] | undefined {
  const launcher = ['unshare', '--user', '--map-root-user', 'sh', '-c', 'echo 0 > /proc/sys/user/max_inotify_watches && exec "$@"', 'sh']
  return spawnSync(launcher[0]!, [...launcher.slice(1), 'true']).status === 0 ? launcher : undefined
}

describe('config folders that cannot be watched', () => {
  const launcher = launcherWithoutInotifyWatches()

  // A host's inotify watch limit reached (ENOSPC) left every edit unapplied, and nothing said why.
  it('says which and why, once, and reloads on SIGHUP', { skip: !launcher && 'needs unshare(1) and a user namespace' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-unwatched-'))
    const file = join(dir, 'routes.yaml')
    await writeFile(file, "listen: { http: 127.0.0.1:0 }\nroutes:\n  - { host: a.test, upstream: { url: 'http://127.0.0.1:9' } }\n")
    const gateway = runPortcullis(file, { launcher })
    const unwatchable = (since = 0) => gateway.logs.slice(since).filter((record) => record.msg.startsWith('cannot watch a folder of the config'))
    try {
      await gateway.logged('portcullis is serving')
      const [warning] = unwatchable().filter((record) => record.folder === dir)
      assert.deepEqual(
        [warning?.msg, (warning?.error as { code?: string } | undefined)?.code, warning?.hint],
        [
          'cannot watch a folder of the config: its edits reload only on SIGHUP or POST /reload',
          'ENOSPC',
          "the host's inotify watch limit is reached: raise sysctl fs.inotify.max_user_watches",
        ],
      )
      // Each reload lays the watches again, and finds the same folders it could not watch: said once.
      const since = gateway.logs.length
      await writeFile(file, "listen: { http: 127.0.0.1:0 }\nroutes:\n  - { host: b.test, upstream: { url: 'http://127.0.0.1:9' } }\n")
      gateway.child.kill('SIGHUP')
      await gateway.logged('config reloaded', undefined, since)
      assert.deepEqual(unwatchable(since), [])
    } finally {
      gateway.child.kill('SIGTERM')
      await gateway.exited
      await rm(dir, { recursive: true, force: true })
    }
  })
})
