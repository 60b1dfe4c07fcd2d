/**
 * Other SSH libraries through Warden, as the issue promises ("any SSH library works"): paramiko (Debian's
 * python3-paramiko, run with /usr/bin/python3) and golang.org/x/crypto/ssh (Debian's golang-go and
 * golang-golang-x-crypto-dev, built offline once per run into a temp dir). Each logs in with a token as the
 * password against Warden's pinned host key, runs an exec and gets its exit status, moves data with a checksum
 * (paramiko: SFTP put and get; Go: a payload piped through `sha256sum` on the host) and has a destructive exec refused.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { runProcess } from './harness/process.js';
import { startSshStack, type SshStack } from './harness/ssh-stack.js';

const POLICY = `kind: Policy
name: clients
rules:
  - name: no-destructive
    match: { classes: [destructive] }
    effect: deny
    message: destructive commands are blocked
  - name: everything-else
    match: { classes: [read, write, network, privilege, unknown, shell] }
    effect: allow
`;
const CLIENTS = fileURLToPath(new URL('./clients/', import.meta.url));
const DENIED = 'rm -rf /opt/warden-clients-nothing';

let stack: SshStack;
let token: string;
let hostKey: string;
let work: string;

before(async () => {
  stack = await startSshStack({ policy: POLICY });
  token = await stack.token('alice');
  hostKey = (await fs.readFile(path.join(stack.warden.dataDir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  const dir = `clients-${Date.now().toString(36)}`;
  const made = await stack.run('ssh', ['alice:web-1@127.0.0.1', `mkdir -p ${dir}`], { token });
  assert.equal(made.code, 0, made.stderr);
  work = path.join(stack.sshd.account.home, dir);
});
after(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
  await stack?.stop();
});

interface ExecSeen { stdout: string; stderr: string; status: number }

test('paramiko: token login, exec with exit status, SFTP put and get with a checksum, a denied exec', async () => {
  const input = { host: '127.0.0.1', port: stack.warden.ports.ssh, user: 'alice:web-1', token, host_key: hostKey, work, denied: DENIED };
  const r = await runProcess('/usr/bin/python3', [path.join(CLIENTS, 'paramiko_client.py')], { stdin: JSON.stringify(input) });
  assert.equal(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as { exec: ExecSeen; sftp: { sent: string; got: string; size: number }; denied: ExecSeen };
  assert.deepEqual(seen.exec, { stdout: 'hello-from-paramiko\n', stderr: '', status: 3 });
  assert.equal(seen.sftp.got, seen.sftp.sent);
  assert.equal(seen.sftp.size, 1024 * 1024 + 17);
  assert.equal(seen.denied.status, 1);
  assert.match(seen.denied.stderr, /warden: destructive commands are blocked/);
  assert.equal(seen.denied.stdout, '');
});

test('golang.org/x/crypto/ssh: token login, exec with exit status, a piped payload with a checksum, a denied exec', async () => {
  const binary = path.join(stack.tempDir, 'go-ssh-client');
  const cache = path.join(os.tmpdir(), 'warden-test-go-build-cache');
  const built = await runProcess('go', ['build', '-o', binary, path.join(CLIENTS, 'go-ssh-client', 'main.go')], {
    env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: cache, GOFLAGS: '' },
  }).catch((err: Error) => ({ code: -1, stdout: '', stderr: `${err.message} (install golang-go and golang-golang-x-crypto-dev)` }));
  assert.equal(built.code, 0, built.stderr);
  const size = 2 * 1024 * 1024 + 5;
  const input = { host: '127.0.0.1', port: stack.warden.ports.ssh, user: 'alice:web-1', token, host_key: hostKey, size, denied: DENIED };
  const r = await runProcess(binary, [], { stdin: JSON.stringify(input) });
  assert.equal(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as { exec: ExecSeen; pipe: { sent: string; host: string; status: number }; denied: ExecSeen };
  assert.deepEqual(seen.exec, { stdout: 'hello-from-go\n', stderr: '', status: 4 });
  assert.equal(seen.pipe.status, 0);
  assert.equal(seen.pipe.host.split(' ')[0], seen.pipe.sent);
  assert.equal(seen.denied.status, 1);
  assert.match(seen.denied.stderr, /warden: destructive commands are blocked/);
});
