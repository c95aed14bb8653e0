/**
 * Peers that are small Node servers in bench/servers/: started as their own process on the proxy
 * core, through tsx (the loader only compiles at import; the steady state runs plain V8 code).
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnPinned, stopProcess, waitForPort } from '../proc.js'
import { UPSTREAM_NAME } from '../pki.js'
import type { ServerArgs } from '../servers/args.js'
import type { Peer, PeerKind } from './types.js'

function nodeServerPeer(kind: PeerKind, script: string, label: string): Peer {
  return {
    label,
    kind,
    async start(ctx, options) {
      const port = ctx.nextPort()
      const args: ServerArgs = {
        port,
        ingressMtls: options.ingressMtls,
        pki: ctx.pki,
        upstreamPort: ctx.upstream.mtls,
        upstreamName: UPSTREAM_NAME,
      }
      const file = fileURLToPath(new URL(`../servers/${script}`, import.meta.url))
      const proc = spawnPinned(label, ctx.tools.node, ['--import', 'tsx', file, JSON.stringify(args)], {
        cpus: ctx.proxyCpus,
        cwd: ctx.repoDir,
        logFile: join(ctx.workDir, `${kind}-${port}.log`),
      })
      await waitForPort(port, { proc })
      return { label, kind, origin: `https://localhost:${port}`, pid: proc.pid, stop: () => stopProcess(proc) }
    },
  }
}

export const httpProxy3Peer = nodeServerPeer('http-proxy-3', 'http-proxy-3.ts', 'http-proxy-3 + keep-alive https.Agent')
export const undiciMinPeer = nodeServerPeer('undici-min', 'undici-min.ts', 'undici-min (Pool.stream, ~40 lines)')
export const nodeHttpsPeer = nodeServerPeer('node-https', 'node-https.ts', 'node:https answering itself (no proxy)')
