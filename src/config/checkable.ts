/**
 * What the rules (resolve.ts) get of a config the schema refused in part, so that one run lists the
 * problems of every stage: each value the schema refused is taken out, and the rest is checked. A
 * route keeps its other keys, and its place, so every route keeps its key paths.
 */
import { ConfigError, sortByPosition } from './issues.js'
import type { RawConfig, RawRoute } from './schema.js'
import { refusalIssues, type SchemaRefusal } from './validate.js'

/** Each key optional, and each item of a list a hole where the schema refused it. */
type Partly<T> = T extends readonly (infer Item)[] ? readonly (Partly<Item> | undefined)[] : T extends object ? { readonly [K in keyof T]?: Partly<T[K]> } : T

/** A route the schema refused in part, without the values it refused: any key of it may be missing. */
export type PartialRoute = Partly<RawRoute>

/**
 * A schema-valid config, or one the schema refused in part. `partialRoutes` are the indexes of the
 * routes it refused in part; a route it refused whole (not a mapping) is undefined.
 */
export type CheckableConfig = Omit<RawConfig, 'routes' | 'listen'> & {
  /** Undefined, or without a listener, where the schema refused it (see listenRefused). */
  readonly listen: RawConfig['listen'] | undefined
  /** The schema refused `listen` or a listener: the rules that ask which listeners there are are left out. */
  readonly listenRefused?: boolean
  readonly routes: readonly (PartialRoute | undefined)[]
  readonly partialRoutes?: ReadonlySet<number>
}

/**
 * `value` (which the schema refused: `refusals`) as the rules can check it. A refused top-level setting
 * (`workers`, `limits`) is taken out whole, so that it has its default there; a refused listener, or a
 * `listen` refused or missing (a misspelt `listne`), is taken out, and the routes are still checked.
 * Throws the schema's issues where nothing after them can be trusted: a refusal of the document or of
 * the route list itself.
 */
export function checkableConfig(value: unknown, refusals: readonly SchemaRefusal[]): CheckableConfig {
  if (refusals.length === 0) return value as RawConfig
  const stops = ([key, index]: readonly string[]) => key === undefined || (key === 'routes' && index === undefined)
  if (refusals.some(({ keys }) => stops(keys))) throw new ConfigError(sortByPosition(refusalIssues(refusals)))
  let config = value as Record<string, unknown>
  const routes = [...(config.routes as unknown[])]
  const partialRoutes = new Set<number>()
  let listenRefused = false
  for (const { keys } of refusals) {
    const [key, index, ...inRoute] = keys as [string, ...string[]]
    if (key === 'listen') {
      listenRefused = true
      config = without(config, keys)
    } else if (key !== 'routes') config = without(config, [key])
    else if (inRoute.length === 0) routes[Number(index)] = undefined
    else {
      routes[Number(index)] = without(routes[Number(index)], inRoute)
      partialRoutes.add(Number(index))
    }
  }
  return { ...(config as unknown as RawConfig), routes: routes as (PartialRoute | undefined)[], partialRoutes, listenRefused }
}

/**
 * `value` without what lies at `keys`, copied along the way (a value from a YAML anchor may be shared).
 * An item of a list becomes a hole (undefined), so that the items after it keep their key paths and are
 * checked still (a list of CRL files with one refused). A key that is not there (a missing one) leaves
 * `value` as it is.
 */
function without<T>(value: T, [key, ...rest]: readonly string[]): T {
  if (key === undefined) return value
  if (Array.isArray(value)) return value.map((item, i) => (String(i) !== key ? item : rest.length > 0 ? without(item, rest) : undefined)) as T
  if (!isMapping(value) || !Object.hasOwn(value, key)) return value
  if (rest.length > 0) return { ...value, [key]: without(value[key], rest) }
  const { [key]: _refused, ...others } = value
  return others as T
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
