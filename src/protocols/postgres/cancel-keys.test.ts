/**
 * CancelKeys: each session gets a distinct key, a CancelRequest finds its session only with the exact secret, and
 * an ended session's keys are forgotten.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancelKeys } from './cancel-keys.js';

test('issues distinct keys, finds sessions by exact secret only, forgets ended sessions', () => {
  const keys = new CancelKeys();
  const a = keys.issue('ses_a');
  const b = keys.issue('ses_b');
  assert.notEqual(a.processId, b.processId);
  assert.equal(a.secretKey.length, 4);
  assert.equal(keys.find(a.processId, a.secretKey), 'ses_a');
  assert.equal(keys.find(b.processId, b.secretKey), 'ses_b');
  assert.equal(keys.find(a.processId, b.secretKey.equals(a.secretKey) ? Buffer.from([0, 0, 0, 1]) : b.secretKey), undefined);
  assert.equal(keys.find(a.processId, Buffer.concat([a.secretKey, Buffer.from([0])])), undefined, 'length differs');
  assert.equal(keys.find(a.processId + 1 === b.processId ? a.processId + 2 : a.processId + 1, a.secretKey), undefined);
  keys.remove('ses_a');
  assert.equal(keys.find(a.processId, a.secretKey), undefined);
  assert.equal(keys.find(b.processId, b.secretKey), 'ses_b');
});
