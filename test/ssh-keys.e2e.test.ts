/**
 * Public-key logins through Warden with the real ssh client: a key registered to a service account (`warden ssh-keys add`)
 * logs in with no token; an unregistered key is refused; a certificate from Warden's user CA (`warden ssh-cert`)
 * logs in for the life of its token and stops when the token is revoked.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runProcess } from './harness/process.js';
import { generateKey } from './harness/sshd.js';
import { startSshStack, type SshStack } from './harness/ssh-stack.js';

let stack: SshStack;

before(async () => { stack = await startSshStack(); });
after(async () => { await stack?.stop(); });

/** Runs real ssh with identity `key` (and its certificate when present) and no password at all. */
function sshWithKey(login: string, key: string, command: string) {
  return runProcess('ssh', ['-p', String(stack.warden.ports.ssh), '-o', `UserKnownHostsFile=${stack.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-i', key, '-F', '/dev/null',
    `${login}@127.0.0.1`, command]);
}

test('a key registered to a service account logs in as it without a token', async () => {
  const created = await stack.warden.cli(['service-accounts', 'create', 'deploy-bot', '--kind', 'agent']);
  assert.equal(created.code, 0, created.stderr);
  const key = await generateKey(stack.tempDir, 'bot_ed25519');
  const added = await stack.warden.cli(['ssh-keys', 'add', '--service', 'deploy-bot', '--key', `${key}.pub`]);
  assert.equal(added.code, 0, added.stderr);
  const r = await sshWithKey('deploy-bot:web-1', key, 'echo key-ok');
  assert.equal(r.stdout, 'key-ok\n', r.stderr);
  const other = await sshWithKey('erin:web-1', key, 'echo never');
  assert.equal(other.code, 255, 'the key is deploy-bot\'s, not erin\'s');
});

test('an unregistered key is refused', async () => {
  const key = await generateKey(stack.tempDir, 'stranger_ed25519');
  const r = await sshWithKey('deploy-bot:web-1', key, 'echo never');
  assert.equal(r.code, 255);
  assert.doesNotMatch(r.stdout, /never/);
});

test('a certificate from Warden\'s CA logs in for its token, and revoking the token stops it', async () => {
  const token = await stack.token('fred', '--ttl', '1h');
  const key = await generateKey(stack.tempDir, 'fred_ed25519');
  const signed = await stack.warden.cli(['ssh-cert', '--key', `${key}.pub`], { env: { WARDEN_TOKEN: token } });
  assert.equal(signed.code, 0, signed.stderr);
  const cert = path.join(stack.tempDir, 'fred_ed25519-cert.pub');
  const r = await sshWithKey('fred:web-1', key, 'echo cert-ok');
  assert.equal(r.stdout, 'cert-ok\n', r.stderr);
  assert.equal((await stack.warden.cli(['tokens', 'revoke', token])).code, 0);
  const after = await sshWithKey('fred:web-1', key, 'echo never');
  assert.equal(after.code, 255, `${cert} must stop working with its token`);
});
