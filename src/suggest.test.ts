/** Unit tests of the "did you mean" suggestions and of parseArgs errors in Warden's words. */
import assert from 'node:assert/strict';
import { parseArgs } from 'node:util';
import { describe, test } from 'node:test';
import { closest, didYouMean, editDistance, parseErrorMessage } from './suggest.js';

describe('suggestions', () => {
  test('edit distance counts a swap of neighbours as one edit', () => {
    assert.equal(editDistance('alcie', 'alice'), 1);
    assert.equal(editDistance('targest', 'targets'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  test('only plausible typos or unambiguous prefixes are suggested', () => {
    assert.equal(closest('aprove', ['approve', 'deny', 'list']), 'approve');
    assert.equal(closest('--password', ['--password-stdin', '--port']), '--password-stdin');
    assert.equal(closest('xyz', ['list', 'show']), undefined);
    assert.equal(closest('s', ['show', 'start']), undefined);
    assert.equal(didYouMean('lst', ['list', 'show']), '; did you mean "list"?');
    assert.equal(didYouMean('frobnicate', ['list', 'show']), '');
  });

  test('parseArgs errors are rewritten, with a suggestion for an unknown flag', () => {
    const options = { output: { type: 'string', short: 'o' }, json: { type: 'boolean' } } as const;
    const error = (args: string[]) => {
      try {
        parseArgs({ args, options, strict: true, allowPositionals: true });
      } catch (err) {
        return parseErrorMessage(err, options);
      }
      return 'no error';
    };
    assert.equal(error(['--jsno']), 'unknown flag "--jsno"; did you mean "--json"?');
    assert.equal(error(['--output']), 'flag --output needs a value');
    assert.equal(error(['--json=yes']), 'flag --json takes no value');
    assert.equal(error(['-x']), 'unknown flag "-x"; did you mean "-o"?');
  });
});
