/**
 * heldBackLength: the bytes a streaming search must hold back are exactly the suffix that could still begin a needle,
 * so an event that cannot be the start of a credential passes at once. Checked on examples and, exhaustively in
 * spirit, on many random strings over a two-letter alphabet (where overlaps are common) against its definition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heldBackLength } from './stream-relay.js';

const b = (s: string): Buffer => Buffer.from(s);

test('nothing is held when no suffix can begin a needle: an event ending in a blank line passes whole', () => {
  assert.equal(heldBackLength(b('id: 1\ndata: {"seq":1}\n\n'), [b('s3cr3t-token'), b('czNjcjN0LXRva2Vu')]), 0);
  assert.equal(heldBackLength(b(''), [b('abc')]), 0);
  assert.equal(heldBackLength(b('abc'), []), 0);
});

test('the longest suffix that is a proper prefix of any needle is held', () => {
  assert.equal(heldBackLength(b('data: s3c'), [b('s3cr3t')]), 3);
  assert.equal(heldBackLength(b('xx ab'), [b('abc'), b('b-long')]), 2);
  assert.equal(heldBackLength(b('ab'), [b('abcdef')]), 2, 'data shorter than the needle, all of it a prefix');
  assert.equal(heldBackLength(b('x abc'), [b('abc')]), 0, 'a whole needle is found by the search, not held');
  assert.equal(heldBackLength(b('aaa'), [b('aaab')]), 3);
});

test('on random strings: no unheld position starts a proper prefix of a needle, and the held part is one', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const word = (max: number): string => Array.from({ length: 1 + rand(max) }, () => 'ab'[rand(2)]).join('');
  for (let i = 0; i < 5000; i++) {
    const data = b(word(12));
    const needles = [b(word(6)), b(word(6))];
    const held = heldBackLength(data, needles);
    const startsNeedle = (p: number): boolean => needles.some((n) => data.length - p < n.length && n.subarray(0, data.length - p).equals(data.subarray(p)));
    for (let p = 0; p < data.length - held; p++) assert.ok(!startsNeedle(p), `${data} ${needles.join(',')}: position ${p} not held`);
    if (held > 0) assert.ok(startsNeedle(data.length - held), `${data} ${needles.join(',')}: held ${held} needlessly`);
  }
});
