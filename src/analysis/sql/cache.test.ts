/**
 * TextCache: least-recently-used eviction, and both bounds (entries and total text length).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TextCache } from './cache.js';

describe('TextCache', () => {
  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = new TextCache<number>({ maxEntries: 3, maxChars: 1000 });
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    assert.equal(cache.get('a'), 1); // a is now the most recent
    cache.set('d', 4);
    assert.equal(cache.get('b'), undefined);
    assert.deepEqual([cache.get('a'), cache.get('c'), cache.get('d'), cache.size], [1, 3, 4, 3]);
  });

  it('bounds the total length of the cached texts', () => {
    const cache = new TextCache<number>({ maxEntries: 100, maxChars: 160 });
    for (let i = 0; i < 20; i++) cache.set(`${i}`.padStart(10, 'x'), i);
    assert.ok(cache.totalChars <= 160);
    assert.equal(cache.size, 16);
    assert.equal(cache.get('19'.padStart(10, 'x')), 19);
  });

  it('never caches a text longer than a sixteenth of the budget', () => {
    const cache = new TextCache<number>({ maxEntries: 100, maxChars: 160 });
    cache.set('y'.repeat(11), 1);
    assert.equal(cache.size, 0);
  });

  it('replaces an entry without counting its text twice', () => {
    const cache = new TextCache<number>({ maxEntries: 10, maxChars: 1000 });
    cache.set('abc', 1);
    cache.set('abc', 2);
    assert.deepEqual([cache.get('abc'), cache.size, cache.totalChars], [2, 1, 3]);
    cache.clear();
    assert.deepEqual([cache.size, cache.totalChars], [0, 0]);
  });
});
