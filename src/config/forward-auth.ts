/** A route's forwardAuth, checked and resolved (proxy/forward-auth.ts asks the service). */
import type { PartialRoute } from './checkable.js'
import { writtenNames } from './certificate-names.js'
import { checkDuration, DEFAULT_FORWARD_AUTH_TIMEOUT, parseDuration } from './duration.js'
import { requestHeaderSetProblem } from './header-changes.js'
import type { Report } from './issues.js'
import { shownValue } from './shown-value.js'
import type { ForwardAuth } from './types.js'

/** `raw` (at `at`) resolved, its problems reported; undefined where it has no url (the schema's to report). */
export function resolveForwardAuth(raw: NonNullable<PartialRoute['forwardAuth']>, at: string, report: Report): ForwardAuth | undefined {
  if (raw.url !== undefined && /^https?:\/\//.test(raw.url) && !URL.canParse(raw.url)) report(`${at}.url`, `${shownValue(raw.url)} is not a url that parses`)
  checkDuration(`${at}.timeout`, raw.timeout, report, { positive: true })
  // The service's answer sets them on the request, as a route's headers.request.set would.
  raw.responseHeaders?.forEach((name, i) => {
    const problem = name === undefined ? undefined : requestHeaderSetProblem(name)
    if (problem) report(`${at}.responseHeaders[${i}]`, problem)
  })
  if (raw.url === undefined) return undefined
  return {
    url: raw.url,
    responseHeaders: writtenNames(raw.responseHeaders).map((name) => name.toLowerCase()),
    timeoutMs: parseDuration(raw.timeout ?? DEFAULT_FORWARD_AUTH_TIMEOUT)!,
  }
}
