/**
 * The OCSP answers of one gateway process (tls.ocsp): asked of the responder of a client certificate
 * the first time it comes, and remembered, as nginx's ssl_ocsp_cache remembers them, until the
 * answer's nextUpdate, or for an hour where it has none. A failed lookup is not remembered: the next
 * client asks again. Clients with the same certificate that come while it is asked wait for the same
 * answer.
 */
import type { X509Certificate } from 'node:crypto'
import { request } from 'undici'
import { boundedBody } from '../bounded-body.js'
import type { OcspConfig } from '../config/types.js'
import { RecentByCertificate } from './peer-certificates.js'
import { OcspError, ocspQuestion, readOcspResponse, type OcspAnswer, type OcspFailure } from './ocsp.js'

/**
 * Why a lookup gave no answer: the response's (OcspFailure), no responder to ask, none that answered
 * in time, or no issuer known to ask about the certificate (a resumed session, see ClientTrust.ocspVerdict).
 */
export type OcspLookupFailure = OcspFailure | 'OCSP_NO_RESPONDER' | 'OCSP_RESPONDER_UNREACHABLE' | 'OCSP_ISSUER_UNKNOWN'

export type OcspOutcome = { readonly answer: OcspAnswer; readonly failure?: never; readonly error?: never } | { readonly answer?: never; readonly failure: OcspLookupFailure; readonly error: Error }

export interface OcspLookupHooks {
  /** Each lookup sent to a responder (or that found none to ask), with its outcome and duration. */
  readonly onLookup: (outcome: OcspOutcome, durationSeconds: number, responder: string | undefined) => void
}

/** Certificates whose answers are remembered; the oldest asked goes first. */
const REMEMBERED_ANSWERS = 10_000
/** Without nextUpdate, as long as nginx keeps such an answer. */
const ANSWER_WITHOUT_NEXT_UPDATE_MS = 3_600_000
/** An answer is a few KB; a responder that sends more than this is not one. */
const MAX_RESPONSE_BYTES = 64 * 1024

export class OcspLookups {
  private readonly answers = new RecentByCertificate<{ readonly answer: OcspAnswer; readonly until: number }>(REMEMBERED_ANSWERS)
  private readonly asking = new Map<string, Promise<OcspOutcome>>()

  constructor(private readonly hooks: OcspLookupHooks) {}

  /**
   * What the responder says of `certificate`: remembered, or asked now about it and the issuer
   * `issuerOf` finds, which is looked for only then (it verifies signatures).
   */
  async status(certificate: X509Certificate, issuerOf: () => X509Certificate | undefined, settings: OcspConfig): Promise<OcspOutcome> {
    const responder = settings.responder ?? responderOf(certificate)
    const key = `${responder ?? ''}\n${certificate.fingerprint256}`
    const remembered = this.answers.get(key)
    if (remembered && remembered.until > Date.now()) return { answer: remembered.answer }
    let asked = this.asking.get(key)
    if (!asked) {
      const issuer = issuerOf()
      if (!issuer) return { failure: 'OCSP_ISSUER_UNKNOWN', error: new Error('the issuer of the client certificate is not known here: its TLS session was resumed, and the intermediates its client sent are not') }
      asked = this.ask(certificate, issuer, responder, settings.timeoutMs).finally(() => this.asking.delete(key))
      this.asking.set(key, asked)
    }
    const outcome = await asked
    if (outcome.answer) this.answers.remember(key, { answer: outcome.answer, until: outcome.answer.nextUpdate?.getTime() ?? Date.now() + ANSWER_WITHOUT_NEXT_UPDATE_MS })
    return outcome
  }

  private async ask(certificate: X509Certificate, issuer: X509Certificate, responder: string | undefined, timeoutMs: number): Promise<OcspOutcome> {
    const started = performance.now()
    const outcome = await lookUp(certificate, issuer, responder, timeoutMs)
    this.hooks.onLookup(outcome, (performance.now() - started) / 1000, responder)
    return outcome
  }
}

async function lookUp(certificate: X509Certificate, issuer: X509Certificate, responder: string | undefined, timeoutMs: number): Promise<OcspOutcome> {
  if (!responder) return { failure: 'OCSP_NO_RESPONDER', error: new Error('the certificate names no OCSP responder (authorityInfoAccess), and tls.ocsp.responder is not set') }
  const question = ocspQuestion(certificate, issuer)
  let der: Buffer
  try {
    der = await post(responder, question.request, timeoutMs)
  } catch (error) {
    return { failure: 'OCSP_RESPONDER_UNREACHABLE', error: error as Error }
  }
  try {
    return { answer: readOcspResponse(der, question) }
  } catch (error) {
    if (error instanceof OcspError) return { failure: error.code, error }
    throw error
  }
}

/** The responder's answer to `body`, POSTed as RFC 6960 A.1 has it; throws where there is none in time. */
async function post(responder: string, body: Buffer, timeoutMs: number): Promise<Buffer> {
  const signal = AbortSignal.timeout(timeoutMs)
  const response = await request(responder, { method: 'POST', body, headers: { 'content-type': 'application/ocsp-request' }, signal })
  if (response.statusCode !== 200) {
    await response.body.dump()
    throw new Error(`the OCSP responder answered HTTP ${response.statusCode}`)
  }
  return boundedBody(response.body, MAX_RESPONSE_BYTES, "the OCSP responder's answer")
}

/** The first OCSP url of the certificate's authorityInfoAccess, as Node prints it ("OCSP - URI:http://…"). */
function responderOf(certificate: X509Certificate): string | undefined {
  return certificate.infoAccess
    ?.split('\n')
    .map((line) => /^OCSP - URI:(https?:\/\/\S+)$/.exec(line.trim())?.[1])
    .find((url) => url !== undefined)
}
