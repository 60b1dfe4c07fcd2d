/**
 * File transfers through Warden with the real tools: scp (SFTP mode and the legacy `-O` protocol), sftp in batch
 * mode and rsync over ssh, each way, with a 100 MB random file checked by SHA-256 on both ends. The sshd runs on
 * this machine, so the test reads the target's copy straight from the test account's home.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startSshStack, type SshStack } from './harness/ssh-stack.js';

let stack: SshStack;
let token: string;
let local: string;
let remoteDir: string;
let remoteRel: string;
let bigFile: string;
let bigSum: string;

const sha256 = (file: string): Promise<string> => new Promise((resolve, reject) => {
  const hash = createHash('sha256');
  createReadStream(file).on('data', (d) => hash.update(d)).on('end', () => resolve(hash.digest('hex'))).on('error', reject);
});

before(async () => {
  stack = await startSshStack();
  token = await stack.token('alice');
  local = path.join(stack.tempDir, 'files');
  await fs.mkdir(local);
  bigFile = path.join(local, 'big.bin');
  const handle = await fs.open(bigFile, 'w');
  for (let i = 0; i < 100; i++) await handle.write(randomBytes(1024 * 1024));
  await handle.close();
  bigSum = await sha256(bigFile);
  remoteRel = `xfer-${randomBytes(6).toString('hex')}`;
  remoteDir = path.join(stack.sshd.account.home, remoteRel);
  const r = await stack.run('ssh', ['alice:web-1@127.0.0.1', `mkdir -p ${remoteRel}`], { token });
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await fs.rm(remoteDir, { recursive: true, force: true });
  await stack?.stop();
});

test('scp uploads and downloads 100 MB intact (SFTP mode)', async () => {
  const up = await stack.run('scp', ['-q', bigFile, `alice@web-1@127.0.0.1:${remoteRel}/scp.bin`], { token });
  assert.equal(up.code, 0, up.stderr);
  assert.equal(await sha256(path.join(remoteDir, 'scp.bin')), bigSum);
  const back = path.join(local, 'scp-back.bin');
  const down = await stack.run('scp', ['-q', `alice@web-1@127.0.0.1:${remoteRel}/scp.bin`, back], { token });
  assert.equal(down.code, 0, down.stderr);
  assert.equal(await sha256(back), bigSum);
});

test('scp -O (the legacy protocol, an exec of scp) both ways', async () => {
  const up = await stack.run('scp', ['-O', '-q', bigFile, `alice@web-1@127.0.0.1:${remoteRel}/legacy.bin`], { token });
  assert.equal(up.code, 0, up.stderr);
  assert.equal(await sha256(path.join(remoteDir, 'legacy.bin')), bigSum);
  const back = path.join(local, 'legacy-back.bin');
  const down = await stack.run('scp', ['-O', '-q', `alice@web-1@127.0.0.1:${remoteRel}/legacy.bin`, back], { token });
  assert.equal(down.code, 0, down.stderr);
  assert.equal(await sha256(back), bigSum);
});

test('sftp puts and gets 100 MB intact', async () => {
  const back = path.join(local, 'sftp-back.bin');
  // -b implies BatchMode=yes, which would forbid the askpass token; ssh keeps the first value given, ours.
  const r = await stack.run('sftp', ['-q', '-o', 'BatchMode=no', '-b', '-', 'alice@web-1@127.0.0.1'], { token,
    stdin: `put ${bigFile} ${remoteRel}/sftp.bin\nget ${remoteRel}/sftp.bin ${back}\n` });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await sha256(path.join(remoteDir, 'sftp.bin')), bigSum);
  assert.equal(await sha256(back), bigSum);
  // The recording names each file operation with its path, bytes and result.
  const [session] = JSON.parse((await stack.warden.cli(['sessions', 'list', '--json', '--subject', 'alice'])).stdout) as { id: string }[];
  let ops: { op: string; path?: string; bytesRead?: number; bytesWritten?: number; status: string }[] = [];
  for (let i = 0; i < 50 && ops.filter((o) => o.op === 'close').length < 2; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    const shown = JSON.parse((await stack.warden.cli(['sessions', 'show', session.id, '--json'])).stdout) as { events: { type: string; data: never }[] };
    ops = shown.events.filter((e) => e.type === 'sftp.operation').map((e) => e.data);
  }
  const closes = ops.filter((o) => o.op === 'close' && o.path?.endsWith('sftp.bin'));
  assert.deepEqual(closes.map((o) => [o.bytesWritten ?? 0, o.bytesRead ?? 0, o.status]), [[100 * 1024 * 1024, 0, 'ok'], [0, 100 * 1024 * 1024, 'ok']],
    JSON.stringify(ops.slice(-6)));
});

test('rsync over ssh copies a tree there and back', async () => {
  const tree = path.join(local, 'tree');
  await fs.mkdir(path.join(tree, 'sub'), { recursive: true });
  await fs.writeFile(path.join(tree, 'a.txt'), 'alpha\n');
  await fs.writeFile(path.join(tree, 'sub', 'b.bin'), randomBytes(300_000));
  const up = await stack.rsync(['-a', `${tree}/`, `alice@web-1@127.0.0.1:${remoteRel}/tree/`], { token });
  assert.equal(up.code, 0, up.stderr);
  assert.equal(await fs.readFile(path.join(remoteDir, 'tree', 'a.txt'), 'utf8'), 'alpha\n');
  const back = path.join(local, 'tree-back');
  const down = await stack.rsync(['-a', `alice@web-1@127.0.0.1:${remoteRel}/tree/`, `${back}/`], { token });
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(await fs.readFile(path.join(back, 'sub', 'b.bin')), await fs.readFile(path.join(tree, 'sub', 'b.bin')));
});
