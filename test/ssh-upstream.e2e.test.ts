/**
 * The upstream side of SSH through Warden, end to end: a vaulted private key logs in, the host key is checked
 * (a pinned fingerprint that does not match refuses the session naming both; without a pin the first key is
 * recorded and a replaced server is refused naming both), and a target that is down or rejects the vaulted
 * credentials gives a clear error with no secret in it. Each failure leaves Warden serving other sessions.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { freePort } from './harness/ports.js';
import { startSshd, type SshServer } from './harness/sshd.js';
import { startSshStack, type SshStack } from './harness/ssh-stack.js';

let stack: SshStack;
let token: string;
const extra: SshServer[] = [];

before(async () => {
  stack = await startSshStack();
  token = await stack.token('alice');
});
after(async () => {
  for (const s of extra) await s.stop();
  await stack?.stop();
});

const account = () => ({ host: stack.sshd.host, port: stack.sshd.port, user: stack.sshd.account.user });
const ssh = (login: string, command = 'echo ok') => stack.run('ssh', [`${login}@127.0.0.1`, command], { token });

test('a target with a vaulted private key logs in with it', async () => {
  await stack.addTarget('key-1', { ...account(), privateKey: stack.sshd.account.privateKey });
  const r = await ssh('alice:key-1');
  assert.equal(r.stdout, 'ok\n', r.stderr);
});

test('a pinned fingerprint that does not match refuses the session naming both', async () => {
  const wrong = `SHA256:${'A'.repeat(43)}`;
  await stack.addTarget('pinned-1', { ...account(), password: stack.sshd.account.password, hostKeyFingerprint: wrong });
  const r = await ssh('alice:pinned-1');
  assert.equal(r.code, 255);
  assert.ok(r.stderr.includes(wrong), r.stderr);
  assert.ok(r.stderr.includes(stack.sshd.hostKeyFingerprint), r.stderr);
  assert.doesNotMatch(r.stdout, /ok/);
});

test('the right pin logs in', async () => {
  await stack.addTarget('pinned-2', { ...account(), password: stack.sshd.account.password,
    hostKeyFingerprint: stack.sshd.hostKeyFingerprint });
  assert.equal((await ssh('alice:pinned-2')).stdout, 'ok\n');
});

test('without a pin the first key is recorded, and a replaced server is refused naming both keys', async () => {
  const first = await startSshd();
  extra.push(first);
  await stack.addTarget('tofu-1', { host: first.host, port: first.port, user: first.account.user, password: first.account.password });
  assert.equal((await ssh('alice:tofu-1')).stdout, 'ok\n');
  const port = first.port;
  await first.stop();
  const second = await startSshd({ port });
  extra.push(second);
  assert.notEqual(second.hostKeyFingerprint, first.hostKeyFingerprint);
  const r = await ssh('alice:tofu-1');
  assert.equal(r.code, 255);
  assert.ok(r.stderr.includes(first.hostKeyFingerprint), r.stderr);
  assert.ok(r.stderr.includes(second.hostKeyFingerprint), r.stderr);
  assert.match(r.stderr, /changed/);
});

test('a target that is down is a clear error, and Warden goes on', async () => {
  const port = await freePort();
  await stack.addTarget('down-1', { host: '127.0.0.1', port, user: 'nobody', password: 'x' });
  const r = await ssh('alice:down-1');
  assert.equal(r.code, 255);
  assert.match(r.stderr, /could not reach SSH target "down-1" \(127\.0\.0\.1:\d+\): connection refused/);
  assert.equal((await ssh('alice:web-1')).stdout, 'ok\n');
});

test('vaulted credentials the target rejects are a clear error without the secret', async () => {
  const secret = `wrong-${Date.now()}-password`;
  await stack.addTarget('badpw-1', { ...account(), password: secret });
  const r = await ssh('alice:badpw-1');
  assert.equal(r.code, 255);
  assert.match(r.stderr, /SSH target "badpw-1" .* rejected Warden's vaulted credentials/);
  const { stdout, stderr } = stack.warden.output();
  for (const text of [r.stdout, r.stderr, stdout, stderr]) assert.equal(text.includes(secret), false);
});
