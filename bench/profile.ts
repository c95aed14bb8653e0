/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per package, so the
 * hot spots of portcullis under load can be read without a profiler UI.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

interface CpuProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}

interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

export interface ProfileEntry {
  readonly name: string
  readonly percent: number
}

export interface ProfileSummary {
  readonly file: string
  readonly functions: readonly ProfileEntry[]
  readonly packages: readonly ProfileEntry[]
}

/** Where a frame's code lives: a package, portcullis' own source, Node's internals, or V8/native. */
function packageOf(url: string, repoDir: string): string {
  if (url === '') return '(native / V8 / GC)'
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`
  const modules = url.lastIndexOf('/node_modules/')
  if (modules !== -1) {
    const parts = url.slice(modules + 14).split('/')
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!
  }
  const path = url.replace(/^file:\/\//, '')
  return path.startsWith(repoDir) ? `portcullis ${path.slice(repoDir.length + 1).split('/').slice(-2).join('/')}` : path
}

export async function summariseProfile(dir: string, repoDir: string, top = 25): Promise<ProfileSummary | undefined> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile')).sort()
  const file = files.at(-1)
  if (!file) return undefined
  const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfByFunction = new Map<string, number>()
  const selfByPackage = new Map<string, number>()
  let totalTime = 0
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)
    const delta = profile.timeDeltas[i] ?? 0
    if (!node || node.callFrame.functionName === '(idle)') return
    totalTime += delta
    const { functionName, url, lineNumber } = node.callFrame
    const where = url ? `${url.replace(/^.*\/node_modules\//, '').replace(`file://${repoDir}/`, '')}:${lineNumber + 1}` : ''
    const key = `${functionName || '(anonymous)'} ${where}`.trim()
    selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + delta)
    const pkg = packageOf(url, repoDir)
    selfByPackage.set(pkg, (selfByPackage.get(pkg) ?? 0) + delta)
  })
  const rank = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, time]) => ({ name, percent: (100 * time) / totalTime }))
  return { file: join(dir, file), functions: rank(selfByFunction), packages: rank(selfByPackage) }
}

export function profileMarkdown(scenario: string, summary: ProfileSummary): string {
  const lines = [`### portcullis CPU profile, scenario ${scenario} (self time, idle excluded)`, '', `file: ${summary.file}`, '']
  lines.push('| self % | function |', '|---:|---|')
  for (const f of summary.functions) lines.push(`| ${f.percent.toFixed(1)} | \`${f.name}\` |`)
  lines.push('', '| self % | package / area |', '|---:|---|')
  for (const p of summary.packages) lines.push(`| ${p.percent.toFixed(1)} | ${p.name} |`)
  return `${lines.join('\n')}\n`
}
