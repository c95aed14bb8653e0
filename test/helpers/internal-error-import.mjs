/**
 * Loaded with --import by the test of how the command says a bug: makes the step named by
 * PORTCULLIS_TEST_THROW_IN throw a TypeError, as a bug would. `compose`: the yaml library's, while
 * routes.yaml is read; `stdout`: the write of check's `ok` line, after the check.
 */
import { Composer } from 'yaml'

const boom = () => {
  throw new TypeError('injected for a test')
}
if (process.env.PORTCULLIS_TEST_THROW_IN === 'compose') Composer.prototype.compose = boom
if (process.env.PORTCULLIS_TEST_THROW_IN === 'stdout') process.stdout.write = boom
