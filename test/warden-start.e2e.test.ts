/**
 * End to end: what a new user met when starting Warden and wiring approvals, with real `warden start` processes and
 * the real CLI. A busy port is named with the flag that changes it (no stack trace); a second Warden on the same
 * data dir refuses to start and leaves the first one's ports.json alone, while a lock left by a killed Warden does
 * not block the next start; notification links carry the bound API port (not :0) and start-up says links need
 * --public-url behind a proxy; a user who may not decide a request is told who may instead of "not found".
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runWarden, startWarden, type WardenProcess } from './harness/warden.js';

/** A TCP listener holding a port, as another program would. */
async function occupyPort(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

const tempDir = () => fs.mkdtemp(path.join(os.tmpdir(), 'warden-start-'));
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;

describe('warden start on a busy port', () => {
  const PORT_FLAGS = ['--api-port', '--postgres-port', '--ssh-port', '--kube-port', '--http-port'] as const;
  for (const flag of PORT_FLAGS) {
    test(`names the port taken and ${flag}`, async () => {
      const busy = await occupyPort();
      try {
        const dataDir = await tempDir();
        const others = PORT_FLAGS.filter((f) => f !== flag).flatMap((f) => [f, '0']);
        const r = await runWarden(['start', '--data-dir', dataDir, flag, String(busy.port), ...others]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`^warden: port ${busy.port} is already in use on 127\\.0\\.0\\.1, so the .+ cannot ` +
          `listen there: choose another port with ${flag} \\(or WARDEN_\\w+_PORT\\), or 0 for a free one$`, 'm'));
        assert.doesNotMatch(r.stderr, STACK_LINE);
        assert.doesNotMatch(r.stderr, /EADDRINUSE/);
        // Nothing points at the failed start: no ports.json, and the lock is released for the next try.
        assert.deepEqual((await fs.readdir(dataDir)).filter((f) => f === 'ports.json' || f === 'warden.lock'), []);
      } finally {
        await busy.close();
      }
    });
  }
});

describe('one Warden per data dir', () => {
  let first: WardenProcess;
  before(async () => { first = await startWarden(); });
  after(async () => { await first?.stop(); });

  test('a second start on the same data dir refuses and leaves ports.json alone', async () => {
    const portsBefore = await fs.readFile(path.join(first.dataDir, 'ports.json'), 'utf8');
    const second = await runWarden(['start', '--data-dir', first.dataDir, '--api-port', '0', '--postgres-port', '0', '--ssh-port', '0', '--kube-port', '0', '--http-port', '0']);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`^warden: data dir ${first.dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use ` +
      `by another Warden \\(pid ${first.child.pid}, started .+\\): stop it first, or give this one its own --data-dir$`, 'm'));
    assert.doesNotMatch(second.stderr, STACK_LINE);
    assert.equal(await fs.readFile(path.join(first.dataDir, 'ports.json'), 'utf8'), portsBefore);
    // The first one still serves.
    assert.equal((await first.cli(['targets', 'list', '--json'])).code, 0);
  });

  test('a lock left by a killed Warden does not block the next start', async () => {
    const dataDir = await tempDir();
    const killed = await startWarden({ dataDir });
    killed.child.kill('SIGKILL');
    await killed.stop();
    assert.ok(JSON.parse(await fs.readFile(path.join(dataDir, 'warden.lock'), 'utf8')).pid, 'SIGKILL left the lock behind');
    const next = await startWarden({ dataDir });
    try {
      assert.equal((await next.cli(['targets', 'list', '--json'])).code, 0);
      const lock = JSON.parse(await fs.readFile(path.join(dataDir, 'warden.lock'), 'utf8'));
      assert.equal(lock.pid, next.child.pid);
    } finally {
      assert.equal(await next.stop(), 0);
    }
    await assert.rejects(fs.access(path.join(dataDir, 'warden.lock')), 'a clean stop removes the lock');
  });
});

describe('approval links and approvers', () => {
  let warden: WardenProcess;
  let hookServer: http.Server;
  const hooks: { path: string; body: Record<string, unknown> }[] = [];
  const hookArrived = new Set<() => void>();

  before(async () => {
    hookServer = http.createServer((req, res) => {
      let data = '';
      req.on('data', (d) => (data += d)).on('end', () => {
        hooks.push({ path: req.url ?? '', body: JSON.parse(data) });
        for (const wake of hookArrived) wake();
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hookServer.address() as net.AddressInfo).port}`;
    warden = await startWarden({ args: ['--webhook-url', `${hookUrl}/generic`, '--slack-webhook-url', `${hookUrl}/slack`] });
    const added = await warden.cli(['targets', 'add', 'pg-x', '--type', 'postgres', '--host', '127.0.0.1', '--port', '5432',
      '--database', 'app', '--user', 'app']);
    assert.equal(added.code, 0, added.stderr);
  });
  after(async () => {
    await warden?.stop();
    hookServer?.close();
  });

  async function hooksFor(id: string, count: number): Promise<typeof hooks> {
    for (;;) {
      const mine = hooks.filter((h) => JSON.stringify(h.body).includes(id));
      if (mine.length >= count) return mine;
      await new Promise<void>((resolve) => hookArrived.add(resolve)).finally(() => hookArrived.clear());
    }
  }

  test('links in webhooks and Slack messages carry the bound API port; start-up says when --public-url is needed', async () => {
    const token = (await warden.cli(['tokens', 'create', '--user', 'alice'])).stdout.trim();
    const asked = await warden.cli(['access', 'request', '--target', 'pg-x', '--duration', '1h', '--reason', 'incident 7'],
      { env: { WARDEN_TOKEN: token } });
    assert.equal(asked.code, 0, asked.stderr);
    const id = asked.stdout.trim();
    const [generic, slack] = ['/generic', '/slack'].map(async (p) => (await hooksFor(id, 2)).find((h) => h.path === p));
    assert.equal((await generic)?.body.url, `${warden.url}/api/approvals/${id}`);
    assert.ok(JSON.stringify((await slack)?.body).includes(`${warden.url}/api/approvals/${id}`));
    assert.doesNotMatch(JSON.stringify(hooks), /127\.0\.0\.1:0\//);
    assert.match(warden.output().stderr, /links in approval notifications use the API's bound address; behind a proxy or on another host set --public-url/);
  });

  test('a user who may not decide a request hears who may, not "not found"', async () => {
    const alice = (await warden.cli(['tokens', 'create', '--user', 'alice'])).stdout.trim();
    const bob = (await warden.cli(['tokens', 'create', '--user', 'bob', '--groups', 'dba'])).stdout.trim();
    const asked = await warden.cli(['access', 'request', '--target', 'pg-x', '--duration', '1h', '--reason', 'incident 8'],
      { env: { WARDEN_TOKEN: alice } });
    const id = asked.stdout.trim();
    const refused = await warden.cli(['approvals', 'approve', id], { env: { WARDEN_TOKEN: bob } });
    assert.deepEqual([refused.code, refused.stderr], [1, `warden: you are not an eligible approver of approval request ${id}: ` +
      'approval needs a member of warden-admins (WARDEN_ERR_FORBIDDEN)\n']);
    const typo = await warden.cli(['approvals', 'approve', `${id}x`], { env: { WARDEN_TOKEN: bob } });
    assert.match(typo.stderr, /not found \(WARDEN_ERR_NOT_FOUND\)/);
    const shown = await warden.cli(['approvals', 'show', id, '--json']);
    assert.equal(JSON.parse(shown.stdout).status, 'pending', 'the refused attempt changed nothing');
  });
});
