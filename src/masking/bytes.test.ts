import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { emailDomainStart, utf8Length, writeUtf8 } from './bytes.js';
import { maskValue } from './strategies.js';
import { prng } from './test-random.js';

const KEY = Buffer.from('bytes-test-key-0123456789abcdef');

/** What partial masking of a whole column value gives through the byte rule, or undefined when it defers to strings. */
function viaBytes(value: string): string | undefined {
  const bytes = Buffer.from(`##${value}##`, 'utf8');
  const domain = emailDomainStart(bytes, 2, bytes.length - 2);
  return domain < 0 ? undefined : `***@${bytes.toString('utf8', domain, bytes.length - 2)}`;
}


describe('partial masking of an e-mail column on bytes', () => {
  test('keeps the domain exactly when the string strategy does, and defers otherwise', () => {
    assert.equal(viaBytes('user1@example.com'), '***@example.com');
    assert.equal(viaBytes('a@mail.example.co.uk'), '***@mail.example.co.uk');
    for (const value of ['@example.com', 'a@example', 'a@-x.com', 'a@x-.com', 'a@x..com', 'a@x.com.', 'a@x.c0m', 'no at', 'a@b@c.org']) {
      const bytes = viaBytes(value);
      if (bytes !== undefined) assert.equal(bytes, maskValue('partial', value, 'column', KEY), value);
    }
    assert.equal(viaBytes('jörg@exämple.com'), undefined, 'a non-ASCII domain is judged by the string rule');
  });

  test('fuzz: wherever the byte rule answers, it answers like maskValue', () => {
    const random = prng(7);
    const pieces = ['a', 'Z', '9', '.', '-', '@', 'com', 'io', 'x1', '_', ' ', 'ü', 'example', 'q'.repeat(70)];
    const domain = ['a', 'Z', '9', '.', '.', '-', 'com', 'io', 'x1', 'example', 'ü', 'q'.repeat(62)];
    const pick = (list: string[], n: number) => Array.from({ length: n }, () => list[Math.floor(random() * list.length)]).join('');
    let answered = 0;
    for (let i = 0; i < 5000; i++) {
      const value = `${pick(pieces, Math.floor(random() * 4))}@${pick(domain, 1 + Math.floor(random() * 6))}`;
      const bytes = viaBytes(value);
      const strings = maskValue('partial', value, 'column', KEY);
      if (bytes === undefined) {
        assert.equal(strings?.startsWith('***@') && !/[^\x00-\x7f]/.test(value.slice(value.lastIndexOf('@'))), false, value);
      } else {
        answered++;
        assert.equal(bytes, strings, value);
      }
    }
    assert.ok(answered > 100, `the byte rule answered ${answered} times`);
  });
});

describe('UTF-8 helpers', () => {
  test('length and write agree with Buffer for ASCII, two-, three- and four-byte characters', () => {
    for (const value of ['', 'abc', 'é', '€uro', '🙂 ok', `${'x'.repeat(200)}ü`]) {
      assert.equal(utf8Length(value), Buffer.byteLength(value), value);
      const out = Buffer.alloc(utf8Length(value) + 2);
      assert.equal(writeUtf8(out, 1, value, utf8Length(value)), Buffer.byteLength(value));
      assert.equal(out.toString('utf8', 1, 1 + Buffer.byteLength(value)), value);
    }
  });
});
