/**
 * Default overload limits, per gateway process (per worker with `workers`). Placeholder figures until
 * measured.
 */
export const DEFAULT_CONNECTION_LIMIT = 4096
export const DEFAULT_REQUEST_LIMIT = 1024
