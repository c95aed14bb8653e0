/**
 * A value of the user's as a message shows it. Messages go to the terminal of `check`, to the log and
 * into the POST /reload answer, and the project prints no secrets: a key or certificate pasted into a
 * key that takes text (`url: |` then a PEM, a Kubernetes Secret's base64) is named for what it looks
 * like, never echoed, and a long value is cut, so that one line stays one issue.
 */

/** The most characters of a value a message quotes; a longer one is cut, with … where it is cut. */
const MAX_SHOWN = 60

/**
 * `value` as a message quotes it: text in single quotes (`'up.test:443'`), or as JSON writes it with
 * `quote` `"` (`"5 seconds"`, `["a"]`, `5`); YAML's .inf, -.inf and .nan as YAML writes them, which
 * JSON has no spelling of (it writes null). Text that looks like a key or certificate is said in
 * words, unquoted (`PEM text`).
 */
export function shownValue(value: unknown, quote: "'" | '"' = "'"): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? '.nan' : value > 0 ? '.inf' : '-.inf'
  // The yaml library gives the merge key (`!!merge <<` where a value belongs) as a Symbol, which JSON writes as undefined.
  if (typeof value === 'symbol') return '<<'
  const text = typeof value === 'string' ? value : String(JSON.stringify(value, (_, item: unknown) => (typeof item === 'symbol' ? '<<' : item)))
  const looks = secretLike(text)
  if (looks) return looks
  const chars = [...text]
  const cut = chars.length > MAX_SHOWN ? `${chars.slice(0, MAX_SHOWN - 1).join('')}…` : text
  if (typeof value !== 'string') return cut
  return quote === '"' ? JSON.stringify(cut) : `'${cut}'`
}

/** Whether a message may write `text` as it is (in a hint: `write https://${text}`), as shownValue would. */
export function shownWhole(text: string): boolean {
  return secretLike(text) === undefined && [...text].length <= MAX_SHOWN
}

/** What `text` looks like, in words, where it looks like a key, a certificate or another secret; else undefined. */
export function secretLike(text: string): string | undefined {
  if (isPemText(text)) return 'PEM text'
  if (isBase64OfKeyOrCertificate(text.trim())) return 'base64 of a key or certificate'
  if (hasLongBase64(text)) return 'a long base64 value'
  return undefined
}

/** PEM: a -----BEGIN or -----END line, or several lines of base64 (a PEM body pasted without them). */
export function isPemText(text: string): boolean {
  if (/-----(?:BEGIN|END)/.test(text)) return true
  const lines = text.split(/\r\n|\r|\n/).map((line) => line.trim()).filter((line) => line !== '')
  return lines.length >= 2 && lines.every((line) => /^[A-Za-z0-9+/]+={0,2}$/.test(line)) && lines.join('').length >= 64
}

/**
 * Base64 that decodes to PEM, or to DER (an ASN.1 SEQUENCE with a long-form length: any key or
 * certificate): what `kubectl get secret -o yaml` shows of tls.key, even its first 16 characters.
 */
export function isBase64OfKeyOrCertificate(text: string): boolean {
  if (!/^[A-Za-z0-9+/]{16,}={0,2}$/.test(text)) return false
  const decoded = Buffer.from(text, 'base64')
  return decoded.subarray(0, 10).toString('latin1') === '-----BEGIN' || (decoded[0] === 0x30 && decoded[1]! >= 0x81)
}

/**
 * A run of 32 base64 characters or more with upper case, lower case and digits in it: a token, a key
 * or a line of one. A host name is not written in mixed case, and the words of a name are cut into
 * shorter runs by their . - _; a run that begins with / is read as a path's segments, as / is
 * base64's own (`/Users/alice/Projects/Portcullis2/certs` is no token).
 */
function hasLongBase64(text: string): boolean {
  const runs = (text.match(/[A-Za-z0-9+/]{32,}/g) ?? []).flatMap((run) => (run.startsWith('/') ? run.split('/') : [run]))
  return runs.some((run) => run.length >= 32 && /[A-Z]/.test(run) && /[a-z]/.test(run) && /[0-9]/.test(run))
}
