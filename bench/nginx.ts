/**
 * nginx in two roles: the upstream every peer proxies to (mutual TLS required, fixed small body and
 * 10 and 100 MiB files), and the reference peer (TLS in, mutual TLS out over a keep-alive upstream
 * pool). Each instance gets its own prefix folder with config, logs and temp paths; it runs in the
 * foreground (`daemon off`) so that the pid we spawn is the master.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { UPSTREAM_NAME, type BenchPki } from './pki.js'
import { run, spawnPinned, stopProcess, waitForPort, type Spawned } from './proc.js'

/** The fixed small response body (100 bytes, like the baseline). */
const SMALL_BODY = 'x'.repeat(99) + '\n'
/** Large static files (scenario d): two sizes, so that a proxy's memory can be seen not to follow them. */
export const LARGE_FILES = [
  { path: '/large/10m', mib: 10 },
  { path: '/large/100m', mib: 100 },
] as const

export interface UpstreamPorts {
  /** TLS with `ssl_verify_client on`: what every proxy connects to. */
  readonly mtls: number
  /** TLS without client auth: for the direct reference under plain wrk (which has no client cert). */
  readonly tls: number
}

export interface NginxInstance {
  readonly proc: Spawned
  /** Graceful reconfiguration (SIGHUP), as `nginx -s reload`. */
  reload(): void
  stop(): Promise<void>
}

/** Fields of the upstream's connection log: one line per new connection (its first request). */
export const CONNECTION_LOG_FORMAT = '$msec $server_port $connection $ssl_session_reused $ssl_protocol "$ssl_client_s_dn"'

async function prepareDir(dir: string): Promise<void> {
  await mkdir(join(dir, 'tmp'), { recursive: true })
  // Workers drop to nobody when the master runs as root; they write proxy temp files here.
  await chmod(join(dir, 'tmp'), 0o777)
}

function commonMain(dir: string): string {
  const user = process.getuid?.() === 0 ? 'user nobody nogroup;\n' : ''
  return `${user}worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
`
}

function commonHttp(dir: string): string {
  return `  default_type text/plain;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  # nginx recycles a keep-alive connection after 1000 requests by default; measure the steady state.
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  ssl_protocols TLSv1.2 TLSv1.3;
`
}

export function upstreamConfig(dir: string, pki: BenchPki, ports: UpstreamPorts): string {
  const locations = `    location / { return 200 "${SMALL_BODY.trimEnd()}\\n"; }
    location /large/ { root ${dir}/www; }`
  return `${commonMain(dir)}
http {
${commonHttp(dir)}  sendfile on;
  ssl_certificate ${pki.upstream.cert};
  ssl_certificate_key ${pki.upstream.key};
  ssl_session_cache shared:upstream:10m;
  ssl_session_timeout 1h;
  map $connection_requests $first_request { 1 1; default 0; }
  log_format connection '${CONNECTION_LOG_FORMAT}';
  access_log ${dir}/connections.log connection if=$first_request;

  server {
    listen 127.0.0.1:${ports.mtls} ssl;
    server_name ${UPSTREAM_NAME};
    ssl_client_certificate ${pki.ca};
    ssl_verify_client on;
${locations}
  }
  server {
    listen 127.0.0.1:${ports.tls} ssl;
    server_name ${UPSTREAM_NAME};
${locations}
  }
}
`
}

export interface ProxyPeerOptions {
  readonly port: number
  readonly upstreamPort: number
  /** Require and verify a client certificate on ingress (scenarios b, c). */
  readonly ingressMtls: boolean
}

/**
 * The reference proxy. The traps (see the research notes' perf-baseline.md): nginx neither sends SNI nor verifies the
 * upstream by default, `proxy_ssl_name` defaults to the upstream block's name, 1.22's
 * `proxy_ssl_protocols` lacks TLSv1.3, and without HTTP/1.1 + an empty Connection header the upstream
 * keep-alive pool is never used.
 */
export function proxyPeerConfig(dir: string, pki: BenchPki, options: ProxyPeerOptions): string {
  const clientAuth = options.ingressMtls ? `    ssl_client_certificate ${pki.ca};\n    ssl_verify_client on;\n` : ''
  return `${commonMain(dir)}
http {
${commonHttp(dir)}  access_log off;

  upstream up_tls {
    server 127.0.0.1:${options.upstreamPort};
    keepalive 32;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${options.port} ssl;
    ssl_certificate ${pki.server.cert};
    ssl_certificate_key ${pki.server.key};
    ssl_session_cache shared:ingress:10m;
${clientAuth}    location / {
      proxy_pass https://up_tls;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_certificate ${pki.gateway.cert};
      proxy_ssl_certificate_key ${pki.gateway.key};
      proxy_ssl_trusted_certificate ${pki.ca};
      proxy_ssl_verify on;
      proxy_ssl_verify_depth 2;
      proxy_ssl_name ${UPSTREAM_NAME};
      proxy_ssl_server_name on;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_session_reuse on;
    }
  }
}
`
}

export async function startNginx(options: {
  name: string
  nginx: string
  dir: string
  config: string
  cpus: string
  port: number
}): Promise<NginxInstance> {
  const { dir } = options
  await prepareDir(dir)
  const conf = join(dir, 'nginx.conf')
  await writeFile(conf, options.config)
  // -t first: a config error then names the line instead of a silent exit.
  await run(options.nginx, ['-t', '-q', '-p', dir, '-e', join(dir, 'error.log'), '-c', conf])
  const proc = spawnPinned(options.name, options.nginx, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], {
    cpus: options.cpus,
    logFile: join(dir, 'stdout.log'),
    // A SIGKILLed master leaves its workers serving on its ports; SIGTERM makes it stop them.
    exitSignal: 'SIGTERM',
  })
  await waitForPort(options.port, { proc })
  return {
    proc,
    reload: () => proc.child.kill('SIGHUP'),
    stop: () => stopProcess(proc),
  }
}

/** The files of LARGE_FILES, under the upstream's document root. */
export async function writeLargeFiles(dir: string): Promise<void> {
  await mkdir(join(dir, 'www', 'large'), { recursive: true })
  for (const file of LARGE_FILES) await writeFile(join(dir, 'www', file.path), Buffer.alloc(file.mib * 1024 * 1024, 'a'))
}
