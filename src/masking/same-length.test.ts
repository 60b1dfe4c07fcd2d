/**
 * Same-length masking tests: every strategy keeps the byte length, partial keeps what strategies.ts' partial keeps
 * in place, context is read but never rewritten, lookahead completes a value cut at the end.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MaskItem } from '../policy/schema.js';
import { SameLengthMasker } from './same-length.js';

function masked(item: MaskItem, text: string, context = '', lookahead = ''): string {
  const m = SameLengthMasker.forRules([{ rule: 'p/r', items: [item] }]);
  assert.ok(m);
  const bytes = Buffer.from(`xx${text}yy`, 'latin1');
  m.mask(bytes, 2, 2 + text.length, Buffer.from(context, 'latin1'), Buffer.from(lookahead, 'latin1'));
  assert.equal(bytes.length, text.length + 4);
  assert.equal(bytes.toString('latin1', 0, 2) + bytes.toString('latin1', bytes.length - 2), 'xxyy', 'outside the range untouched');
  return bytes.toString('latin1', 2, 2 + text.length);
}

describe('SameLengthMasker', () => {
  it('overwrites a match byte for byte under redact, hash and null', () => {
    for (const strategy of ['redact', 'hash', 'null'] as const) {
      assert.equal(masked({ detectors: ['card'], strategy }, 'a 4111-1111-1111-1111 b'), `a ${'*'.repeat(19)} b`);
    }
  });

  it('keeps the last four letters and digits, or an e-mail domain, under partial', () => {
    assert.equal(masked({ detectors: ['card'], strategy: 'partial' }, '4111 1111 1111 1111'), '***************1111');
    assert.equal(masked({ detectors: ['email'], strategy: 'partial' }, 'to bob@example.com.'), 'to ***@example.com.');
    assert.equal(masked({ patterns: ['pin-\\d+'], strategy: 'partial' }, 'pin-123'), '*******');
  });

  it('finds a value from context and lookahead but rewrites only its own range', () => {
    assert.equal(masked({ detectors: ['card'], strategy: 'redact' }, '1111 1111', '4111 1111 ', ''), '*********');
    assert.equal(masked({ detectors: ['card'], strategy: 'redact' }, '4111 1111', '', ' 1111 1111'), '*********');
    assert.equal(masked({ detectors: ['card'], strategy: 'redact' }, '4111 1111', '', ''), '4111 1111');
  });
});
