/**
 * The development PKI of `portcullis certs` and the demo: a CA, the server and client certificates it
 * issues (tls/certificate-generator.ts), written as files beside each other, the keys readable by
 * their owner alone.
 */
import { mkdir, open, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { createCA, issueCert, type Issued } from './certificate-generator.js'
import { DEV_PKI_NAMES, devPkiFiles } from './dev-pki-files.js'

export interface DevPkiResult {
  /** Paths written by this call; empty when `unchanged`. */
  readonly written: string[]
  /** True when every file already existed and nothing was touched. */
  readonly unchanged: boolean
}

/** A year, so the demo keeps working long after `portcullis certs`; `--force` renews. */
const DEV_VALIDITY = 365 * 24 * 3_600_000

/**
 * `portcullis certs`: a CA, the gateway's server cert (localhost, 127.0.0.1, ::1), a client cert for
 * curl, and the gateway's client identity towards upstreams (routes.yaml, the demo). Existing files are
 * kept unless `force`; a partial set is refused, since new certs beside an old CA would not verify,
 * with `remedy`, which says how to replace it in the caller's own words.
 */
export async function writeDevPki(
  outDir: string,
  options: { force?: boolean; remedy?: string } = {},
): Promise<DevPkiResult> {
  const files = devPkiFiles(outDir)
  const present = await Promise.all(files.map(exists))
  const existing = files.filter((_, index) => present[index])
  if (!options.force && existing.length === files.length) return { written: [], unchanged: true }
  if (!options.force && existing.length > 0) {
    const missing = files.filter((_, index) => !present[index]).map((file) => basename(file))
    throw new Error(`${outDir} lacks ${missing.join(', ')} of the set it holds: ${options.remedy ?? 'portcullis certs --force replaces the whole set'}`)
  }

  const notAfter = new Date(Date.now() + DEV_VALIDITY)
  const ca = await createCA({ commonName: 'portcullis development CA', notAfter })
  const issued: Record<string, Issued> = {
    ca,
    server: await issueCert(ca, {
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      usage: 'server',
      notAfter,
    }),
    client: await issueCert(ca, { commonName: 'portcullis-client', usage: 'client', notAfter }),
    gateway: await issueCert(ca, { commonName: 'portcullis-gateway', usage: 'client', notAfter }),
  }

  await makeDirectory(outDir)
  // 'wx' fails rather than overwrite a file that appeared since the check above.
  const flag = options.force ? 'w' : 'wx'
  for (const name of DEV_PKI_NAMES) {
    const { cert, key } = issued[name]!
    await writeFile(join(outDir, `${name}.crt`), cert, { flag, mode: 0o644 })
    await writePrivateFile(join(outDir, `${name}.key`), key, flag)
  }
  return { written: files, unchanged: false }
}

/**
 * Writes `text` to a file only its owner can read. The mode of open() applies only to a file it creates:
 * one that --force overwrites keeps its own, and a key written before a chmod would sit in a
 * world-readable file until then, or for good if the process died in between.
 */
async function writePrivateFile(path: string, text: string, flag: string): Promise<void> {
  const file = await open(path, flag, 0o600)
  try {
    await file.chmod(0o600)
    await file.writeFile(text)
  } finally {
    await file.close()
  }
}

/**
 * `mkdir -p`, one level at a time. Node's recursive mkdir never returns for a folder under /proc
 * (Node 20 and 24): procfs answers ENOENT for a child it cannot hold, and Node takes that for a
 * missing parent, makes the parent (EEXIST) and tries again, for ever, at 100 % CPU.
 */
async function makeDirectory(dir: string): Promise<void> {
  const parent = dirname(dir)
  if (parent !== dir && !(await exists(parent))) await makeDirectory(parent)
  await mkdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error
  })
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}
