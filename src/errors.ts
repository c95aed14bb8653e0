/**
 * Error codes are the contract (tests and callers check `err.code`); messages may improve.
 */
export const ErrorCodes = {
  CONFIG: 'PCL_ERR_CONFIG',
  CERT_READ: 'PCL_ERR_CERT_READ',
  CERT_NOT_CA: 'PCL_ERR_CERT_NOT_CA',
  KEY_MISMATCH: 'PCL_ERR_KEY_MISMATCH',
  LISTEN: 'PCL_ERR_LISTEN',
  /** The upstream connection failed: refused, not resolved, or reset, before or during the answer. */
  UPSTREAM_CONNECT: 'PCL_ERR_UPSTREAM_CONNECT',
  UPSTREAM_TLS: 'PCL_ERR_UPSTREAM_TLS',
  UPSTREAM_TIMEOUT: 'PCL_ERR_UPSTREAM_TIMEOUT',
  UPSTREAM_RESPONSE: 'PCL_ERR_UPSTREAM_RESPONSE',
  INTERNAL: 'PCL_ERR_INTERNAL',
  /** A limit of routes.yaml `limits` was reached: a connection closed at accept, or a request answered 503. */
  OVERLOADED: 'PCL_ERR_OVERLOADED',
  /** Gateway.stop() came before start() was done: start() ends, leaving nothing bound or watched. */
  STOPPED: 'PCL_ERR_STOPPED',
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

export class PortcullisError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** How deep errorChain() follows causes: far beyond any real chain, and an end to a cause that points back. */
const MAX_CAUSES = 8

/** `error` and its causes, outermost first: the objects of the chain, at most MAX_CAUSES of them. */
export function* errorChain(error: unknown): Generator<{ readonly code?: unknown; readonly cause?: unknown }> {
  let at = error
  for (let depth = 0; depth < MAX_CAUSES && typeof at === 'object' && at !== null; depth++) {
    yield at
    at = (at as { cause?: unknown }).cause
  }
}
