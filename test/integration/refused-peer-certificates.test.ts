/**
 * What the gateway reads of a refused peer's certificates (tls/peer-certificates.ts), over a real TLS
 * connection: a peer may send hundreds, and reading them all held the event loop at each handshake.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import tls, { type TLSSocket } from 'node:tls'
import { it } from 'node:test'
import { MAX_FOLLOWED_CHAIN } from '../../src/tls/chain-path.js'
import { chainVerdict, refusedPeerCertificates } from '../../src/tls/peer-certificates.js'
import { createCrl, createTestCA, issueTestCert, type Issued } from '../helpers/pki.js'
import { listenOnLoopback } from '../helpers/upstream.js'

/** A client certificate and the CAs above it, each of one name and signed by the key of the one before. */
async function longChain(length: number): Promise<{ leaf: Issued; cas: Issued[] }> {
  const cas = [await createTestCA({ commonName: 'Loop CA' })]
  while (cas.length < length) cas.unshift(await createTestCA({ commonName: 'Loop CA', issuer: cas[0] }))
  return { leaf: await issueTestCert(cas[0]!, { commonName: 'client', usage: 'client' }), cas }
}

it('reads a refused chain to one certificate past the longest followed, leaf first, and knows the peer without the chain', async () => {
  const bundle = await createTestCA({ commonName: 'Bundle Root' })
  const serverCa = await createTestCA({ commonName: 'Server CA' })
  const server = await issueTestCert(serverCa, { commonName: 'localhost', dnsNames: ['localhost'], usage: 'server' })
  const { leaf, cas } = await longChain(MAX_FOLLOWED_CHAIN + 5)
  const crl = await createCrl(bundle, [])
  const tlsServer = tls.createServer({ cert: server.cert, key: server.key, ca: bundle.cert, crl, requestCert: true, rejectUnauthorized: false })
  const port = await listenOnLoopback(tlsServer)
  const accepted = once(tlsServer, 'secureConnection') as Promise<[TLSSocket]>
  const client = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', cert: leaf.cert + cas.map((ca) => ca.cert).join(''), key: leaf.key, rejectUnauthorized: false })
  client.on('error', () => {})
  try {
    const [socket] = await accepted
    // The CRL of the chain's issuer is missing: the verdict for which the chain is read.
    assert.equal(chainVerdict(socket), 'UNABLE_TO_GET_CRL')
    const fingerprint = new X509Certificate(leaf.cert).fingerprint256
    const chain = refusedPeerCertificates(socket, () => true)
    assert.equal(chain?.length, MAX_FOLLOWED_CHAIN + 1)
    assert.equal(chain[0]!.fingerprint256, fingerprint)
    assert.deepEqual(refusedPeerCertificates(socket, () => false)?.map((certificate) => certificate.fingerprint256), [fingerprint])
    socket.destroy()
  } finally {
    client.destroy()
    tlsServer.close()
  }
})
