/**
 * Sizes in routes.yaml (`512KiB`, `10MB`): the pattern the schema holds them to and their reading as
 * bytes, with the hint for a size written nginx's way.
 */
import type { Report } from './issues.js'

/**
 * A size in routes.yaml: a number with a unit, decimal (KB, MB, GB: powers of 1000) or binary (KiB,
 * MiB, GiB: powers of 1024), as Caddy reads them. The schema's pattern, and what parseSize reads.
 */
export const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?(B|kB|KB|MB|GB|KiB|MiB|GiB)$'
const SIZE = new RegExp(SIZE_PATTERN)

const UNIT_BYTES = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30 } as const

/** '512KiB' → 524288, '1.5MB' → 1500000; undefined when the text is not a size with a unit. */
export function parseSize(text: string): number | undefined {
  const unit = SIZE.exec(text)?.[2] as keyof typeof UNIT_BYTES | undefined
  if (unit === undefined) return undefined
  return Math.floor(Number(text.slice(0, -unit.length)) * UNIT_BYTES[unit])
}

/** A size the schema took that is no limit: less than a byte. */
export function checkSize(path: string, text: string | undefined, report: Report): void {
  if (text !== undefined && parseSize(text) === 0) report(path, 'must be at least 1B: leave the key out for no limit')
}

/** nginx's size suffixes (client_max_body_size 10m), which are powers of 1024. */
const NGINX_UNITS: Record<string, string> = { k: 'KiB', m: 'MiB', g: 'GiB' }

/** `value` written as here, where it is a size as nginx writes one ('10m' → '10MiB'). */
export function fromNginxSize(value: unknown): string | undefined {
  const nginx = typeof value === 'string' ? /^([0-9]+)([kmg])$/i.exec(value) : null
  return nginx ? `${nginx[1]}${NGINX_UNITS[nginx[2]!.toLowerCase()]}` : undefined
}
