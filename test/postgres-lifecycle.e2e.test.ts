/**
 * End to end: Warden's own life cycle. First start creates private keys and the admin token; SIGTERM ends live
 * sessions with a clear message and keeps their recording; a restart on the same data dir keeps everything; the
 * operator may allow plaintext logins on loopback.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { startPostgres, type PgServer } from './harness/postgres.js';
import { runPsql } from './harness/stack.js';
import { ALLOW_ALL_POLICY, startWarden as startWardenProcess } from './harness/warden.js';

let server: PgServer;
/** Every Warden a test started: a test that fails half-way must not leave one running (the file would never end). */
const started: Array<{ stop(): Promise<unknown> }> = [];
before(async () => { server = await startPostgres(); });
after(async () => {
  await Promise.all(started.map((w) => w.stop()));
  await server?.stop();
});

async function startWarden(...args: Parameters<typeof startWardenProcess>): ReturnType<typeof startWardenProcess> {
  const warden = await startWardenProcess(...args);
  started.push(warden);
  return warden;
}

test('first start, shutdown with a live session, restart on the same data dir', async () => {
  const warden = await startWarden();
  const { dataDir } = warden;
  assert.match(warden.output().stdout, /Admin token \(shown once/);
  assert.ok(warden.output().stdout.includes(warden.adminToken));
  const ports = JSON.parse(await fs.readFile(path.join(dataDir, 'ports.json'), 'utf8'));
  assert.deepEqual(Object.keys(ports).sort(), ['api', 'http', 'kubernetes', 'postgres', 'ssh']);
  assert.ok(Number.isInteger(ports.ssh) && ports.ssh > 0, 'the SSH listener is on and its port discoverable');
  assert.ok(Number.isInteger(ports.http) && ports.http > 0, 'the HTTP listener is on and its port discoverable');
  assert.equal((await fs.stat(dataDir)).mode & 0o777, 0o700);
  for (const file of ['admin.token', 'signing-key.json', 'vault.key', 'tls.key', 'tls.crt', 'ssh_host_ed25519_key']) {
    assert.equal((await fs.stat(path.join(dataDir, file))).mode & 0o777, 0o600, file);
  }
  // The SSH host key fingerprint printed at start-up is the one `warden status` shows, with the bound SSH port.
  const fingerprint = /SSH host key (SHA256:[A-Za-z0-9+/]+)/.exec(warden.output().stdout)?.[1];
  assert.ok(fingerprint, warden.output().stdout);
  const status = await warden.cli(['status']);
  assert.equal(status.code, 0, status.stderr);
  assert.ok(status.stdout.includes(`\nssh      port ${ports.ssh}; SSH host key ${fingerprint}\n`), status.stdout);

  const add = await warden.cli(['targets', 'add', 'pg-life', '--type', 'postgres', '--host', server.host, '--port',
    String(server.port), '--database', 'app', '--user', server.scram.user, '--password-stdin', '--tls', 'prefer'],
  { stdin: server.scram.password });
  assert.equal(add.code, 0, add.stderr);
  await warden.applyPolicy(ALLOW_ALL_POLICY);
  const token = (await warden.cli(['tokens', 'create', '--user', 'carol'])).stdout.trim();
  const client = new pg.Client({ host: '127.0.0.1', port: warden.ports.postgres, user: 'carol', password: token,
    database: 'pg-life', ssl: { rejectUnauthorized: false } });
  const ended = new Promise<Error>((resolve) => client.on('error', resolve));
  await client.connect();
  assert.equal((await client.query("SELECT 'before shutdown' AS s")).rows[0].s, 'before shutdown');

  assert.equal(await warden.stop(), 0);
  const err = (await ended) as pg.DatabaseError;
  assert.equal(err.code, '57P01');
  assert.match(err.message, /Warden is shutting down/);

  const again = await startWarden({ dataDir });
  try {
    assert.doesNotMatch(again.output().stdout, /Admin token/);
    assert.equal(again.adminToken, warden.adminToken);
    const sessions = JSON.parse((await again.cli(['sessions', 'list', '--json'])).stdout) as { id: string; subject: string; endReason: string }[];
    const carol = sessions.find((s) => s.subject === 'carol')!;
    assert.match(carol.endReason, /Warden is shutting down/);
    const shown = JSON.parse((await again.cli(['sessions', 'show', carol.id, '--json'])).stdout);
    assert.ok(shown.events.some((e: { data: { text?: string } }) => e.data.text === "SELECT 'before shutdown' AS s"));
    const r = await runPsql(again.ports.postgres, ['-c', 'SELECT 5'], { user: 'carol', token, database: 'pg-life' });
    assert.equal(r.stdout.trim(), '5', r.stderr);
  } finally {
    await again.stop();
  }
});

test('plaintext logins on loopback when the operator allows them', async () => {
  const warden = await startWarden({ args: ['--allow-plaintext-loopback'] });
  try {
    await warden.cli(['targets', 'add', 'pg-plain', '--type', 'postgres', '--host', server.host, '--port',
      String(server.port), '--database', 'app', '--user', server.trust.user, '--tls', 'disable']);
    await warden.applyPolicy(ALLOW_ALL_POLICY);
    const token = (await warden.cli(['tokens', 'create', '--user', 'dave'])).stdout.trim();
    const r = await runPsql(warden.ports.postgres, ['-c', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'],
      { user: 'dave', token, database: 'pg-plain', sslmode: 'disable' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'f');
  } finally {
    await warden.stop();
  }
});

test('approval requests survive a restart: an access request asked before it is approved after it', async () => {
  const first = await startWarden();
  const { dataDir } = first;
  await first.cli(['targets', 'add', 'secret-db', '--type', 'postgres', '--host', server.host, '--port',
    String(server.port), '--database', 'app', '--user', server.trust.user, '--tls', 'disable']);
  await first.applyPolicy(`kind: Policy
name: only-public
rules:
  - name: public-reads
    targets: ["public-*"]
    match: { classes: [read] }
    effect: allow
`);
  const token = (await first.cli(['tokens', 'create', '--user', 'erin'])).stdout.trim();
  const asked = await first.cli(['access', 'request', '--target', 'secret-db', '--duration', '1h', '--reason', 'audit'],
    { env: { WARDEN_TOKEN: token } });
  assert.equal(asked.code, 0, asked.stderr);
  const id = asked.stdout.trim();
  assert.equal(await first.stop(), 0);

  const second = await startWarden({ dataDir });
  try {
    const pending = JSON.parse((await second.cli(['approvals', 'list', '--json'])).stdout) as { id: string }[];
    assert.ok(pending.some((p) => p.id === id), 'the request is still pending after the restart');
    const approved = await second.cli(['approvals', 'approve', id]);
    assert.equal(approved.code, 0, approved.stderr);
    const r = await runPsql(second.ports.postgres, ['-c', 'SELECT 11'], { user: 'erin', token, database: 'secret-db' });
    assert.equal(r.stdout.trim(), '11', r.stderr);
  } finally {
    await second.stop();
  }
});
