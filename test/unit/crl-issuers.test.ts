/**
 * Which CA of a route's CA bundle (tls.clientCAs, upstream.ca) each CRL is of, as OpenSSL finds it
 * (tls/crl-issuers.ts), and the bundles whose CRLs could only refuse every peer.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { peculiarX509 } from '../../src/tls/peculiar.js'
import { casWithoutCrl } from '../../src/tls/crl-issuers.js'
import { readCaBundle, readCrl } from '../../src/tls/pem.js'
import { createTestCA, createCrl, type Issued } from '../helpers/pki.js'

describe('casWithoutCrl', () => {
  let dir: string
  let root: Issued
  let int: Issued
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-crl-issuers-'))
    root = await createTestCA({ commonName: 'Issuers Root CA' })
    int = await createTestCA({ commonName: 'Issuers Intermediate CA', issuer: root })
  })
  after(() => rm(dir, { recursive: true, force: true }))

  /** What casWithoutCrl says of a bundle of `cas` and the CRLs `crls`, a file each: the subjects without a CRL. */
  const without = async (cas: Issued[], crls: string[]) => {
    const bundle = join(dir, 'bundle.pem')
    await writeFile(bundle, cas.map((ca) => ca.cert).join(''))
    const files = crls.map((_, i) => join(dir, `${i}.crl`))
    await Promise.all(crls.map((crl, i) => writeFile(files[i]!, crl)))
    return casWithoutCrl(readCaBundle(bundle), files.flatMap(readCrl), files, 'client').map((ca) => ca.subject)
  }

  it("takes a CRL that writes its root's name in another case and string type as the root's, as OpenSSL does", async () => {
    const issuerName = new (peculiarX509().Name)([{ CN: [{ utf8String: 'issuers ROOT ca' }] }])
    assert.deepEqual(await without([root], [await createCrl(root, [], { issuerName })]), [])
  })

  it("refuses CRLs of which none is a root's: another CA's, or one in the root's name that another key signed", async () => {
    const other = await createTestCA({ commonName: 'Issuers Root CA' })
    await assert.rejects(without([root], [await createCrl(int, []), await createCrl(other, [])]), /hold no CRL of a root CA of .*bundle\.pem \(CN=Issuers Root CA\), in its name and signed by its key, only CRLs of CN=Issuers Intermediate CA; CN=Issuers Root CA signed by another key than that CA's: /)
  })

  it('names a CA of the bundle without its CRL, beside a root that has one', async () => {
    assert.deepEqual(await without([root, int], [await createCrl(root, [])]), ['CN=Issuers Intermediate CA'])
  })
})
