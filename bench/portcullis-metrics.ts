/**
 * Reads portcullis' own TLS counters from its admin /metrics, before and after a run: upstream
 * handshakes (connections opened) and session resumptions (scenarios a, b), and ingress resumptions
 * (scenario c, where there should be none).
 */
export interface PortcullisCounters {
  readonly upstreamHandshakes: number
  readonly upstreamResumptions: number
  readonly ingressResumptions: number
}

/** Sum of every series of `name` whose labels include all of `labels`. */
function sumSeries(text: string, name: string, labels: Record<string, string> = {}): number {
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
    ingressResumptions: sumSeries(text, 'portcullis_tls_session_resumptions_total', { side: 'ingress' }),
  }
}
