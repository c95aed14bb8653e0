/**
 * Reads portcullis' own counters from its admin /metrics, before and after a run: upstream TLS
 * handshakes (connections opened) and session resumptions, as the README names them.
 */
export interface PortcullisCounters {
  readonly upstreamHandshakes: number
  readonly upstreamResumptions: number
  readonly ingressHandshakes: number
  readonly ingressResumptions: number
  readonly reloadFailures: number
}

/** Sum of every series of `name` whose labels include all of `labels`. */
export function sumSeries(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const match = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line)
    if (!match || match[1] !== name) continue
    const set = match[3] ?? ''
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(match[4])
  }
  return sum
}

export async function scrapePortcullis(admin: string): Promise<PortcullisCounters> {
  const res = await fetch(`${admin}/metrics`)
  const text = await res.text()
  return {
    upstreamHandshakes: sumSeries(text, 'portcullis_tls_handshakes_total', { side: 'upstream' }),
    upstreamResumptions: sumSeries(text, 'portcullis_tls_session_resumptions_total', { side: 'upstream' }),
    ingressHandshakes: sumSeries(text, 'portcullis_tls_handshakes_total', { side: 'ingress' }),
    ingressResumptions: sumSeries(text, 'portcullis_tls_session_resumptions_total', { side: 'ingress' }),
    reloadFailures: sumSeries(text, 'portcullis_config_reloads_total', { result: 'failure' }),
  }
}
