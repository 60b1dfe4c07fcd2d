/**
 * The sshd harness itself: a real sshd starts, the test account logs in with its password (real `ssh` through
 * sshpass) and with its key (ssh2), the host key fingerprint is the one sshd presents, and stop() ends it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { Client } from 'ssh2';
import { runProcess } from './process.js';
import { startSshd, type SshServer } from './sshd.js';

let server: SshServer;
before(async () => { server = await startSshd(); });
after(async () => { await server?.stop(); });

test('the password logs in with the real ssh client', async () => {
  const r = await runProcess('sshpass', ['-e', 'ssh', '-p', String(server.port), '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null', '-o', 'PubkeyAuthentication=no', '-o', 'LogLevel=ERROR',
    `${server.account.user}@127.0.0.1`, 'id -un; exit 7'], { env: { ...process.env, SSHPASS: server.account.password } });
  assert.equal(r.stdout.trim(), server.account.user, r.stderr);
  assert.equal(r.code, 7);
});

test('a wrong password is refused', async () => {
  const r = await runProcess('sshpass', ['-e', 'ssh', '-p', String(server.port), '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1',
    `${server.account.user}@127.0.0.1`, 'true'], { env: { ...process.env, SSHPASS: 'not-the-password' } });
  assert.notEqual(r.code, 0);
});

test('the key logs in with ssh2 and the host key matches the fingerprint', async () => {
  let seen = '';
  const client = new Client();
  const out = await new Promise<string>((resolve, reject) => {
    client.on('error', reject).on('ready', () => {
      client.exec('echo $HOME', (err, stream) => {
        if (err) return reject(err);
        let data = '';
        stream.on('data', (d: Buffer) => (data += d)).on('close', () => resolve(data));
      });
    }).connect({ host: server.host, port: server.port, username: server.account.user, privateKey: server.account.privateKey,
      hostVerifier: (key: Buffer) => { seen = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`; return true; } });
  });
  client.end();
  assert.equal(out.trim(), server.account.home);
  assert.equal(seen, server.hostKeyFingerprint);
});

test('stop() ends the server', async () => {
  const other = await startSshd();
  await other.stop();
  await assert.rejects(new Promise<void>((resolve, reject) => {
    const s = net.connect(other.port, '127.0.0.1', () => { s.destroy(); resolve(); }).on('error', reject);
  }));
});
