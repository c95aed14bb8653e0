/**
 * What a config may do but probably should not: serve a certificate that clients will refuse (or its
 * chain without an intermediate, incomplete-chains.ts), present one that upstreams will refuse, skip
 * upstream verification, forward to the gateway's own listener, give two routes one name (and so one
 * set of series), refuse peers with a CRL past its nextUpdate or a CA of a bundle without its CRL,
 * keep a private key in a CA bundle, or trust every address to name the client (a /0 in trustedIPs).
 * Warnings never stop a start or a reload (nginx loads an expired certificate too, and a rotation may be
 * on its way); `check` prints them all and the gateway logs each when it first appears, in the same
 * file:line:col form as errors.
 */
import type { X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { incompleteChains } from './incomplete-chains.js'
import type { CaWithoutCrl, LoadedCertificate, LoadedCrl } from './route-files.js'
import { CLIENT_AUTH, extendedUsageLacks, outsideValidity, SERVER_AUTH } from '../tls/cert-checks.js'
import { subjectRfc2253 } from '../tls/subject.js'
import { cappedIssuesForLog, formatIssue, issueAt, sortByPosition, type ConfigIssue } from '../config/issues.js'
import { ownListenerOf } from '../config/own-listener.js'
import type { Config } from '../config/types.js'
import type { Logger } from '../log.js'

/** What a snapshot build read from the files the config names. */
interface LoadedFiles {
  readonly certificates: readonly LoadedCertificate[]
  readonly crls: readonly LoadedCrl[]
  readonly casWithoutCrl: readonly CaWithoutCrl[]
  readonly caBundlesWithKey: readonly string[]
}

export function configWarnings(config: Config, { certificates, crls, casWithoutCrl, caBundlesWithKey }: LoadedFiles, now = Date.now()): ConfigIssue[] {
  const warnings: ConfigIssue[] = []
  const warn: Warn = (path, message) => warnings.push(issueAt(config.file, config.positions, path, message))
  const firstOfName = new Map<string, number>()
  for (const route of config.routes) {
    if (route.tls !== 'passthrough' && route.upstream.insecureSkipVerify) {
      // Not refused: turning verification off for a while should not mean deleting the CRLs too. But
      // the warning says they are ignored, which nginx (proxy_ssl_verify off) does without a word.
      const crls = route.upstream.crl.length > 0 ? ', so upstream.crl is not checked either: a revoked upstream certificate is accepted' : ''
      warn(`routes[${route.index}].upstream.insecureSkipVerify`, `upstream certificate verification is off${crls}`)
    }
    // With a path prefix a request comes back on another path, which another route may take.
    for (const url of route.upstream.pathPrefix === '' ? route.upstream.urls : []) {
      const own = ownListenerOf(url, config.listen)
      if (own) warn(url.path, `${url.url} is this gateway's own listen.${own}: what the route forwards comes back into the gateway, where the same route takes it again (a loop, which only limits end)`)
    }
    // Explicit names are unique (an error otherwise); a defaulted one is the host, which its routes share.
    const first = firstOfName.get(route.name)
    if (first === undefined) firstOfName.set(route.name, route.index)
    else warn(`routes[${route.index}]`, `has the same name as routes[${first}] (${route.name}), so their metrics and logs are one; give each a name`)
  }
  // nginx takes set_real_ip_from 0.0.0.0/0 too: right where nothing but the balancers can reach the gateway.
  for (const [key, header] of [['proxyProtocol', 'a PROXY header'], ['forwardedFor', 'its X-Forwarded-For']] as const) {
    config[key]?.trustedIPs.forEach(({ prefix, family }, index) => {
      const every = family === 'ipv4' ? 'IPv4' : 'IPv6'
      if (prefix === 0) warn(`${key}.trustedIPs[${index}]`, `trusts every ${every} address: any client that reaches the gateway can name another address in ${header}; list only your balancers, unless nothing else can reach the gateway`)
    })
  }
  for (const loaded of certificates) certificateWarnings(loaded, config.routes[loaded.routeIndex]!.host, now, warn)
  for (const { path, message } of incompleteChains(certificates)) warn(path, message)
  for (const { path, peer, nextUpdate } of crls) {
    // OpenSSL refuses a chain whose CRL is past its nextUpdate (CRL_HAS_EXPIRED), as nginx does.
    if (nextUpdate && nextUpdate.getTime() < now) {
      const passed = nextUpdate.toISOString()
      warn(path, `holds a CRL whose nextUpdate passed on ${passed}; every ${peer} certificate it covers is refused until it is replaced`)
    }
  }
  // With no root's CRL, every chain would be refused: an error (casWithoutCrl). Another CA's refuses some.
  for (const { path, peer, certificate, namesakeAt } of casWithoutCrl) {
    const bundle = peer === 'client' ? 'tls.clientCAs' : 'upstream.ca'
    // A CRL in its name that another CA of that name signed is not its CRL: OpenSSL refuses the chain (CRL_SIGNATURE_FAILURE).
    const which = namesakeAt ? ` (certificate ${namesakeAt} of the file, which holds another CA of that name)` : ''
    warn(path, `has no CRL of ${subjectRfc2253(certificate)}${which}, a CA of ${bundle}: every ${peer} certificate whose chain runs through it is refused`)
  }
  // A CA's key and certificate written to one file (`cat ca.crt ca.key > ca.pem`): the key is never read.
  for (const path of caBundlesWithKey) {
    warn(path, "holds a private key beside its CA certificates; the gateway reads only the certificates, and whoever can read a CA's key can issue certificates it trusts: keep the key off the gateway")
  }
  return sortByPosition(warnings)
}

type Warn = (path: string, message: string) => void

/** `host`: the host of the route that names the certificate, which a server certificate must name. */
function certificateWarnings({ path, role, certificate, intermediate }: LoadedCertificate, host: string, now: number, warn: Warn): void {
  const invalid = validityProblem(certificate, now)
  if (intermediate) {
    const peers = role === 'server' ? 'clients' : 'upstreams'
    if (invalid) warn(path, `holds an intermediate that ${invalid} (${subjectRfc2253(certificate)}); ${peers} will refuse the chain`)
  } else if (role === 'ca') {
    if (invalid) warn(path, `holds a CA certificate that ${invalid} (${subjectRfc2253(certificate)}); chains through it will not verify`)
  } else if (role === 'server') {
    if (invalid) warn(path, `${invalid}; clients will refuse it`)
    // A wildcard route is checked with a name its pattern covers.
    const name = host.startsWith('*.') ? `wildcard-check${host.slice(1)}` : host
    if (!(isIP(name) ? certificate.checkIP(name) : certificate.checkHost(name))) {
      warn(path, `does not name ${host} (it names ${certificate.subjectAltName ?? certificate.subject})`)
    }
    if (!certificate.subjectAltName) {
      // The ngrok recipe's `openssl x509 -req` without -extfile makes one: say what to add to it.
      const san = `${isIP(host) ? 'IP' : 'DNS'}:${host}`
      warn(path, `has no subjectAltName: browsers and Go clients refuse a host named only in the CN (RFC 6125 6.4.4); sign it again with one that names ${host}: openssl x509 -req … -extfile <(printf "subjectAltName=${san}")`)
    }
    if (extendedUsageLacks(certificate, SERVER_AUTH)) warn(path, 'is not for TLS servers (its extended key usage lacks serverAuth)')
  } else {
    if (invalid) warn(path, `${invalid}; upstreams will refuse it`)
    if (extendedUsageLacks(certificate, CLIENT_AUTH)) warn(path, 'is not for TLS clients (its extended key usage lacks clientAuth)')
  }
}

function validityProblem(certificate: X509Certificate, now: number): string | undefined {
  switch (outsideValidity(certificate, new Date(now))) {
    case 'CERT_HAS_EXPIRED':
      return `expired on ${new Date(certificate.validTo).toISOString()}`
    case 'CERT_NOT_YET_VALID':
      return `is not valid before ${new Date(certificate.validFrom).toISOString()}`
    default:
      return undefined
  }
}

/**
 * The gateway's log of its config's warnings: each when it first appears (at start, or at the reload
 * that brings it), as many lines as there are up to a limit: a table of a thousand routes that one
 * wrong certificate serves must not log a thousand lines. `portcullis check` lists them all.
 */
export class WarningLog {
  /** The warnings of the config now serving, so that a reload logs only those it brings. */
  private serving = new Set<string>()

  constructor(private readonly logger: Logger) {}

  log(warnings: readonly ConfigIssue[]): void {
    const lines = warnings.map(formatIssue)
    const fresh = lines.filter((line) => !this.serving.has(line))
    this.serving = new Set(lines)
    for (const line of cappedIssuesForLog(fresh, 'more')) this.logger.warn(`config warning: ${line}`)
  }
}
