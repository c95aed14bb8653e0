/**
 * The one source of truth for routes.yaml: the TypeScript types, the validator (Ajv) and the published
 * JSON Schema (schema/routes.schema.json, written by `npm run schema`) all come from these definitions.
 * Every `description` is user documentation; the README's reference says the same thing.
 */
import { Type, type Static } from '@sinclair/typebox'
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_FORWARD_AUTH_TIMEOUT,
  DEFAULT_HEALTH_CHECK_INTERVAL,
  DEFAULT_HEALTH_CHECK_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_OCSP_TIMEOUT,
  DEFAULT_RATE_LIMIT_PERIOD,
  DEFAULT_RESPONSE_TIMEOUT,
  DEFAULT_SHUTDOWN_GRACE,
  DURATION_PATTERN,
  MAX_DURATION_TEXT,
} from './duration.js'
import { PLACEHOLDERS } from './header-placeholders.js'
import { DEFAULT_CONNECTION_LIMIT, DEFAULT_REQUEST_LIMIT } from './limits.js'
import { SIZE_PATTERN } from './size.js'

const Duration = (description: string, fallback: string, example = fallback) =>
  Type.String({
    pattern: DURATION_PATTERN,
    description: `${description} A number with a unit: ms, s, m or h (e.g. 250ms, 5s, 1m), at most ${MAX_DURATION_TEXT}. Default: ${fallback}.`,
    examples: [example],
  })

const HostPort = (description: string, example: string) =>
  Type.String({ minLength: 1, description: `${description} Written host:port, e.g. ${example}.`, examples: [example] })

const FilePath = (description: string) =>
  Type.String({
    minLength: 1,
    description: `${description} A relative path resolves against the folder of routes.yaml.`,
  })

/** `tls.crl` and `upstream.crl`: one PEM CRL file or a list, as nginx's ssl_crl takes one file of several. */
const CrlFiles = (description: string) =>
  Type.Union([FilePath('PEM CRL file.'), Type.Array(FilePath('PEM CRL file.'), { minItems: 1 })], { description })

const ListenSchema = Type.Object(
  {
    https: Type.Optional(
      HostPort('TLS ingress. The certificate is chosen by SNI among the routes that have `tls`.', '0.0.0.0:8443'),
    ),
    http: Type.Optional(
      HostPort(
        'Plaintext ingress. It serves only routes without `tls`; others get 421 Misdirected Request, or a redirect to HTTPS with httpsRedirect.',
        '0.0.0.0:8080',
      ),
    ),
    admin: Type.Optional(
      HostPort(
        'Admin listener: /metrics, /healthz, /readyz, POST /reload. Never reachable through the public listeners.',
        '127.0.0.1:9901',
      ),
    ),
  },
  { additionalProperties: false, description: 'Where the gateway listens. At least `https` or `http` is required.' },
)

const TlsVersionSchema = Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], {
  description: 'Lowest TLS version accepted from clients. Default: TLSv1.2 (older versions are never accepted).',
})

const ForwardClientCertSchema = Type.Union(
  [Type.Literal('xfcc'), Type.Literal('rfc9440'), Type.Literal('both'), Type.Literal('none')],
  {
    description:
      'How the verified client certificate is passed to the upstream: `xfcc` (X-Forwarded-Client-Cert, Envoy format), ' +
      '`rfc9440` (Client-Cert and Client-Cert-Chain), `both` or `none`. Copies sent by clients are always removed. ' +
      'Default: xfcc on routes with clientCAs.',
  },
)

export const HTTP_URL_PATTERN = '^https?://'

const OcspSchema = Type.Object(
  {
    responder: Type.Optional(
      Type.String({
        pattern: HTTP_URL_PATTERN,
        description: "The OCSP responder asked (http:// or https://). Default: the url in each client certificate's authorityInfoAccess.",
        examples: ['http://ocsp.internal:8080/'],
      }),
    ),
    unreachable: Type.Optional(
      Type.Union([Type.Literal('refuse'), Type.Literal('allow')], {
        description:
          'What becomes of a client whose certificate status cannot be had: no responder to ask, none that answers in time, ' +
          'or an answer that is not valid (unsigned, about another certificate, out of date). `refuse` (fail closed, as ' +
          "nginx's ssl_ocsp) or `allow` (fail open). A `revoked` or `unknown` answer is refused either way. Default: refuse.",
      }),
    ),
    timeout: Type.Optional(Duration('Time the responder has to answer; the client waits for it in its handshake.', DEFAULT_OCSP_TIMEOUT)),
  },
  {
    additionalProperties: false,
    description:
      "OCSP (RFC 6960): the status of each client certificate is asked of its CA's responder at its first handshake, and " +
      "remembered until the answer's nextUpdate (an hour without one); a revoked certificate is refused as a CRL refuses it. " +
      "The certificate alone, not its CAs (nginx's `ssl_ocsp leaf`). Requires clientCAs. `ocsp: {}` asks each certificate's own responder.",
  },
)

const ForwardAuthSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^https?://',
      description:
        'The auth service each request is first asked of, with GET and the request\'s headers (its body stays with the ' +
        'gateway), and X-Forwarded-Method, -Proto, -Host, -Uri and -For saying what the request is.',
      examples: ['http://oauth2-proxy.auth.svc:4180/oauth2/auth'],
    }),
    responseHeaders: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description:
          "Headers of the auth service's 2xx answer set on the request sent upstream (who the user is); a client's own " +
          'copies are always removed. Default: none.',
        examples: [['X-Auth-Request-User', 'X-Auth-Request-Email']],
      }),
    ),
    timeout: Type.Optional(Duration('Time the auth service has to answer; past it, the client gets 504.', DEFAULT_FORWARD_AUTH_TIMEOUT)),
  },
  {
    additionalProperties: false,
    description:
      "Delegates each request's authentication to an auth service, as nginx's auth_request, Traefik's forwardAuth, Caddy's " +
      'forward_auth and Envoy\'s ext_authz do (oauth2-proxy, Authelia, Authentik): a 2xx answer lets the request through to ' +
      'the upstream; any other (401, 403, a 302 to a login page) is the client\'s answer, with its headers and body. ' +
      'WebSocket upgrades are asked too. An auth service that cannot be reached gets the client 502. Not for passthrough routes.',
  },
)

/** Names of one kind a client certificate may carry, for allowedClients: exact, or ending in * (a prefix). */
const ClientNames = (description: string, example: string) =>
  Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description, examples: [[example]] }))

const AllowedClientsSchema = Type.Object(
  {
    uri: ClientNames("URI subjectAltNames (SPIFFE ids), as Envoy's match_typed_subject_alt_names URI.", 'spiffe://example.org/ns/prod/sa/orders'),
    dns: ClientNames('DNS subjectAltNames (case-insensitive).', 'billing.internal'),
    commonName: ClientNames("The subject's common name (CN), for certificates that carry no subjectAltName.", 'alice'),
    fingerprint: ClientNames(
      "SHA-256 fingerprints of certificates (hex, with or without colons, as `openssl x509 -fingerprint -sha256` prints them), as Envoy's verify_certificate_hash and Caddy's trusted_leaf_certs pin them.",
      'AB:CD:…',
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    description:
      'Which clients of `clientCAs` this route serves: one whose certificate carries a name listed here (of any kind), or ' +
      'whose fingerprint is listed. A name ending in * matches every name it begins (spiffe://example.org/ns/prod/*). ' +
      "Any other client is answered 403 on this route, its connection kept for the host's other routes. May differ " +
      'between the routes of a host. Requires clientCAs, and a certificate required. Default: every client of clientCAs.',
  },
)

const RouteTlsSchema = Type.Object(
  {
    cert: FilePath('PEM certificate served for this host (leaf first, then intermediates).'),
    key: FilePath('PEM private key of `cert`.'),
    clientCAs: Type.Optional(
      FilePath(
        'Mutual TLS: clients must present a certificate signed by one of the CA certificates in this PEM bundle. ' +
          'Every certificate in it must be a CA (basicConstraints cA=true).',
      ),
    ),
    clientCertRequired: Type.Optional(
      Type.Boolean({
        description:
          'false: a client that sends no certificate is served too, and its requests reach the upstream without a client ' +
          "identity; one that sends a certificate must pass clientCAs and crl (nginx's ssl_verify_client optional, Caddy's " +
          'verify_if_given). Requires clientCAs. Default: true.',
      }),
    ),
    crl: Type.Optional(CrlFiles('One CRL file or a list; client certificates they list are refused. Requires clientCAs.')),
    allowedClients: Type.Optional(AllowedClientsSchema),
    ocsp: Type.Optional(OcspSchema),
    minVersion: Type.Optional(TlsVersionSchema),
    forwardClientCert: Type.Optional(ForwardClientCertSchema),
  },
  { additionalProperties: false, description: 'TLS termination for this host.' },
)

const PassthroughSchema = Type.Literal('passthrough', {
  description:
    'Forward the raw TLS stream, chosen by SNI, to `upstream.url` (tcp://host:port) without terminating it here.',
})

const UpstreamUrl = Type.String({ minLength: 1, description: 'An upstream url.' })

const TimeoutsSchema = Type.Object(
  {
    connect: Type.Optional(Duration('Time to open the upstream connection, TLS handshake included.', DEFAULT_CONNECT_TIMEOUT)),
    response: Type.Optional(Duration("Time from sending the request to the upstream's response headers, and the longest pause between response body chunks, from the upstream or into the client.", DEFAULT_RESPONSE_TIMEOUT)),
    idle: Type.Optional(
      Duration("How long an idle upstream connection is kept for the next request. Set it below the upstream's own idle timeout, so that the gateway closes an idle connection before the upstream does.", DEFAULT_IDLE_TIMEOUT),
    ),
  },
  { additionalProperties: false, description: 'Upstream timeouts. A timeout before the response begins answers 504 Gateway Timeout; a pause past `response` in the middle of a body cuts the response short, and a client that takes nothing for that long has its connection closed.' },
)

/** A Host header's value: a DNS name or IPv4 address, or an IPv6 address in brackets, with an optional port. */
export const HOST_HEADER_PATTERN = '^([A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?$'

/** A final status a health check's answer may pass with. */
const HealthCheckStatus = Type.Integer({ minimum: 200, maximum: 599 })

const HealthCheckSchema = Type.Object(
  {
    path: Type.Optional(
      Type.String({
        pattern: '^/',
        description:
          "The path each url is asked for with GET, as written: the url's own path is not put before it. " +
          'A 2xx or 3xx answer (with `status`, one of its statuses) within `timeout` passes; any other answer, a failed connect or TLS handshake, or no answer fails. ' +
          "Required for http:// and https:// upstreams; a passthrough route's check is a TCP connect, and takes none.",
        examples: ['/healthz'],
      }),
    ),
    host: Type.Optional(
      Type.String({
        pattern: HOST_HEADER_PATTERN,
        description:
          "The Host each check is sent with, a name or an address with an optional port (Traefik's healthCheck hostname, Caddy's " +
          "health_headers Host): for an upstream that serves by name, as the route's requests carry the client's Host. " +
          "Not for passthrough routes. Default: the url's host and port (serverName and the port, where it is set).",
        examples: ['api.example.com'],
      }),
    ),
    status: Type.Optional(
      Type.Union([HealthCheckStatus, Type.Array(HealthCheckStatus, { minItems: 1 })], {
        description:
          "The statuses an answer passes with, one or a list (Traefik's healthCheck status, Caddy's health_status, Envoy's " +
          'expected_statuses): any other fails, as a 3xx to a login page should. Not for passthrough routes. Default: any 2xx or 3xx.',
        examples: [200, [200, 204]],
      }),
    ),
    body: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "A regular expression (JavaScript's) that the answer's body must match to pass, beside its status, as Caddy's " +
          "health_body and HAProxy's http-check expect rstring: for a health endpoint that answers 200 with what is wrong. " +
          'The first 64 KiB of the body are matched. Not for passthrough routes. Default: any body.',
        examples: ['"status":\\s*"UP"'],
      }),
    ),
    interval: Type.Optional(Duration('Time from the end of one check of a url to the start of the next.', DEFAULT_HEALTH_CHECK_INTERVAL)),
    timeout: Type.Optional(Duration('Time a check has to connect and answer.', DEFAULT_HEALTH_CHECK_TIMEOUT)),
    fails: Type.Optional(
      Type.Integer({ minimum: 1, description: 'How many checks in a row must fail before a url is left out. Default: 1.' }),
    ),
    passes: Type.Optional(
      Type.Integer({ minimum: 1, description: 'How many checks in a row must pass before a url left out is back in turn. Default: 1.' }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Active health checks: each url is checked at the start and then every `interval`, through its own keep-alive pool ' +
      '(the same TLS, client certificate and verification as requests). A url that fails its check is left out of the ' +
      'turn until a check passes, as with Caddy\'s health_uri and Traefik\'s healthCheck; when every url fails, each ' +
      'request still gets the next in turn. On a passthrough route, each check is a TCP connect (HAProxy\'s check).',
  },
)

/** A cookie's name: an RFC 9110 token (RFC 6265 4.1.1). */
export const COOKIE_NAME_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"

const UpstreamSchema = Type.Object(
  {
    url: Type.Union([UpstreamUrl, Type.Array(UpstreamUrl, { minItems: 1 })], {
      description:
        'Where requests go: http://host:port or https://host:port, optionally with a path prefix that is prepended ' +
        '(tcp://host:port for passthrough routes). A list shares the requests (or passthrough connections) among its ' +
        'urls in turn, as nginx\'s upstream block does; a url whose connection or TLS handshake fails rests for ' +
        '10 s, and what could not reach it goes to the next url that does not rest. The urls of a list have the ' +
        'same scheme and path, and every other key of `upstream`.',
      examples: ['https://orders.internal:8443', ['https://orders-1.internal:8443', 'https://orders-2.internal:8443']],
    }),
    balance: Type.Optional(
      Type.Union([Type.Literal('roundRobin'), Type.Literal('leastRequests'), Type.Literal('clientIPHash'), Type.Literal('headerHash')], {
        description:
          "How the urls of a list share the requests: `roundRobin`, each request to the next url in turn (nginx's and Envoy's " +
          "default); `leastRequests`, to the url with the fewest requests in flight from this process, ties in turn (nginx's " +
          "least_conn, Envoy's LEAST_REQUEST), for requests that take uneven time; `clientIPHash`, each client address to " +
          "one url while that url is in turn (nginx's ip_hash, Caddy's client_ip_hash), for upstreams that keep sessions in " +
          "memory; `headerHash`, each value of the `hashHeader` request header (a tenant, a user) to one url the same way " +
          "(HAProxy's balance hdr(), Caddy's header policy, Envoy's hash_policy header), a request without it in turn. " +
          'Not for passthrough routes. Default: roundRobin.',
      }),
    ),
    hashHeader: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'With `balance: headerHash`, the name of the request header whose value chooses the url (case-insensitive).',
        examples: ['X-Tenant-ID'],
      }),
    ),
    stickyCookie: Type.Optional(
      Type.String({
        pattern: COOKIE_NAME_PATTERN,
        description:
          "The name of a cookie that keeps each client on the url it was first sent to (Traefik's sticky cookie, nginx Plus's " +
          "sticky cookie): the gateway sets it on the response, naming the url by a hash; a request that carries it goes to " +
          'that url while it is in turn, and any other is balanced as `balance` says. For upstreams that keep sessions in ' +
          'memory, where clients share or change addresses. Not for passthrough routes.',
        examples: ['portcullis_url'],
      }),
    ),
    weights: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0, maximum: 1000 }), {
        minItems: 2,
        description:
          "The weight of each url of the list, in its order: a url of weight 9 takes nine times the requests of one of " +
          "weight 1 (nginx's server weight=, Caddy's weighted_round_robin, Traefik's weighted services), as for a canary. " +
          'With leastRequests, requests in flight are counted against the weight; with clientIPHash, a url of twice the ' +
          "weight keeps twice the clients. 0 drains a url, as HAProxy's weight 0: no new client goes to it, and one its " +
          'stickyCookie keeps there still does; one url at least has a weight above 0. Default: 1 each.',
        examples: [[9, 1]],
      }),
    ),
    slowStart: Type.Optional(
      Duration(
        "How long a url that comes back (its rest after a failed connect is over, or its health check passes after failing) " +
          "takes to get its whole weight, from a tenth of it, as nginx Plus's slow_start, HAProxy's slowstart and Envoy's " +
          'slow_start_config ramp it: an upstream just started, with a cold cache or a JIT not yet warm, is not handed its full ' +
          'share at once. With leastRequests, its requests in flight count against its weight of the moment. Not with clientIPHash.',
        'none, the whole weight at once',
        '30s',
      ),
    ),
    retryOn: Type.Optional(
      Type.Array(Type.Integer({ minimum: 400, maximum: 599 }), {
        minItems: 1,
        description:
          "Statuses (429, 500 to 599) on which a request goes to the next url of the list, as nginx's proxy_next_upstream http_503 and Envoy's " +
          'retriable_status_codes: an answer of one of them rests its url as one that could not be reached, and to a request ' +
          'that may be sent twice (GET, HEAD, OPTIONS, PUT, DELETE, without a body) it is dropped, and the request goes to ' +
          "the next url that does not rest; each url once, the last one's answer the client's. Counted in " +
          'portcullis_upstream_retries_total. Not for passthrough routes, nor for one url. Default: none (every answer is the client\'s).',
        examples: [[502, 503, 504]],
      }),
    ),
    maxRequests: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          "How many requests each url takes at once from this gateway process, as nginx's server max_conns, HAProxy's " +
          "server maxconn and Envoy's circuit breaker max_requests cap what an upstream is sent: a url that has as many " +
          'in flight is passed over (its sticky clients too) until one ends, and a request that finds every url of the ' +
          'list at it is answered 503 Service Unavailable at once, without reaching an upstream, as Envoy answers past its ' +
          'circuit breaker. Counted in portcullis_overload_rejections_total{limit="upstream"}. A url\'s count includes the ' +
          "requests of other routes to it with the same upstream TLS settings, which share its pool; health checks and open " +
          'WebSockets are not counted. Per gateway process (per worker with `workers`). Not for passthrough routes. Default: no limit.',
        examples: [100],
      }),
    ),
    ca: Type.Optional(
      FilePath('CA bundle that verifies the upstream certificate. Default: system roots, the trusted CAs of the system (SSL_CERT_FILE, SSL_CERT_DIR, /etc/ssl/certs; on Node 24, not 20) with the Mozilla roots built into Node and NODE_EXTRA_CA_CERTS. Each entry must be a CA; expired ones are warned about.'),
    ),
    crl: Type.Optional(
      CrlFiles(
        "One CRL file or a list; an upstream certificate they list is refused (502), as with nginx's proxy_ssl_crl. " +
          "Requires `ca`: OpenSSL checks the CRL of every CA of the upstream's chain, its root's too.",
      ),
    ),
    cert: Type.Optional(FilePath('Client certificate presented to the upstream (mutual TLS). Requires `key`.')),
    key: Type.Optional(FilePath('Private key of `cert`.')),
    serverName: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "SNI sent to the upstream and the name its certificate is verified against. Default: the url's host. " +
          "The client's Host header never changes it.",
      }),
    ),
    subjectAltNames: Type.Optional(
      Type.Object(
        {
          uri: ClientNames('URI subjectAltNames (SPIFFE ids).', 'spiffe://example.org/ns/prod/sa/orders'),
          dns: ClientNames('DNS subjectAltNames (case-insensitive).', 'orders.internal'),
        },
        {
          additionalProperties: false,
          minProperties: 1,
          description:
            "The names the upstream's certificate is verified by, in place of the url's host (or serverName): it must carry one of " +
            'them, as Gateway API\'s BackendTLSPolicy subjectAltNames, Traefik\'s peerCertSANs and Envoy\'s ' +
            'match_typed_subject_alt_names check it; for upstreams whose certificate names a workload (a SPIFFE id) rather ' +
            'than a host. A name ending in * matches every name it begins. serverName is still sent as SNI. Default: the url\'s host.',
        },
      ),
    ),
    insecureSkipVerify: Type.Optional(
      Type.Boolean({
        description:
          'Turn off verification of the upstream certificate. Insecure: anyone on the path can impersonate the ' +
          'upstream. Default: false. The gateway logs a warning for a route that sets it, at the load that brings it.',
      }),
    ),
    timeouts: Type.Optional(TimeoutsSchema),
    healthCheck: Type.Optional(HealthCheckSchema),
  },
  { additionalProperties: false, description: 'The service this route forwards to.' },
)

const RateLimitSchema = Type.Object(
  {
    requests: Type.Integer({ minimum: 1, description: 'How many requests each client address may send per `per`.', examples: [100] }),
    per: Type.Optional(Duration('The time `requests` are counted over.', DEFAULT_RATE_LIMIT_PERIOD)),
    burst: Type.Optional(
      Type.Integer({ minimum: 1, description: 'How many requests a client may send at once, after a quiet while. Default: `requests`.' }),
    ),
    by: Type.Optional(
      Type.Union([Type.Literal('address'), Type.Literal('clientCert'), Type.Literal('header')], {
        description:
          "Whom a bucket is for: `address`, each client address; `clientCert`, each client certificate (nginx's limit_req_zone " +
          'on $ssl_client_fingerprint), so that a partner is one client whatever its addresses, and partners behind one NAT are ' +
          "several; `header`, each value of the request header `header` names (an API key: Traefik's sourceCriterion " +
          "requestHeaderName, nginx's limit_req_zone on $http_x_api_key), a quota per key for clients that send their own key, " +
          'no bound on one that sends a new value each time. A client that sent no certificate, or no such header, is counted by ' +
          'its address. `clientCert` needs tls.clientCAs, `header` the `header` key. Default: address.',
      }),
    ),
    header: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'With `by: header`, the name of the request header whose value is the bucket (case-insensitive).',
        examples: ['X-API-Key'],
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      "Requests each client address (or certificate, with `by`) may send, as Traefik's rateLimit and nginx's limit_req " +
      '(with nodelay): a token bucket per client that holds `burst` requests and fills at `requests` per `per`. A request that finds it empty is answered ' +
      '429 Too Many Requests with Retry-After, and reaches no upstream. Per gateway process. Not for passthrough routes.',
  },
)

const IpRangeText = Type.String({ minLength: 1, description: 'An IPv4 or IPv6 address, or a CIDR range.', examples: ['10.0.0.0/8'] })

/** What a route changes of one side's headers: `headers.request` or `headers.response`. */
const HeaderChangesSchema = (message: string, example: Record<string, string>, removed: string, placeholdersText = '') =>
  Type.Object(
    {
      set: Type.Optional(
        Type.Record(Type.String(), Type.String(), {
          description:
            `Headers set on every ${message}: each replaces any value of its name there, or is added. Names are ` +
            'case-insensitive; a value is visible ASCII, spaces and tabs. Quote a value YAML would read as a number or a boolean.' +
            placeholdersText,
          examples: [example],
        }),
      ),
      remove: Type.Optional(
        Type.Array(Type.String({ minLength: 1 }), {
          description: `Header names removed from every ${message}. Case-insensitive.`,
          examples: [[removed]],
        }),
      ),
    },
    { additionalProperties: false, description: `Changes to the headers of every ${message}: remove, then set.` },
  )

const RouteHeadersSchema = Type.Object(
  {
    request: Type.Optional(
      HeaderChangesSchema(
        'request this route sends upstream, WebSocket upgrades included',
        { 'X-Env': 'production', 'X-Client-Subject': '{tls.client.subject}' },
        'Cookie',
        ` A value may hold placeholders, filled per request: ${PLACEHOLDERS.map((placeholder) => `{${placeholder}}`).join(' ')} ` +
          "(the client certificate's: with clientCAs). A header left empty (no client certificate) is not sent.",
      ),
    ),
    response: Type.Optional(
      HeaderChangesSchema(
        "upstream response this route relays (not the gateway's own answers: 404, 502, 504)",
        { 'Strict-Transport-Security': 'max-age=31536000' },
        'Server',
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      "Header changes, as Envoy's request_headers_to_add and response_headers_to_remove, Caddy's header_up and header_down, " +
      "nginx's proxy_set_header and proxy_hide_header. A request's Host may be set (the host the upstream is asked for), " +
      'not removed; the other headers the gateway manages itself (hop-by-hop ones, Content-Length, X-Forwarded-For, ' +
      '-Proto and -Host, X-Real-IP, Expect and the client certificate headers) cannot be changed. Not on a passthrough route.',
  },
)

/** A route name: it labels metrics, where Prometheus takes any text, but dashboards and queries want a word. */
export const ROUTE_NAME_PATTERN = '^[A-Za-z0-9_.:-]+$'

const RouteSchema = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        pattern: ROUTE_NAME_PATTERN,
        description: 'Label in metrics and logs (letters, digits, _ . : -). Default: the host.',
      }),
    ),
    host: Type.String({
      minLength: 1,
      description:
        'Exact host (orders.example.com) or a wildcard for one label (*.example.com). Case-insensitive; the port ' +
        'is ignored. An exact host beats a wildcard.',
    }),
    path: Type.Optional(
      Type.String({
        pattern: '^/',
        description:
          'Path prefix, matched on segment boundaries (/api matches /api, /api/x and /api;p, not /apix) of the request path ' +
          'normalized and decoded (/%61pi%2Fx is under /api); characters other than ASCII are written escaped, as clients ' +
          'send them (/caf%C3%A9). The longest prefix wins. Default: / (everything).',
      }),
    ),
    stripPath: Type.Optional(
      Type.Boolean({
        description:
          "true: the path goes upstream without the route's `path`, as with Kong's strip_path and Traefik's StripPrefix " +
          '(/api/orders?x under path /api goes as /orders?x, and /api as /); the upstream url\'s own path is put before ' +
          "what is left, as Envoy's prefix_rewrite and nginx's proxy_pass with a URI replace the prefix; the upstream gets " +
          'X-Forwarded-Prefix with the path stripped. Needs `path`. ' +
          'Default: false (the path goes as it came).',
      }),
    ),
    forwardAuth: Type.Optional(ForwardAuthSchema),
    compress: Type.Optional(
      Type.Boolean({
        description:
          "true: a response the upstream sent uncompressed is compressed for a client that accepts it (Brotli or gzip, " +
          "by its Accept-Encoding), as Caddy's encode, Traefik's compress and nginx's gzip: text, JSON, JavaScript, XML, " +
          'SVG and WebAssembly bodies of 1 KiB or more (or of no length given), each chunk flushed as it comes; with ' +
          '`Vary: Accept-Encoding`. Not for passthrough routes. Default: false (the body goes as the upstream sent it).',
      }),
    ),
    tls: Type.Optional(Type.Union([RouteTlsSchema, PassthroughSchema])),
    rateLimit: Type.Optional(RateLimitSchema),
    maxRequestBody: Type.Optional(
      Type.String({
        pattern: SIZE_PATTERN,
        description:
          'The largest request body the route takes, as nginx\'s client_max_body_size: a number with a unit, B, KB, MB, ' +
          'GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g. 10MiB. A larger Content-Length is answered ' +
          '413 before anything reaches the upstream (and before 100 Continue); a chunked body that ' +
          'grows past it stops the upstream request and is answered 413, or cut short if the response has begun. ' +
          'The connection closes after a 413. Default: no limit, as Envoy and Caddy.',
        examples: ['10MiB'],
      }),
    ),
    headers: Type.Optional(RouteHeadersSchema),
    allowedIPs: Type.Optional(
      Type.Array(IpRangeText, {
        minItems: 1,
        description:
          "The client addresses the route serves, as nginx's allow (with deny all), Traefik's ipAllowList and Kong's " +
          'ip-restriction: a request from any other address is answered 403 Forbidden, and a passthrough connection ' +
          "closed. The address is the connection's peer, the client a trusted load balancer's PROXY header names " +
          "(proxyProtocol.trustedIPs), or the client a trusted proxy's X-Forwarded-For names (forwardedFor.trustedIPs). Default: every address.",
        examples: [['10.0.0.0/8', '192.0.2.7']],
      }),
    ),
    deniedIPs: Type.Optional(
      Type.Array(IpRangeText, {
        minItems: 1,
        description:
          "The client addresses the route refuses, as nginx's deny (before its allow), Caddy's not remote_ip and Envoy's " +
          'RBAC deny: a request from one of them is answered 403 Forbidden, and a passthrough connection closed, ' +
          'whatever allowedIPs take; the address is read as for allowedIPs. Default: none.',
        examples: [['203.0.113.0/24']],
      }),
    ),
    upstream: UpstreamSchema,
  },
  { additionalProperties: false },
)

/** The most worker processes `workers` and --workers may ask for. */
export const MAX_WORKERS = 256

const WorkersSchema = Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: MAX_WORKERS })], {
  description: 'node:cluster worker processes sharing the listeners: a number, or auto (one per CPU). Default: 1.',
})

const ShutdownSchema = Type.Object(
  {
    grace: Type.Optional(Duration('How long in-flight requests get after SIGTERM before the process exits.', DEFAULT_SHUTDOWN_GRACE)),
  },
  { additionalProperties: false, description: 'Graceful shutdown.' },
)

const LimitsSchema = Type.Object(
  {
    connections: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'Client connections one gateway process holds open at once on the https and http listeners, TLS passthrough ' +
          'included. One more is closed at once, before any TLS work, and counted in ' +
          `portcullis_overload_rejections_total{limit="connections"}. Default: ${DEFAULT_CONNECTION_LIMIT}.`,
        examples: [DEFAULT_CONNECTION_LIMIT],
      }),
    ),
    requests: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'Requests one gateway process proxies at once; a WebSocket counts for its whole life. One more is answered ' +
          '503 at once, without contacting the upstream, and counted in ' +
          `portcullis_overload_rejections_total{limit="requests"}. Default: ${DEFAULT_REQUEST_LIMIT}.`,
        examples: [DEFAULT_REQUEST_LIMIT],
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Overload limits, per gateway process: with `workers`, each worker has its own (as nginx\'s worker_connections). ' +
      'A reload applies new limits to new connections and requests; nothing already admitted is cut.',
  },
)

export const ConfigSchema = Type.Object(
  {
    listen: ListenSchema,
    workers: Type.Optional(WorkersSchema),
    shutdown: Type.Optional(ShutdownSchema),
    limits: Type.Optional(LimitsSchema),
    mergeSlashes: Type.Optional(
      Type.Boolean({
        description:
          'Merge repeated slashes in request paths before routing, and send the merged path upstream, as nginx does ' +
          '(merge_slashes): //admin cannot pass a route /admin by. false keeps them, for upstreams that carry URLs in ' +
          'paths (image proxies: /300x200/https://…). Default: true.',
      }),
    ),
    accessLog: Type.Optional(
      Type.Boolean({
        description:
          'Log one line per request at info level (route, method, host, path without its query, status, duration, client address), as nginx\'s access_log. Default: false.',
      }),
    ),
    requestId: Type.Optional(
      Type.Boolean({
        description:
          'true: every request that reaches routing carries an X-Request-Id to the upstream and back to the client, and its ' +
          'log lines say it (requestId). One the client sent is kept where it is an id (8 to 200 letters, digits and + / = . _ : -), ' +
          'as Kong and Heroku keep it; any other is replaced by a new UUID. Default: false.',
      }),
    ),
    proxyProtocol: Type.Optional(
      Type.Object(
        {
          trustedIPs: Type.Array(IpRangeText, {
            minItems: 1,
            description:
              'The load balancers in front of the gateway: a connection from one of these addresses must begin with a PROXY ' +
              'protocol header (version 1 or 2), whose client address the gateway then uses (logs, X-Forwarded-For, X-Real-IP). ' +
              'Connections from other addresses are served as they come, without one.',
          }),
        },
        {
          additionalProperties: false,
          description:
            'PROXY protocol on the https and http listeners, as nginx\'s listen … proxy_protocol with set_real_ip_from, and ' +
            'Traefik\'s proxyProtocol.trustedIPs. A reload applies it to new connections. Default: none (no header is read).',
        },
      ),
    ),
    forwardedFor: Type.Optional(
      Type.Object(
        {
          trustedIPs: Type.Array(IpRangeText, {
            minItems: 1,
            description:
              'The proxies in front of the gateway whose X-Forwarded-For it believes. A request from one of these addresses (the ' +
              "connection's peer, or the client its PROXY header names) has for its client the rightmost address of its " +
              'X-Forwarded-For that is not in this list; allowedIPs, X-Real-IP and the logs take it. The peer is still appended ' +
              'to X-Forwarded-For.',
          }),
        },
        {
          additionalProperties: false,
          description:
            "Read the client's address from X-Forwarded-For behind an HTTP load balancer, as nginx's set_real_ip_from with " +
            "real_ip_recursive on, and Traefik's ipStrategy. An entry that is no IP address ends the reading at the last trusted " +
            'one. A reload applies it to the next request. Default: none (X-Forwarded-For is never read).',
        },
      ),
    ),
    httpsRedirect: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        description:
          'The public port of the https listener (443 behind a load balancer or a Kubernetes Service). With it, the http ' +
          'listener answers a request for a route with `tls` 308 Permanent Redirect to https://its-host:this-port/its-path ' +
          '(no port for 443), as Caddy does by default and nginx with return 308 https://$host$request_uri. Requires ' +
          'listen.http and listen.https. Default: none (such a request gets 421 Misdirected Request).',
        examples: [443],
      }),
    ),
    routes: Type.Array(RouteSchema, {
      minItems: 1,
      description:
        'The route table. A request takes the route of its host with the longest matching path prefix, whatever the order. ' +
        'The order decides the rest: a ClientHello whose SNI no route has (or without SNI, to an address no route has) gets ' +
        'the policy of the first route that asks for no client certificate (or the first policy), with the certificate of ' +
        "that policy's first route; a shared upstream pool is labelled with the first of its routes; and an SNI host's " +
        'handshakes with its route of the shortest path, the first of several as short.',
    }),
  },
  {
    additionalProperties: false,
    // Keys starting with x- are the user's own, as in Compose files: a place to keep YAML anchors.
    patternProperties: { '^x-': {} },
    $id: 'https://github.com/portcullis/portcullis/schema/routes.schema.json',
    title: 'portcullis routes.yaml (version 1)',
  },
)

/** routes.yaml exactly as written (after schema validation). */
export type RawConfig = Static<typeof ConfigSchema>
export type RawRoute = Static<typeof RouteSchema>
export type Workers = Static<typeof WorkersSchema>
export type TlsVersion = Static<typeof TlsVersionSchema>
export type ForwardClientCert = Static<typeof ForwardClientCertSchema>
