/**
 * deploy/kubernetes against the Kubernetes API schemas (kubernetes-models, and TypeScript's excess
 * property check against the same models' types, since the OpenAPI schemas accept unknown fields
 * that the API server's strict field validation refuses), and against the gateway itself: the probes
 * and the Prometheus port point at the ConfigMap's listen.admin, PORTCULLIS_CONFIG names the mounted
 * ConfigMap, the routes.yaml in it passes the project's own loader, and the pod is hardened.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Service } from 'kubernetes-models/v1/Service'
import ts from 'typescript'
import { parse as parseYaml, parseAllDocuments } from 'yaml'
import { parseDuration } from '../../src/config/duration.js'
import { ConfigError } from '../../src/config/issues.js'
import { parseConfig } from '../helpers/config.js'
import { parseListenAddress } from '../../src/config/listen-address.js'
import type { ListenAddress } from '../../src/config/types.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const BASE = join(ROOT, 'deploy/kubernetes')
const SERVICE_MONITOR_COMPONENT = join(BASE, 'components/servicemonitor')
const NETWORK_POLICY_COMPONENT = join(BASE, 'components/networkpolicy')

/** Every kind the manifests may use: its validating model and its TypeScript type. */
const MODELS: Record<string, { model: new (data: never) => { validate(): void }; module: string; type: string }> = {
  'v1/ConfigMap': { model: ConfigMap, module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1/Service', type: 'IService' },
  'apps/v1/Deployment': { model: Deployment, module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'policy/v1/PodDisruptionBudget': {
    model: PodDisruptionBudget,
    module: 'kubernetes-models/policy/v1/PodDisruptionBudget',
    type: 'IPodDisruptionBudget',
  },
  'networking.k8s.io/v1/NetworkPolicy': {
    model: NetworkPolicy,
    module: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
    type: 'INetworkPolicy',
  },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor,
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    type: 'IServiceMonitor',
  },
}
const KUSTOMIZE_KINDS = new Set(['Kustomization', 'Component'])

// Loose views of the objects, for the cross-checks; the models above check the shapes.
type Obj = Record<string, any>
interface Manifest {
  readonly file: string
  readonly label: string
  readonly object: Obj
}

/** Kubernetes reads manifests as YAML 1.1 (sigs.k8s.io/yaml): `defaultMode: 0440` is octal there. */
function parseManifests(text: string, file: string): Manifest[] {
  return parseAllDocuments(text, { version: '1.1' }).flatMap((doc) => {
    const problems = [...doc.errors, ...doc.warnings].map((e) => e.message)
    assert.deepEqual(problems, [], `${file}: YAML problems`)
    const object = doc.toJS() as Obj | null
    if (object === null) return []
    return [{ file, label: `${file} ${object.kind}/${object.metadata?.name ?? '?'}`, object }]
  })
}

function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => join(dir, name))
    .sort()
}

const files = yamlFilesUnder(BASE)
const all = files.flatMap((file) => parseManifests(readFileSync(file, 'utf8'), relative(ROOT, file)))
const kustomizations = all.filter((m) => KUSTOMIZE_KINDS.has(m.object.kind))
const resources = all.filter((m) => !KUSTOMIZE_KINDS.has(m.object.kind))

function only(kind: string): Obj {
  const found = resources.filter((m) => m.object.kind === kind)
  assert.equal(found.length, 1, `expected exactly one ${kind}, found ${found.map((m) => m.label).join(', ') || 'none'}`)
  return found[0]!.object
}

/** kubernetes-models: types, required fields, enums and formats of the API's OpenAPI schemas. */
function schemaErrors(manifests: readonly Manifest[]): string[] {
  return manifests.flatMap(({ label, object }) => {
    const entry = MODELS[`${object.apiVersion}/${object.kind}`]
    if (!entry) return [`${label}: no schema for ${object.apiVersion} ${object.kind}; add it to MODELS in this test`]
    try {
      new entry.model(object as never).validate()
      return []
    } catch (error) {
      return [`${label}: ${(error as Error).message}`]
    }
  })
}

/**
 * The API's OpenAPI schemas allow unknown fields, so a misspelt key (`readinesProbe`) passes them and
 * `kubectl apply` refuses it (strict field validation) or an older server drops it silently. Typing
 * each manifest as an object literal of its kubernetes-models interface makes TypeScript's excess
 * property check refuse unknown keys at every depth.
 */
function unknownFieldErrors(manifests: readonly Manifest[]): string[] {
  const fileName = join(ROOT, 'test/manifests/__manifests__.ts')
  const lines: string[] = []
  const owners: { from: number; label: string }[] = []
  const aliases = new Map<string, string>() // module -> local type name
  manifests.forEach(({ label, object }, index) => {
    const entry = MODELS[`${object.apiVersion}/${object.kind}`]
    if (!entry) return
    if (!aliases.has(entry.module)) aliases.set(entry.module, `T${aliases.size}`)
    owners.push({ from: lines.length, label })
    lines.push(...`export const m${index}: ${aliases.get(entry.module)} = ${JSON.stringify(object, null, 2)}`.split('\n'))
  })
  const imports = [...aliases].map(([module, alias]) => {
    const entry = Object.values(MODELS).find((m) => m.module === module)!
    return `import type { ${entry.type} as ${alias} } from '${module}'`
  })
  const source = [...imports, ...lines].join('\n')
  const offset = imports.length

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  }
  const host = ts.createCompilerHost(options)
  const { getSourceFile, fileExists, readFile } = host
  host.getSourceFile = (name, language, ...rest) =>
    name === fileName ? ts.createSourceFile(name, source, language) : getSourceFile.call(host, name, language, ...rest)
  host.fileExists = (name) => name === fileName || fileExists.call(host, name)
  host.readFile = (name) => (name === fileName ? source : readFile.call(host, name))
  const program = ts.createProgram([fileName], options, host)
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
    if (diagnostic.file?.fileName !== fileName || diagnostic.start === undefined) return message
    const line = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line - offset
    const owner = owners.filter((o) => o.from <= line).at(-1)
    const text = source.split('\n')[line + offset]?.trim()
    return `${owner?.label ?? '?'}: ${message} (at ${text})`
  })
}

function kustomize(dir: string): string | undefined {
  try {
    return execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`kubectl kustomize ${relative(ROOT, dir)} failed:\n${(error as { stderr?: string }).stderr ?? error}`)
  }
}

const matches = (selector: Obj | undefined, labels: Obj | undefined) =>
  selector !== undefined &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([key, value]) => labels?.[key] === value)

describe('deploy/kubernetes manifests', () => {
  test('every manifest is valid against the Kubernetes API schemas', () => {
    assert.ok(resources.length >= 5, `found only ${resources.length} manifests under deploy/kubernetes`)
    assert.deepEqual(schemaErrors(resources), [])
  })

  test('no manifest has a field the API does not know', () => {
    assert.deepEqual(unknownFieldErrors(resources), [])
  })

  test('the base kustomization lists every manifest beside it; the ServiceMonitor is an opt-in component', () => {
    for (const { file, object } of kustomizations) {
      for (const entry of object.resources ?? []) {
        assert.ok(files.includes(join(ROOT, dirname(file), entry)), `${file}: resource ${entry} does not exist`)
      }
    }
    const base = kustomizations.find((m) => m.file === relative(ROOT, join(BASE, 'kustomization.yaml')))
    assert.ok(base, 'deploy/kubernetes/kustomization.yaml is missing')
    assert.equal(base.object.kind, 'Kustomization')
    const beside = resources.filter((m) => dirname(join(ROOT, m.file)) === BASE).map((m) => basename(m.file))
    assert.deepEqual([...(base.object.resources as string[])].sort(), [...new Set(beside)].sort())
    assert.ok(!resources.some((m) => m.object.kind === 'ServiceMonitor' && dirname(join(ROOT, m.file)) === BASE))
    const component = kustomizations.find((m) => dirname(join(ROOT, m.file)) === SERVICE_MONITOR_COMPONENT)
    assert.equal(component?.object.kind, 'Component')
    assert.ok(!resources.some((m) => m.object.kind === 'NetworkPolicy' && dirname(join(ROOT, m.file)) === BASE))
    const policyComponent = kustomizations.find((m) => dirname(join(ROOT, m.file)) === NETWORK_POLICY_COMPONENT)
    assert.equal(policyComponent?.object.kind, 'Component')
  })

  test('kubectl kustomize renders the base, and the base with the ServiceMonitor component (without the scrape annotations), to valid objects', (t) => {
    const rendered = kustomize(BASE)
    if (rendered === undefined) return t.skip('kubectl is not installed')
    const baseObjects = parseManifests(rendered, 'kubectl kustomize deploy/kubernetes')
    const optIn = new Set(['ServiceMonitor', 'NetworkPolicy'])
    assert.deepEqual(baseObjects.map((m) => m.object.kind).sort(), resources.filter((m) => !optIn.has(m.object.kind)).map((m) => m.object.kind).sort())
    assert.deepEqual(schemaErrors(baseObjects), [])
    assert.deepEqual(unknownFieldErrors(baseObjects), [])

    const overlay = mkdtempSync(join(tmpdir(), 'portcullis-overlay-'))
    try {
      writeFileSync(
        join(overlay, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'namespace: edge',
          `resources: [${JSON.stringify(relative(overlay, BASE))}]`,
          `components: [${JSON.stringify(relative(overlay, SERVICE_MONITOR_COMPONENT))}, ${JSON.stringify(relative(overlay, NETWORK_POLICY_COMPONENT))}]`,
        ].join('\n'),
      )
      const withMonitor = parseManifests(kustomize(overlay)!, 'overlay with the servicemonitor component')
      assert.deepEqual(schemaErrors(withMonitor), [])
      const monitor = withMonitor.find((m) => m.object.kind === 'ServiceMonitor')
      assert.equal(monitor?.object.metadata.namespace, 'edge')
      assert.equal(withMonitor.find((m) => m.object.kind === 'NetworkPolicy')?.object.metadata.namespace, 'edge')
      // Scraped by the ServiceMonitor only: annotation-based discovery would scrape each pod a second time.
      const podAnnotations = (withMonitor.find((m) => m.object.kind === 'Deployment')?.object.spec.template.metadata.annotations ?? {}) as Obj
      assert.deepEqual(Object.keys(podAnnotations).filter((key) => key.startsWith('prometheus.io/')), [])
    } finally {
      rmSync(overlay, { recursive: true, force: true })
    }
  })

  describe('the Deployment serves the ConfigMap it mounts', () => {
    const deployment = only('Deployment')
    const pod = deployment.spec.template.spec as Obj
    const container = pod.containers[0] as Obj
    const env = (name: string) => (container.env as Obj[] | undefined)?.find((e) => e.name === name)?.value as string | undefined
    const configPath = env('PORTCULLIS_CONFIG')
    const volumeMountedAt = (mountPath: string) => {
      const mount = (container.volumeMounts as Obj[]).find((m) => m.mountPath === mountPath)
      return mount && (pod.volumes as Obj[]).find((v) => v.name === mount.name)
    }
    const configMap = only('ConfigMap')
    const routesYaml = configMap.data?.[basename(configPath ?? '')] as string | undefined
    const raw = routesYaml === undefined ? undefined : (parseYaml(routesYaml) as Obj)
    const address = (key: 'https' | 'http' | 'admin'): ListenAddress | undefined =>
      raw?.listen?.[key] === undefined ? undefined : parseListenAddress(raw.listen[key])
    const containerPort = (port: number | string) =>
      typeof port === 'number' ? port : (container.ports as Obj[]).find((p) => p.name === port)?.containerPort

    test('PORTCULLIS_CONFIG names routes.yaml in the ConfigMap volume, mounted as a folder', () => {
      assert.ok(configPath, 'the container sets no PORTCULLIS_CONFIG')
      const volume = volumeMountedAt(dirname(configPath))
      assert.ok(volume, `nothing is mounted at ${dirname(configPath)}`)
      assert.equal(volume.configMap?.name, configMap.metadata.name)
      assert.ok(routesYaml, `ConfigMap ${configMap.metadata.name} has no key ${basename(configPath)}`)
      // kubelet updates a ConfigMap or Secret volume by swapping its ..data symlink; a subPath mount
      // is a copy that never sees the swap, so the gateway could never reload it.
      for (const mount of container.volumeMounts as Obj[]) assert.equal(mount.subPath, undefined, `${mount.name} uses subPath`)
    })

    test("routes.yaml passes the gateway's loader; only the files of the mounted TLS Secrets are missing here", () => {
      assert.ok(routesYaml && configPath)
      let issues: readonly { path: string; message: string }[] = []
      try {
        parseConfig(routesYaml, configPath)
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error
        issues = error.issues
      }
      const secretMounts = (container.volumeMounts as Obj[])
        .filter((m) => (pod.volumes as Obj[]).find((v) => v.name === m.name)?.secret)
        .map((m) => m.mountPath as string)
      const unexpected = issues.filter((issue) => {
        const missing = /^file not found: (.+)$/.exec(issue.message)?.[1]
        if (missing === undefined) return true
        const absolute = resolve(dirname(configPath), missing)
        return !secretMounts.includes(dirname(absolute)) || !['tls.crt', 'tls.key', 'ca.crt'].includes(basename(absolute))
      })
      assert.deepEqual(unexpected.map((i) => `${i.path}: ${i.message}`), [])
    })

    test('probes and the scrape annotations use listen.admin, on all interfaces; /readyz is readiness, /healthz liveness', () => {
      const admin = address('admin')
      assert.ok(admin, 'routes.yaml in the ConfigMap has no listen.admin')
      assert.ok(['0.0.0.0', '::'].includes(admin.host), `listen.admin ${admin.host} is unreachable for the kubelet`)
      assert.equal(container.readinessProbe?.httpGet?.path, '/readyz')
      assert.equal(container.livenessProbe?.httpGet?.path, '/healthz')
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        assert.equal(containerPort(probe.httpGet.port), admin.port)
        assert.ok(probe.httpGet.scheme === undefined || probe.httpGet.scheme === 'HTTP')
      }
      const annotations = deployment.spec.template.metadata.annotations as Obj
      assert.equal(annotations['prometheus.io/scrape'], 'true')
      assert.equal(Number(annotations['prometheus.io/port']), admin.port)
      assert.equal(annotations['prometheus.io/path'], '/metrics')
    })

    test('the public Service reaches listen.https only; the admin port is only on the metrics Service', () => {
      const https = address('https')
      const admin = address('admin')!
      assert.ok(https, 'routes.yaml in the ConfigMap has no listen.https')
      const labels = deployment.spec.template.metadata.labels as Obj
      const services = resources.filter((m) => m.object.kind === 'Service').map((m) => m.object)
      for (const service of services) assert.ok(matches(service.spec.selector, labels), `${service.metadata.name} selects no gateway pod`)
      const targets = (service: Obj) => (service.spec.ports as Obj[]).map((p) => containerPort(p.targetPort ?? p.port))
      const serving = (port: number) => {
        const found = services.filter((service) => targets(service).includes(port))
        assert.equal(found.length, 1, `expected one Service whose targetPort is the container port ${port}, found ${found.length}`)
        return found[0]!
      }
      const publicService = serving(https.port)
      assert.ok(!targets(publicService).includes(admin.port), `Service ${publicService.metadata.name} publishes the admin port`)
      const https443 = (publicService.spec.ports as Obj[]).find((p) => p.name === 'https')
      assert.equal(https443?.port, 443)
      const metricsService = serving(admin.port)
      assert.deepEqual(targets(metricsService), [admin.port])
      assert.equal((metricsService.spec.ports as Obj[])[0]!.name, 'metrics')
      assert.notEqual(metricsService.spec.type, 'LoadBalancer')
      assert.notEqual(metricsService.spec.type, 'NodePort')

      const monitor = only('ServiceMonitor')
      assert.ok(matches(monitor.spec.selector.matchLabels, metricsService.metadata.labels), 'the ServiceMonitor selects no metrics Service')
      assert.ok(!matches(monitor.spec.selector.matchLabels, publicService.metadata.labels), 'the ServiceMonitor selects the public Service')
      assert.deepEqual((monitor.spec.endpoints as Obj[]).map((e) => [e.port, e.path]), [['metrics', '/metrics']])
    })

    test("prometheus.yaml's kubernetes_sd example keeps the gateway pods' admin port, and no other", () => {
      // The commented-out example under the portcullis job, as a reader uncomments it.
      const text = readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yaml'), 'utf8').split('\n')
      const start = text.findIndex((line) => /^\s*#\s*kubernetes_sd_configs:/.test(line))
      assert.ok(start >= 0, 'deploy/prometheus/prometheus.yaml has no kubernetes_sd_configs example')
      const block: string[] = []
      for (const line of text.slice(start)) {
        const uncommented = /^\s*# ?(.*)$/.exec(line)
        if (!uncommented) break
        block.push(uncommented[1]!)
      }
      const example = parseYaml(block.join('\n')) as Obj
      assert.equal(example.kubernetes_sd_configs?.[0]?.role, 'pod')
      // What Prometheus' pod discovery gives each declared container port: the pod's labels, their
      // names with every character outside [a-zA-Z0-9_] as _, and the port.
      const labels = deployment.spec.template.metadata.labels as Obj
      const targetOf = (port: Obj): Record<string, string> => ({
        ...Object.fromEntries(Object.entries(labels).map(([key, value]) => [`__meta_kubernetes_pod_label_${key.replace(/[^a-zA-Z0-9_]/g, '_')}`, String(value)])),
        __meta_kubernetes_pod_container_name: container.name,
        __meta_kubernetes_pod_container_port_name: port.name ?? '',
        __meta_kubernetes_pod_container_port_number: String(port.containerPort),
      })
      const kept = (target: Record<string, string>) =>
        (example.relabel_configs as Obj[]).every((rule) => {
          const value = (rule.source_labels as string[]).map((name) => target[name] ?? '').join(rule.separator ?? ';')
          const matched = new RegExp(`^(?:${rule.regex ?? '(.*)'})$`).test(value)
          if (rule.action === 'keep') return matched
          if (rule.action === 'drop') return !matched
          return true
        })
      const keptPorts = (container.ports as Obj[]).filter((port) => kept(targetOf(port))).map((port) => port.containerPort)
      assert.deepEqual(keptPorts, [address('admin')!.port], 'the example keeps no gateway pod, or a port other than listen.admin')
    })

    test('the NetworkPolicy component selects the gateway pods, opens the HTTPS port and keeps the admin port to a namespace', () => {
      const policy = only('NetworkPolicy')
      assert.ok(matches(policy.spec.podSelector.matchLabels, deployment.spec.template.metadata.labels as Obj))
      const rules = policy.spec.ingress as Obj[]
      const rulesFor = (port: number) => rules.filter((r) => (r.ports as Obj[]).some((p) => containerPort(p.port) === port))
      assert.ok(rulesFor(address('https')!.port).length > 0, 'no rule opens listen.https')
      const admin = rulesFor(address('admin')!.port)
      assert.ok(admin.length > 0, 'no rule opens listen.admin to Prometheus')
      for (const rule of admin) assert.ok((rule.from as Obj[] | undefined)?.length, 'the admin port is open to every source')
    })

    test('TLS material comes from kubernetes.io/tls Secrets mounted read-only as folders under /etc/portcullis/certs', () => {
      const secrets = (pod.volumes as Obj[]).filter((v) => v.secret)
      assert.ok(secrets.length > 0)
      for (const volume of secrets) {
        const mount = (container.volumeMounts as Obj[]).find((m) => m.name === volume.name)
        assert.match(mount?.mountPath ?? '', /^\/etc\/portcullis\/certs\/[a-z0-9-]+$/, `${volume.name} mount`)
        assert.equal(mount?.readOnly, true)
        assert.equal(volume.secret.defaultMode, 0o440, `${volume.name}: keys readable by the pod's group only`)
        assert.equal(volume.secret.items, undefined, `${volume.name}: mount every key (tls.crt, tls.key, ca.crt)`)
      }
    })

    test('a preStop sleep lets endpoint removal catch up before SIGTERM stops the listeners', () => {
      const command = container.lifecycle?.preStop?.exec?.command as string[] | undefined
      assert.deepEqual(command?.slice(0, 1), ['sleep'])
      assert.ok(Number(command?.[1]) >= 3, `preStop sleeps ${command?.[1]}s`)
    })

    test('terminationGracePeriodSeconds covers the preStop sleep and shutdown.grace plus a few seconds', () => {
      // The default the gateway documents (README, schema) when routes.yaml sets none.
      const shutdownGrace = parseDuration((raw?.shutdown?.grace as string | undefined) ?? '25s')
      assert.ok(shutdownGrace !== undefined, `shutdown.grace ${raw?.shutdown?.grace} is not a duration`)
      const grace = shutdownGrace + Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0) * 1000
      const seconds = pod.terminationGracePeriodSeconds as number
      assert.ok(seconds * 1000 >= grace + 2000, `terminationGracePeriodSeconds ${seconds}s leaves under 2s beyond shutdown.grace ${grace}ms`)
      assert.ok(seconds * 1000 <= grace + 15_000, `terminationGracePeriodSeconds ${seconds}s is far beyond shutdown.grace ${grace}ms`)
    })

    test('the pod is hardened: non-root, read-only root, no capabilities, no privilege escalation, RuntimeDefault seccomp', () => {
      assert.equal(pod.securityContext?.runAsNonRoot, true)
      assert.equal(pod.securityContext?.runAsUser, 1000)
      assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault')
      assert.equal(pod.automountServiceAccountToken, false)
      assert.ok(!pod.hostNetwork && !pod.hostPID && !pod.hostIPC)
      for (const c of [...(pod.initContainers ?? []), ...pod.containers] as Obj[]) {
        const sc = c.securityContext as Obj | undefined
        assert.equal(sc?.allowPrivilegeEscalation, false, `${c.name}: allowPrivilegeEscalation`)
        assert.equal(sc?.readOnlyRootFilesystem, true, `${c.name}: readOnlyRootFilesystem`)
        assert.notEqual(sc?.privileged, true, `${c.name}: privileged`)
        assert.ok((sc?.capabilities?.drop as string[] | undefined)?.includes('ALL'), `${c.name}: capabilities.drop ALL`)
        assert.deepEqual(sc?.capabilities?.add ?? [], [], `${c.name}: capabilities.add`)
        assert.ok(sc?.runAsUser === undefined || sc.runAsUser !== 0, `${c.name}: runAsUser 0`)
        assert.notEqual(sc?.runAsNonRoot, false, `${c.name}: runAsNonRoot false`)
        for (const kind of ['requests', 'limits']) {
          for (const resource of ['cpu', 'memory']) assert.ok(c.resources?.[kind]?.[resource], `${c.name}: resources.${kind}.${resource}`)
        }
      }
    })

    test('two replicas, and a PodDisruptionBudget that keeps one', () => {
      assert.equal(deployment.spec.replicas, 2)
      const labels = deployment.spec.template.metadata.labels as Obj
      assert.ok(matches(deployment.spec.selector.matchLabels, labels))
      const pdb = only('PodDisruptionBudget')
      assert.equal(pdb.spec.minAvailable, 1)
      assert.ok(matches(pdb.spec.selector.matchLabels, labels))
      // With the default (IfHealthyBudget), pods that are running but not ready count against the budget:
      // every replica crash-looping on a bad routes.yaml (refused by the pods serving, read by every pod
      // that starts after) would block every node drain while none of them serves.
      assert.equal(pdb.spec.unhealthyPodEvictionPolicy, 'AlwaysAllow')
    })
  })
})
