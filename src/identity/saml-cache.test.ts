/**
 * The bounded request-id memory of SAML sign-ins: ids expire, the oldest go first when full, and an answered id can
 * be claimed exactly once.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestIdCache } from './saml-cache.js';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

describe('RequestIdCache', () => {
  test('a saved id is found until its TTL passes', async () => {
    const c = clock();
    const cache = new RequestIdCache({ ttlMs: 1000, now: c.now });
    assert.ok(await cache.saveAsync('_a', 'instant'));
    assert.equal(await cache.saveAsync('_a', 'again'), null, 'an id is never saved twice');
    c.advance(999);
    assert.equal(await cache.getAsync('_a'), 'instant');
    c.advance(1);
    assert.equal(await cache.getAsync('_a'), null);
  });

  test('when full, the oldest pending ids are dropped first', async () => {
    const cache = new RequestIdCache({ maxEntries: 3 });
    for (const id of ['_1', '_2', '_3', '_4']) await cache.saveAsync(id, 'x');
    assert.equal(cache.size, 3);
    assert.equal(await cache.getAsync('_1'), null);
    assert.equal(await cache.getAsync('_4'), 'x');
  });

  test('expired ids are pruned on the next save, so memory follows the live requests', async () => {
    const c = clock();
    const cache = new RequestIdCache({ ttlMs: 1000, now: c.now });
    for (let i = 0; i < 50; i++) await cache.saveAsync(`_${i}`, 'x');
    c.advance(1000);
    await cache.saveAsync('_new', 'x');
    assert.equal(cache.size, 1);
  });

  test('an id can be claimed once; claiming also forgets it as pending', async () => {
    const cache = new RequestIdCache();
    await cache.saveAsync('_a', 'x');
    assert.equal(cache.claim('_a'), true);
    assert.equal(cache.claim('_a'), false);
    assert.equal(await cache.getAsync('_a'), null);
  });

  test('removeAsync forgets a pending id and says whether it was there', async () => {
    const cache = new RequestIdCache();
    await cache.saveAsync('_a', 'x');
    assert.equal(await cache.removeAsync('_a'), '_a');
    assert.equal(await cache.removeAsync('_a'), null);
    assert.equal(await cache.removeAsync(null), null);
  });
});
