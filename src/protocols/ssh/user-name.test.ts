import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WardenError } from '../../errors.js';
import { parseSshUserName } from './user-name.js';

test('user:target and user@target both split at the last separator', () => {
  assert.deepEqual(parseSshUserName('alice:web-1'), { user: 'alice', target: 'web-1' });
  assert.deepEqual(parseSshUserName('alice@web-1'), { user: 'alice', target: 'web-1' });
  assert.deepEqual(parseSshUserName('alice@example.com:web-1'), { user: 'alice@example.com', target: 'web-1' });
  assert.deepEqual(parseSshUserName('alice@example.com@web-1'), { user: 'alice@example.com', target: 'web-1' });
});

test('a name without a target is refused with a hint, control characters never echoed', () => {
  for (const name of ['alice', ':web-1', 'alice:', '@', '', 'al\x1b[2Jice']) {
    assert.throws(() => parseSshUserName(name), (err: unknown) => err instanceof WardenError
      && err.code === 'WARDEN_ERR_UNAUTHENTICATED' && /USER:TARGET/.test(err.message) && !err.message.includes('\x1b'));
  }
});
