import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthFailureLimiter } from './auth-limiter.js';

test('a source is refused past its failures and allowed again after the window', () => {
  let now = 1000;
  const limiter = new AuthFailureLimiter({ maxFailures: 3, windowMs: 100 }, () => now);
  for (let i = 0; i < 3; i++) {
    assert.equal(limiter.allowed('10.0.0.1'), true);
    limiter.failed('10.0.0.1');
  }
  assert.equal(limiter.allowed('10.0.0.1'), false);
  assert.equal(limiter.allowed('::ffff:10.0.0.1'), false, 'IPv4-mapped is the same source');
  assert.equal(limiter.allowed('10.0.0.2'), true, 'other sources go on');
  now += 100;
  assert.equal(limiter.allowed('10.0.0.1'), true);
});

test('one IPv6 /64 is one source', () => {
  const limiter = new AuthFailureLimiter({ maxFailures: 1, windowMs: 1000 });
  limiter.failed('2001:db8::1');
  assert.equal(limiter.allowed('2001:db8::ffff'), false);
  assert.equal(limiter.allowed('2001:db8:0:1::1'), true);
});

test('the number of tracked sources is bounded', () => {
  const limiter = new AuthFailureLimiter({ maxFailures: 1, windowMs: 1000, maxSources: 2 });
  limiter.failed('10.0.0.1');
  limiter.failed('10.0.0.2');
  limiter.failed('10.0.0.3');
  assert.equal(limiter.allowed('10.0.0.1'), true, 'the oldest was dropped');
  assert.equal(limiter.allowed('10.0.0.3'), false);
});
