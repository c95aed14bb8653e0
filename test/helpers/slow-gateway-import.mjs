/**
 * Preloaded (--import) by a test: the portcullis command's import of its gateway modules
 * (src/cli/run.ts) waits 1.5 s, and the file PORTCULLIS_TEST_IMPORT_MARKER names is written as the wait
 * begins, so that the test can send a signal while those modules load.
 */
import { register } from 'node:module'

register('./slow-gateway-import-hooks.mjs', import.meta.url)
