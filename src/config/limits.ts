/**
 * Default overload limits, per gateway process (per worker with `workers`): one process with both
 * limits reached fits well inside the 512Mi memory limit of deploy/kubernetes/deployment.yaml. Measured with
 * `npm run bench:overload-memory` (RSS of a fresh gateway before and after 500 and 1,000 of each,
 * 2-core VM): an idle keep-alive TLS client connection costs 28-43 KiB on Node 20.20 and 35-53 KiB on
 * Node 24.21; a request in flight (its client TLS connection and an upstream mTLS connection held)
 * 103-108 KiB on Node 20 and 160-168 KiB on Node 24. The process starts at 110-140 MiB. At both
 * defaults, with Node 24's worst figures: 140 MiB + 1,024 × 168 KiB + 1,024 more idle connections
 * × 53 KiB = 361 MiB, which leaves 150 MiB for garbage between collections and a burst's buffers.
 * 4,096 connections would reach 467 MiB, too near the limit to be safe.
 */
export const DEFAULT_CONNECTION_LIMIT = 2048
/** Envoy's circuit breakers allow 1,024 requests per cluster by default. */
export const DEFAULT_REQUEST_LIMIT = 1024
