/**
 * Which upstream urls are the gateway's own listener. The README's ngrok example once sent its route to
 * https://127.0.0.1:8443, the port the gateway itself listens on in the demo and the reference: every
 * request came back to the same route, 1,024 deep, until limits.requests answered 503 with a log line
 * about overload that did not say why.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigLoader } from '../../src/config/load.js'
import { ownListenerOf } from '../../src/config/own-listener.js'

// [listen.https, listen.http, upstream url, the listener it reaches]
const CASES: ReadonlyArray<readonly [string, string, string, 'https' | 'http' | undefined]> = [
  ['127.0.0.1:8443', '127.0.0.1:8080', 'https://127.0.0.1:8443', 'https'],
  ['127.0.0.1:8443', '127.0.0.1:8080', 'http://127.0.0.1:8080', 'http'],
  ['127.0.0.1:8443', '127.0.0.1:8080', 'https://localhost:8443', 'https'],
  ['127.0.0.1:8443', '127.0.0.1:8080', 'https://LOCALHOST.:8443/', 'https'],
  ['localhost:8443', '127.0.0.1:8080', 'https://127.0.0.1:8443', 'https'],
  ['0.0.0.0:8443', '0.0.0.0:8080', 'https://127.0.0.1:8443', 'https'],
  ['0.0.0.0:8443', '0.0.0.0:8080', 'https://127.1.2.3:8443', 'https'],
  ['0.0.0.0:8443', '0.0.0.0:8080', 'https://0.0.0.0:8443', 'https'],
  ['[::]:8443', '[::]:8080', 'https://127.0.0.1:8443', 'https'],
  ['[::]:8443', '[::]:8080', 'https://[::1]:8443', 'https'],
  ['[::]:8443', '[::]:8080', 'https://0.0.0.0:8443', 'https'],
  ['[::]:8443', '[::]:8080', 'https://[::]:8443', 'https'],
  ['[::1]:8443', '[::1]:8080', 'https://localhost:8443', 'https'],
  ['0.0.0.0:443', '0.0.0.0:80', 'https://localhost', 'https'],
  ['0.0.0.0:443', '0.0.0.0:80', 'http://localhost', 'http'],
  ['orders.example.com:8443', '127.0.0.1:8080', 'https://Orders.Example.com:8443', 'https'],

  // another port, another address, or a name only DNS could tell
  ['127.0.0.1:8443', '127.0.0.1:8080', 'https://127.0.0.1:9443', undefined],
  ['127.0.0.1:8443', '127.0.0.1:8080', 'https://127.0.0.2:8443', undefined],
  ['10.0.0.5:8443', '10.0.0.5:8080', 'https://127.0.0.1:8443', undefined],
  ['10.0.0.5:8443', '10.0.0.5:8080', 'https://localhost:8443', undefined],
  ['0.0.0.0:8443', '0.0.0.0:8080', 'https://[::1]:8443', undefined],
  ['0.0.0.0:8443', '0.0.0.0:8080', 'https://10.0.0.5:8443', undefined],
  ['0.0.0.0:8443', '0.0.0.0:8080', 'https://orders.internal:8443', undefined],
  ['[::]:8443', '[::]:8080', 'https://10.0.0.5:8443', undefined],
  ['127.0.0.1:0', '127.0.0.1:0', 'https://127.0.0.1:443', undefined],
]

test('an upstream url is known as the gateway\'s own listener from the addresses as written', () => {
  for (const [https, http, url, expected] of CASES) {
    const config = new ConfigLoader('/tmp/routes.yaml').parse(`listen: {https: '${https}', http: '${http}'}
routes:
  - {host: a.test, upstream: {url: '${url}'}}
`)
    assert.equal(ownListenerOf(config.routes[0]!.upstream.urls[0]!, config.listen), expected, `${url} with https ${https}, http ${http}`)
  }
})
