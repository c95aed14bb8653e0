/**
 * The composition root: binds the public and admin listeners, holds the current snapshot, swaps in the
 * snapshot of each reloaded config (reload/reloader.ts decides when) and drains on stop. Listeners
 * and the request server live as long as the process; each request is served by the snapshot current
 * when it arrives.
 */
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { createAdminApp } from './admin/app.js'
import { setClientAddress } from './client-address.js'
import { ClientConnections } from './client-connections.js'
import { ConfigError, issueAt, type ConfigIssue } from './config/issues.js'
import type { ConfigLoader } from './config/load.js'
import type { Config, ListenAddress, ListenerName, PublicListenerName } from './config/types.js'
import {
  collectUpstreamConnections,
  collectUpstreamUrls,
  collectUpstreamUrlWeights,
  collectUpstreamPendingRequests,
  forgetHealthChecks,
  recordHealthCheck,
  recordIngressHandshake,
  recordOcspLookup,
  recordPassthrough,
  recordUpstreamHandshake,
  setCertificateExpiry,
  setCrlNextUpdate,
} from './gateway-metrics.js'
import { ErrorCodes, PortcullisError } from './errors.js'
import { closeServer, listenOn } from './listeners.js'
import { CLIENT_CAUSED_LOG_LIMIT, errorSummary, limitedLog, MAX_LOGGED_AT_A_LOAD, type Logger } from './log.js'
import { NO_ROUTE } from './metrics/labels.js'
import { createMetrics, type Metrics } from './metrics/metrics.js'
import { registrySource } from './metrics/render.js'
import { createProxyHandlers } from './proxy/handler.js'
import { ConnectionRechecks } from './connection-rechecks.js'
import { Overload } from './proxy/overload.js'
import { readProxyHeader } from './proxy/proxy-protocol.js'
import { RefusedCertificates } from './proxy/refused-certificate.js'
import { DRAIN_IDLE_WINDOW_MS, RequestServer } from './proxy/server.js'
import { SniDispatcher } from './proxy/sni-dispatch.js'
import { Reloader, type ReloadResult, type ReloadTrigger } from './reload/reloader.js'
import { buildSnapshot, retireSnapshot, type Snapshot, type SnapshotOptions } from './snapshot/snapshot.js'
import { newCertificates } from './snapshot/new-certificates.js'
import type { LoadedCertificate } from './snapshot/route-files.js'
import { destroyUpstream, type Upstream } from './snapshot/upstreams.js'
import { configWarnings, WarningLog } from './snapshot/warnings.js'
import { certificateIdentity, ingressCrlFiles, refusalFields } from './tls/certificate-identity.js'
import type { HandshakeOutcome, TlsPolicy } from './tls/ingress.js'
import { OcspLookups } from './tls/ocsp-lookups.js'
import { ClientChainsByPolicy } from './tls/peer-certificates.js'
import { newTicketSecret, TicketKeyRotation, type TicketSecrets } from './tls/ticket-keys.js'
import { logHealthCheckChange, UpstreamHealthChecks } from './upstream-health-checks.js'

/** The refusal's log line reads as the gateway's; this one is the client's, of the gateway's certificate. */
const PEER_REJECTED_HINT = "the client refused the gateway's certificate: check that the client trusts the CA that issued the route's tls.cert, and that the certificate names the host the client asked for"

export interface GatewayOptions {
  /** routes.yaml, to load at start and reload; a loader that has read it already lends its parse. */
  readonly loader: ConfigLoader
  readonly logger: Logger
  /** Reload when routes.yaml or a file it names changes. Default: true. */
  readonly watch?: boolean
  /** Bind listen.admin. A cluster worker does not: the primary serves the admin listener. */
  readonly admin?: boolean
  /**
   * What the TLS session ticket keys derive from (tls/ticket-keys.ts): a cluster worker gets the
   * primary's, so that a session resumes on every worker. Default: a new random one.
   */
  readonly ticketSecret?: Buffer
  /**
   * The listener addresses a config must have to start, where they are fixed before it: a cluster
   * worker's are its primary's, on which every worker serves (cluster/messages.ts). A reload keeps them
   * all the same (assertSameListeners).
   */
  readonly listen?: Config['listen']
  /** How long ticket keys last (tls/ticket-keys.ts); tests shorten it. */
  readonly ticketKeyLifetimeMs?: number
  /**
   * The least time between the starts of two reloads (reload/reloader.ts). 0 for what must reload back
   * to back: the reload soak bench, and tests that reload one after another, which would otherwise wait
   * a second each.
   */
  readonly reloadIntervalMs?: number
  /**
   * Refused handshakes logged a second at most (50). Tests that refuse dozens within a second and
   * read one refusal's line raise it, so that line is never the one held back.
   */
  readonly refusalLogLines?: number
  /** A reload applied the config on disk (reload/reloader.ts). */
  readonly onReloaded?: () => void
  /** What a reload that changes `workers` says of the processes serving. Default: this one alone. */
  readonly workers?: WorkerCount
}

/**
 * The gateway processes serving: the workers of a cluster, or one alone. Their number is fixed at the
 * start, by --workers where it is given (cli/run.ts), and no reload changes it.
 */
export interface WorkerCount {
  readonly running: number
  readonly fromFlag: boolean
}

/** What start() throws once a stop() has come during it (the stop has closed, or closes, what it bound). */
function stoppedWhileStarting(): PortcullisError {
  return new PortcullisError(ErrorCodes.STOPPED, 'stopped while starting')
}

export class Gateway {
  readonly metrics: Metrics
  private readonly logger: Logger
  private readonly logRefusal: (fields: object) => void
  private readonly logProxyHeaderRefused: (fields: object) => void
  /**
   * The snapshot serving. Undefined only until start() installs the first, and nothing is bound before
   * then: where a connection or request reads it (`this.current!`), it is set.
   */
  private current: Snapshot | undefined
  /**
   * Pools a reload retired, until each has closed (its last request ended, and undici's close with
   * it): the pool gauges count their sockets and waiting requests too, and a stop destroys them.
   */
  private readonly retiring = new Set<Upstream>()
  private readonly listeners = new Map<ListenerName, net.Server>()
  private readonly requestServer: RequestServer
  /** The HTTPS listener's first step: each connection's ClientHello picks its TLS policy or passthrough. */
  private readonly sni: SniDispatcher
  private readonly clientConnections: ClientConnections
  /** The connections whose client certificate did not verify, until their request is answered 400. */
  private readonly refusedCertificates = new RefusedCertificates()
  private readonly overload: Overload
  private readonly watch: boolean
  private readonly fixedListen: Config['listen'] | undefined
  private readonly serveAdmin: boolean
  private readonly ticketSecrets: TicketSecrets
  private readonly ticketKeys: TicketKeyRotation
  private readonly clientChains = new ClientChainsByPolicy()
  /** What OCSP responders said of client certificates (tls.ocsp), across reloads. */
  private readonly ocspLookups: OcspLookups
  /**
   * The SNI each verified connection's ClientHello carried: the host of an HTTP/1.0 request without
   * Host, and what a reload re-checks the connection by (the policy a new handshake of its would get).
   */
  private readonly serverNames = new WeakMap<net.Socket, string | undefined>()
  private readonly connectionRechecks: ConnectionRechecks
  private readonly healthChecks: UpstreamHealthChecks
  private readonly reloader: Reloader
  /** start()'s loading and binding (loadAndBind), which a stop() waits for. */
  private starting: Promise<Config> | undefined
  /** stop()'s drain, once it has begun. */
  private stopping: Promise<void> | undefined
  private readonly warningLog: WarningLog
  private readonly workers: WorkerCount

  constructor(options: GatewayOptions) {
    this.logger = options.logger
    this.warningLog = new WarningLog(this.logger)
    const refusalLogLimit = { ...CLIENT_CAUSED_LOG_LIMIT, lines: options.refusalLogLines ?? CLIENT_CAUSED_LOG_LIMIT.lines }
    this.logRefusal = limitedLog(this.logger, 'info', 'client TLS handshake refused', refusalLogLimit)
    // A balancer without the PROXY protocol turned on sends no header on any connection.
    this.logProxyHeaderRefused = limitedLog(this.logger, 'warn', 'PROXY protocol header refused; connection closed', CLIENT_CAUSED_LOG_LIMIT)
    const logOcspFailure = limitedLog(this.logger, 'warn', 'OCSP lookup of a client certificate failed: no answer that verifies', CLIENT_CAUSED_LOG_LIMIT)
    this.ocspLookups = new OcspLookups({
      onLookup: (outcome, durationSeconds, responder) => {
        recordOcspLookup(this.metrics, outcome)
        if (outcome.failure) logOcspFailure({ responder, detail: outcome.failure, error: errorSummary(outcome.error), durationSeconds })
      },
    })
    const logPassthroughFailure = limitedLog(this.logger, 'warn', 'passthrough upstream failed', CLIENT_CAUSED_LOG_LIMIT)
    const logPassthroughUnreachable = limitedLog(this.logger, 'warn', 'passthrough upstream url unreachable; the connection goes to the next url', CLIENT_CAUSED_LOG_LIMIT)
    const logPassthroughForbidden = limitedLog(this.logger, 'warn', "passthrough connection closed: the route's allowedIPs or deniedIPs do not take its address", CLIENT_CAUSED_LOG_LIMIT)
    const logPassthroughTimeout = limitedLog(this.logger, 'info', 'passthrough closed at its timeout', CLIENT_CAUSED_LOG_LIMIT)
    this.metrics = createMetrics({
      collectUpstreamConnections: (gauge) => collectUpstreamConnections(gauge, this.pools()),
      collectUpstreamPendingRequests: (gauge) => collectUpstreamPendingRequests(gauge, this.pools()),
      collectUpstreamUrls: (gauge) => collectUpstreamUrls(gauge, this.current?.routes ?? []),
      collectUpstreamUrlWeights: (gauge) => collectUpstreamUrlWeights(gauge, this.current?.routes ?? []),
      collectClientConnections: (gauge) => this.clientConnections.collect(gauge, this.listeners.keys()),
    })
    this.watch = options.watch ?? true
    this.fixedListen = options.listen
    this.workers = options.workers ?? { running: 1, fromFlag: false }
    this.serveAdmin = options.admin ?? true
    // Two secrets in a single process too: a reload that makes a policy forward the client's chain
    // moves it to `own`, and its sessions of before, whose chain was not read, no longer resume.
    this.ticketSecrets = { shared: options.ticketSecret ?? newTicketSecret(), own: newTicketSecret() }
    this.ticketKeys = new TicketKeyRotation(options.ticketKeyLifetimeMs)
    this.overload = new Overload(this.metrics, this.logger)
    this.clientConnections = new ClientConnections(this.overload)
    const serverNameOf = (socket: net.Socket) => this.serverNames.get(socket)
    this.requestServer = new RequestServer(() => this.current!, createProxyHandlers(this.logger, this.metrics, this.overload, serverNameOf))
    this.connectionRechecks = new ConnectionRechecks(this.metrics, this.logger, () => this.current, this.requestServer, serverNameOf)
    this.healthChecks = new UpstreamHealthChecks({
      onChecked: (route, url, failure) => recordHealthCheck(this.metrics, route, url, failure),
      onChanged: (route, url, failure) => logHealthCheckChange(this.logger, route, url, failure),
      onUnchecked: (route, url) => forgetHealthChecks(this.metrics, route, url),
    })
    this.reloader = new Reloader({
      loader: options.loader,
      logger: this.logger,
      metrics: this.metrics,
      apply: (config) => this.apply(config),
      serving: () => this.current?.config,
      stopping: () => this.stopping !== undefined,
      onReloaded: options.onReloaded,
      minIntervalMs: options.reloadIntervalMs,
    })
    this.sni = new SniDispatcher({
      decide: (serverName, localAddress) => this.current!.ingressFor(serverName, localAddress),
      onRefused: (outcome) => this.reportIngressHandshake(outcome),
      passthrough: {
        onConnected: (route) => recordPassthrough(this.metrics, route),
        onError: (route, url, error, connected) => {
          if (!connected) recordPassthrough(this.metrics, route, error)
          logPassthroughFailure({ route: route.name, upstream: url.url, connected, error: errorSummary(error) })
        },
        onUnreachable: (route, url, error) => {
          recordPassthrough(this.metrics, route, error)
          logPassthroughUnreachable({ route: route.name, upstream: url.url, error: errorSummary(error) })
        },
        onTimeout: (route, timeout) => logPassthroughTimeout({ route: route.name, timeout }),
        onForbidden: (route, client) => logPassthroughForbidden({ route: route.name, client }),
      },
    })
  }

  /**
   * Loads the config (throws ConfigError on a bad one), then binds every listener. A stop() before it
   * is done ends it with PCL_ERR_STOPPED, nothing left bound.
   */
  async start(): Promise<void> {
    const starting = this.loadAndBind()
    this.starting = starting
    let config: Config
    try {
      config = await starting
    } catch (error) {
      // A failed start leaves nothing running, what it bound before the failure included: the request
      // server, made in the constructor, already runs its sweeps.
      await this.stop(0)
      throw error
    }
    // A stop() during the start waited for it, and closes every listener it bound: nothing more starts.
    if (this.stopping) throw stoppedWhileStarting()
    if (this.watch) this.reloader.watch()
    // At the start of each period the TLS policies serving take its ticket keys.
    this.ticketKeys.start((epoch) => {
      for (const policy of this.current?.policies.values() ?? []) policy.rotateTicketKeys(epoch)
    })
    this.logger.info({ listeners: this.addresses(), routes: config.routes.length }, 'portcullis is serving')
  }

  /** Loads and installs the config, then binds each listener; before each step, ends if a stop() has begun. */
  private async loadAndBind(): Promise<Config> {
    const config = await this.reloader.loadFirst((config) => {
      if (this.stopping) throw stoppedWhileStarting()
      if (this.fixedListen) this.assertSameListeners(config, this.fixedListen)
      this.install(buildSnapshot(config, this.snapshotOptions()))
    })
    await this.bind(config)
    return config
  }

  /** A reload (see Reloader): on any error the config serving now keeps serving. */
  reload(options: { onlyIfChanged?: boolean; trigger?: ReloadTrigger } = {}): Promise<ReloadResult> {
    return this.reloader.reload(options)
  }

  /** Builds a snapshot of a reloaded config beside the current one, swaps it in, retires the old one; gives its warnings. */
  private apply(config: Config): ConfigIssue[] {
    const previous = this.current!
    this.assertSameListeners(config, previous.config.listen)
    const snapshot = buildSnapshot(config, this.snapshotOptions(previous))
    const warnings = this.install(snapshot)
    this.logNewCertificates(newCertificates(previous.certificates, snapshot.certificates))
    for (const upstream of retireSnapshot(previous, snapshot, (closed) => this.retiring.delete(closed))) this.retiring.add(upstream)
    // Only here, once the new config serves: a reload that fails keeps every series.
    this.forgetRemovedRoutes()
    this.connectionRechecks.recheckAll(snapshot)
    if (config.workers !== previous.config.workers) this.logWorkersChanged(config.workers)
    return warnings
  }

  /** An edit of `workers` that the reload applied all but: the number of processes serving stays. */
  private logWorkersChanged(workers: number): void {
    const { running, fromFlag } = this.workers
    const msg = fromFlag ? 'workers changed; --workers overrides it at every start' : 'workers changed; the new count applies at the next start'
    this.logger.warn({ workers, running }, msg)
  }

  /**
   * A connection verified under `policy`. Its ClientHello chose the policy under the snapshot current
   * then: a reload during its handshake, which the reload's re-check could not find, may have changed
   * it since, and it is checked now as that re-check would have checked it (a CRL's routine re-issue
   * would otherwise answer its first request 421).
   */
  private acceptVerified(socket: TLSSocket, policy: TlsPolicy, serverName: string | undefined): void {
    this.serverNames.set(socket, serverName)
    this.requestServer.accept(socket, policy)
    this.connectionRechecks.recheck(this.current!, socket)
  }

  /**
   * Stops accepting (/readyz turns 503 at once), closes each connection once it has nothing in flight
   * (an idle one after a short window for a request already on its way: RequestServer.drain), lets
   * in-flight requests and WebSockets finish within `graceMs`, then closes everything.
   */
  stop(graceMs = this.current?.config.shutdown.grace ?? 0): Promise<void> {
    // A second call (a second signal, an embedding program's own stop) waits for the first.
    return (this.stopping ??= this.drainAndClose(graceMs))
  }

  private async drainAndClose(graceMs: number): Promise<void> {
    this.metrics.draining.set(1)
    this.reloader.close()
    this.ticketKeys.stop()
    this.healthChecks.stop()
    // A start() under way binds nothing more once it sees the stop: the listeners it bound are then
    // all known, and close with the rest, so that each port is free once stop() resolves.
    await this.starting?.catch(() => {})
    const publicListeners = [...this.listeners].filter(([name]) => name !== 'admin').map(([, server]) => server)
    const closed = Promise.all(publicListeners.map((server) => closeServer(server)))
    this.requestServer.drain()
    this.sni.drain(DRAIN_IDLE_WINDOW_MS)
    this.refusedCertificates.drain(DRAIN_IDLE_WINDOW_MS)
    await this.clientConnections.allClosed(graceMs)
    const left = this.clientConnections.count
    if (left > 0) {
      // As nginx's alerts at worker_shutdown_timeout: what the drain's end cuts off, WebSockets above all.
      const counts = { connections: left, webSockets: this.requestServer.webSocketCount(), graceSeconds: graceMs / 1000 }
      this.logger.warn(counts, 'shutdown.grace is over: closing the connections still open')
    }
    // Requests cut off by the deadline end as the client's going, before the pools go under them (an
    // upstream request destroyed first would be logged and counted as an upstream failure).
    await this.requestServer.close()
    this.clientConnections.destroyAll()
    await closed
    // Every pool, retired ones still closing too, with their connects in progress (destroyUpstream).
    await Promise.all(this.pools().map(destroyUpstream))
    // The admin listener last: readiness probes read 503 throughout the drain. What is still open there
    // then (a scraper's keep-alive connection, one that never sent its request) would hold the exit.
    const admin = this.listeners.get('admin')
    if (admin) {
      const adminClosed = closeServer(admin)
      if (admin instanceof http.Server) admin.closeAllConnections()
      await adminClosed
    }
    this.listeners.clear()
  }

  /** The names of the routes serving, which label their metrics. */
  routeNames(): ReadonlySet<string> {
    return new Set(this.current?.config.routes.map((route) => route.name))
  }

  /**
   * Drops the series of routes the config serving does not have (removed-routes.ts). Called at the
   * reload that removes them and again before each scrape, because requests in flight at that reload,
   * and the upstream handshakes of the pools it retired, still record under those routes after it.
   * (With workers, the primary leaves them out of its scrape: cluster/registries.ts.)
   */
  private forgetRemovedRoutes(): void {
    this.metrics.dropRemovedRoutes(this.routeNames())
  }

  /** /readyz: a config serving, the listeners bound, and no drain begun. */
  isReady(): boolean {
    return this.stopping === undefined && this.current !== undefined && this.listeners.size > 0
  }

  /** Bound addresses, with the real port when the config asked for port 0. */
  addresses(): Partial<Record<ListenerName, ListenAddress>> {
    const out: Partial<Record<ListenerName, ListenAddress>> = {}
    for (const [name, server] of this.listeners) {
      const address = server.address() as AddressInfo | null
      if (address) out[name] = { host: address.address, port: address.port }
    }
    return out
  }

  /** Every upstream pool open: the current snapshot's and those retiring. */
  private pools(): Upstream[] {
    return [...(this.current?.upstreams.values() ?? []), ...this.retiring]
  }

  /** Serves `snapshot` from now on; gives its config's warnings, which it logs where new. */
  private install(snapshot: Snapshot): ConfigIssue[] {
    const warnings = configWarnings(snapshot.config, snapshot)
    this.current = snapshot
    this.healthChecks.follow(snapshot)
    this.clientChains.keepOnly(snapshot.policies)
    this.metrics.configLastReloadSuccessTimestamp.set(Date.now() / 1000)
    this.overload.countFromZero(snapshot.config.routes)
    setCertificateExpiry(this.metrics, snapshot.certificates)
    setCrlNextUpdate(this.metrics, snapshot.crls)
    this.warningLog.log(warnings)
    return warnings
  }

  /** A line for each certificate a reload brought, so that a rotation shows in the log; a rotation of many files, 20 and a count. */
  private logNewCertificates(certificates: readonly LoadedCertificate[]): void {
    for (const { route, path, role, certificate } of certificates.slice(0, MAX_LOGGED_AT_A_LOAD)) {
      this.logger.info({ route, key: path, role, ...certificateIdentity(certificate), notAfter: new Date(certificate.validTo).toISOString() }, 'certificate loaded')
    }
    const more = certificates.length - MAX_LOGGED_AT_A_LOAD
    if (more > 0) this.logger.info({ more }, 'more certificates loaded')
  }

  /** Counted under the route its SNI (or, without one, its local address) names; a refusal is logged too. */
  private reportIngressHandshake(outcome: HandshakeOutcome): void {
    const route = outcome.route ?? NO_ROUTE
    recordIngressHandshake(this.metrics, route, outcome)
    if (outcome.reason === 'none') return
    const { reason, detail, clientAddress: client } = outcome
    const crlFiles = () => ingressCrlFiles(this.current?.config.routes.find((candidate) => candidate.name === route))
    const refusal = refusalFields(outcome.certificate, detail, crlFiles)
    const hint = outcome.hint ?? (reason === 'peer_rejected_cert' ? PEER_REJECTED_HINT : undefined)
    this.logRefusal({ route, reason, ...(detail && { detail }), ...(client && { client }), ...refusal, ...(hint && { hint }) })
  }

  private snapshotOptions(previous?: Snapshot): SnapshotOptions {
    const { metrics } = this
    return {
      ...(previous && { previous }),
      tlsHooks: {
        onVerified: (socket, policy, serverName) => this.acceptVerified(socket, policy, serverName),
        onRefusedCertificate: (socket, reason) => this.refusedCertificates.answer(socket, reason),
        onHandshake: (outcome) => this.reportIngressHandshake(outcome),
      },
      upstreamHooks: { onHandshake: (route, event) => recordUpstreamHandshake(metrics, route, event) },
      ticketSecrets: this.ticketSecrets,
      ticketEpoch: this.ticketKeys.epoch,
      ticketKeyLifetimeMs: this.ticketKeys.lifetimeMs,
      clientChains: (id) => this.clientChains.of(id),
      ocspLookups: this.ocspLookups,
    }
  }

  private async bind(config: Config): Promise<void> {
    const { https, http: plain, admin } = config.listen
    if (https) {
      const server = net.createServer({ noDelay: true }, (socket) => {
        if (!this.admit(socket, 'https')) return
        this.afterProxyHeader(socket, 'https', (rest) => {
          if (rest === undefined) return this.sni.dispatch(socket)
          socket.unshift(rest)
          this.sni.dispatch(socket)
          // Paused when its header was read: a 'data' listener does not resume a socket paused so.
          socket.resume()
        })
      })
      await this.listen('https', server, https, config)
    }
    if (plain) {
      const server = net.createServer({ noDelay: true }, (socket) => {
        if (this.admit(socket, 'http')) this.afterProxyHeader(socket, 'http', (rest) => this.requestServer.accept(socket, undefined, rest))
      })
      await this.listen('http', server, plain, config)
    }
    if (admin && this.serveAdmin) {
      const app = createAdminApp({
        logger: this.logger,
        metrics: registrySource(this.metrics.registry, () => this.forgetRemovedRoutes()),
        isReady: () => this.isReady(),
        reload: () => this.reload({ trigger: 'POST /reload' }),
      })
      await this.listen('admin', http.createServer(app), admin, config)
    }
  }

  private admit(socket: net.Socket, listener: PublicListenerName): boolean {
    return this.clientConnections.admit(socket, listener, this.current!.config.limits.connections)
  }

  /**
   * A connection from a source that proxyProtocol trusts goes on once its PROXY header is read, with
   * the client address the header names and the bytes read after it (`rest`, for the listener to take
   * first); any other goes on at once, as it came.
   */
  private afterProxyHeader(socket: net.Socket, listener: PublicListenerName, next: (rest?: Buffer) => void): void {
    const peer = socket.remoteAddress
    if (!this.current!.sendsProxyHeader(peer)) return next()
    const onHeader = (source: string | undefined, rest: Buffer) => {
      if (source !== undefined) setClientAddress(socket, source)
      next(rest)
    }
    readProxyHeader(socket, onHeader, (reason) => this.logProxyHeaderRefused({ listener, peer, reason }))
  }

  private async listen(name: ListenerName, server: net.Server, address: ListenAddress, config: Config): Promise<void> {
    if (this.stopping) throw stoppedWhileStarting()
    await listenOn(server, name, address, config, this.logger)
    this.listeners.set(name, server)
  }

  /** Listener addresses are bound once; changing them needs a restart, and saying so beats ignoring it. */
  private assertSameListeners(config: Config, bound: Config['listen']): void {
    const names = new Set([...Object.keys(bound), ...Object.keys(config.listen)] as ListenerName[])
    const changed = [...names].filter((name) => JSON.stringify(bound[name]) !== JSON.stringify(config.listen[name]))
    if (changed.length > 0) {
      // At the key of each listener changed, or at listen for one removed.
      const issues = changed.map((name) => issueAt(config.file, config.positions, `listen.${name}`, 'listener addresses changed; restart portcullis to apply them'))
      throw new ConfigError(issues)
    }
  }
}
