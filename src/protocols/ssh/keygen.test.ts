import { test } from 'node:test';
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import { generateEd25519 } from './keygen.js';

// ssh2 alone writes about 1 in 250 ed25519 keys it cannot read back (a 31-byte public key); 1,000 pairs would hit
// that about four times, so this fails on the bare generator nearly always.
test('every generated ed25519 pair reads back, with a 32-byte public key', () => {
  for (let i = 0; i < 1000; i++) {
    const pair = generateEd25519();
    const parsed = ssh2.utils.parseKey(pair.private);
    assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed), `pair ${i}: ${String(parsed)}`);
    assert.equal(parsed.type, 'ssh-ed25519');
    assert.equal(parsed.getPublicSSH().length, 51, `pair ${i}`);
    assert.ok(pair.public.startsWith('ssh-ed25519 '));
  }
});

test('an encrypted pair reads back only with its passphrase', () => {
  const pair = generateEd25519('correct horse');
  assert.ok(ssh2.utils.parseKey(pair.private, 'wrong') instanceof Error);
  const parsed = ssh2.utils.parseKey(pair.private, 'correct horse');
  assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed));
});
