import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { findMatches } from './detectors.js';
import { emailHitsAscii } from './email-bytes.js';
import { prng } from './test-random.js';

/** The byte finder's matches in `text`, placed inside a larger buffer so that value bounds matter. */
function viaBytes(text: string): Array<[number, number]> {
  const pad = 'x@a.bc\\';
  const bytes = Buffer.from(`${pad}${text}${pad}`, 'latin1');
  const hits: number[] = [1, 2, 3];
  const n = emailHitsAscii(bytes, pad.length, pad.length + text.length, 7, hits, 3);
  assert.deepEqual(hits.slice(0, 3), [1, 2, 3], 'writes from n on');
  const out: Array<[number, number]> = [];
  for (let i = 3; i < n; i += 3) {
    assert.equal(hits[i + 2], 7);
    out.push([hits[i] - pad.length, hits[i + 1] - pad.length]);
  }
  return out;
}


describe('e-mail addresses on ASCII bytes', () => {
  test('the same matches as the string detector on known cases', () => {
    for (const text of [
      'a@b.com', 'contact user123@example.org today', 'x.y+z@mail.example.co.uk', 'ALICE@EXAMPLE.COM', '@example.com',
      'a@example', 'a@example.c', 'a@example.com1', 'a@-x.com', 'a@x-.com', 'a@x..com', 'a@x.com.', 'a@x.c0m.org',
      'a@b.cd-e', '"\\nbob@x.io"', '\\\\nbob@x.io', 'a@b.com@c.org', `${'l'.repeat(65)}@x.io`, `${'l'.repeat(64)}@x.io`,
      `a@${'d'.repeat(64)}.com`, `a@x.${'t'.repeat(64)}`, 'one a@b.io two c@d.io', 'a@b.io,c@d.io', 'mail:a@b.co.uk.',
    ]) {
      assert.deepEqual(viaBytes(text), findMatches('email', text), text);
    }
  });

  test('fuzz: random ASCII texts agree with the string detector', () => {
    const random = prng(20241123);
    const pieces = ['a', 'Z', '0', '9', '.', '..', '-', '_', '%', '+', '@', '@@', ' ', '\\', '\\n', '"', 'com', 'io', 'x1',
      'example', 'user', 'a@b.com', '.org', '-x', 'c0m', ',', ':', 'nrt', 'ab'.repeat(40), 'q'.repeat(61), 'w'.repeat(62)];
    for (let i = 0; i < 5000; i++) {
      let text = '';
      const n = 1 + Math.floor(random() * 14);
      for (let j = 0; j < n; j++) text += pieces[Math.floor(random() * pieces.length)];
      assert.deepEqual(viaBytes(text), findMatches('email', text), JSON.stringify(text));
    }
  });
});
