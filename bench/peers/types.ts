/**
 * A peer is one thing wrk loads: a proxy under test (pinned to the proxy core), or the upstream itself
 * (the "direct" limit). Every proxy serves HTTPS on 127.0.0.1 with the bench's `localhost` certificate
 * and speaks mutual TLS to the upstream, verifying it as upstream.bench.test.
 */
import type { Tools } from '../deps.js'
import type { UpstreamPorts } from '../nginx.js'
import type { BenchPki } from '../pki.js'

export interface PeerContext {
  readonly tools: Tools
  readonly pki: BenchPki
  /** This run's generated files (configs, logs). */
  readonly workDir: string
  readonly repoDir: string
  readonly upstream: UpstreamPorts
  /** The upstream nginx master pid (its CPU is the "proxy" CPU of the direct peer). */
  readonly upstreamPid: number
  /** portcullis' compiled entry point (dist-like build of src/). */
  readonly portcullisCli: string
  /** PORTCULLIS_LOG_LEVEL for every portcullis peer. */
  readonly portcullisLogLevel: string
  /** CPU list for proxies (taskset -c). */
  readonly proxyCpus: string
  /** Hands out listening ports, so that no two peers (or a leftover) share one. */
  nextPort(): number
}

export interface PeerOptions {
  /** Require and verify a client certificate on ingress. */
  readonly ingressMtls: boolean
}

export interface RunningPeer {
  /** Row label in the report, e.g. `portcullis (1000 routes: other hosts)`. */
  readonly label: string
  /** The peer's family, for BENCH_PEERS and for finding nginx (the ratio base). */
  readonly kind: PeerKind
  /** https://localhost:PORT — wrk appends the path. */
  readonly origin: string
  /** The process tree whose CPU and memory are measured; undefined: nothing to measure. */
  readonly pid: number | undefined
  /** portcullis only: admin base url, for /metrics and /reload. */
  readonly admin?: string
  /** Seconds from spawn to serving (portcullis only). */
  readonly startSeconds?: number
  /** Graceful reconfiguration: timed in scenario e, under load in f (nginx: SIGHUP, 0 ms). */
  reload?(): Promise<{ ok: boolean; ms: number }>
  stop(): Promise<void>
}

export type PeerKind = 'direct' | 'nginx' | 'http-proxy-3' | 'undici-min' | 'portcullis' | 'node-https'

export interface Peer {
  /** Its row's label in the report (RunningPeer.label). */
  readonly label: string
  readonly kind: PeerKind
  start(ctx: PeerContext, options: PeerOptions): Promise<RunningPeer>
}
