/**
 * End to end: when Warden cannot open a session upstream, real psql tells the caller what failed (TLS refused by
 * the server, connection refused, a name that does not resolve, the target's credentials rejected) without the
 * backend password, and the refused session's recording holds an `upstream.error` event with the same words.
 * `warden targets test` reports DNS, TCP, TLS and login step by step; `warden targets update` fixes a target in
 * place (a stored password is never sent to a weaker or other destination without being given again); `targets add`
 * on an existing name says to use update. The PostgreSQL server here runs with ssl=off.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from './harness/ports.js';
import { startStack, type Stack } from './harness/stack.js';

let stack: Stack;
let alice: string;
const WRONG = 'Wrong-Upstream-Secret-4711';

before(async () => {
  stack = await startStack({ pg: { extraConf: { ssl: 'off' } } });
  alice = await stack.token('alice');
  const base = ['--type', 'postgres', '--database', 'app', '--user', stack.pg.scram.user, '--password-stdin'];
  const targets: [string, string[], string][] = [
    ['pg-tls', ['--host', '127.0.0.1', '--port', String(stack.pg.port), '--tls', 'require'], stack.pg.scram.password],
    ['pg-refused', ['--host', '127.0.0.1', '--port', String(await freePort()), '--tls', 'disable'], stack.pg.scram.password],
    ['pg-dns', ['--host', 'db.invalid', '--port', '5432', '--tls', 'disable'], stack.pg.scram.password],
    ['pg-badpw', ['--host', '127.0.0.1', '--port', String(stack.pg.port), '--tls', 'disable'], WRONG],
  ];
  for (const [name, flags, password] of targets) {
    const r = await stack.warden.cli(['targets', 'add', name, ...base, ...flags], { stdin: `${password}\n` });
    assert.equal(r.code, 0, r.stderr);
  }
});
after(async () => { await stack?.stop(); });

/** The `upstream.error` events of the sessions recorded for `target`. */
async function upstreamErrors(target: string): Promise<Record<string, unknown>[]> {
  const list = await stack.warden.cli(['sessions', 'list', '--target', target, '--json']);
  assert.equal(list.code, 0, list.stderr);
  const found: Record<string, unknown>[] = [];
  for (const session of JSON.parse(list.stdout) as { id: string }[]) {
    const shown = await stack.warden.cli(['sessions', 'show', session.id, '--json']);
    assert.doesNotMatch(shown.stdout, new RegExp(`${WRONG}|${stack.pg.scram.password}`));
    const { events } = JSON.parse(shown.stdout) as { events: { type: string; data: Record<string, unknown> }[] };
    found.push(...events.filter((e) => e.type === 'upstream.error').map((e) => e.data));
  }
  return found;
}

describe('a refused session says why, to the caller and in the recording', () => {
  const cases: [string, string, () => string][] = [
    ['pg-tls', '08006', () => 'target "pg-tls" is unreachable: the server does not accept TLS but the target requires it (tls require)'],
    ['pg-refused', '08006', () => `target "pg-refused" is unreachable: connection refused by 127.0.0.1:${portOf('pg-refused')}`],
    ['pg-dns', '08006', () => 'target "pg-dns" is unreachable: host name db.invalid could not be resolved'],
    ['pg-badpw', '08004', () => 'upstream authentication failed for target "pg-badpw": the target\'s credentials were rejected by the server (28P01)'],
  ];
  const ports = new Map<string, number>();
  const portOf = (name: string) => ports.get(name);

  before(async () => {
    const shown = JSON.parse((await stack.warden.cli(['targets', 'list', '--json'])).stdout) as { name: string; port: number }[];
    for (const t of shown) ports.set(t.name, t.port);
  });

  for (const [target, sqlstate, expected] of cases) {
    test(`${target}: psql and the recording name the cause`, async () => {
      const r = await stack.psql(['-c', 'SELECT 1'], { user: 'alice', token: alice, database: target,
        env: { PG_COLOR: 'never', PGSSLMODE: 'require' } });
      assert.equal(r.code, 2, r.stderr);
      const message = expected();
      assert.ok(r.stderr.includes(`FATAL:  ${message}`), r.stderr);
      assert.doesNotMatch(r.stderr, new RegExp(`${WRONG}|${stack.pg.scram.password}`));
      // The DNS case may read "(temporary DNS failure)" on a machine without a resolver; the cause is still named.
      const recorded = await upstreamErrors(target);
      assert.ok(recorded.some((e) => String(e.message).startsWith(message)), JSON.stringify(recorded));
      assert.ok(recorded.every((e) => e.code === (sqlstate === '08004' ? 'WARDEN_ERR_UPSTREAM_AUTH' : 'WARDEN_ERR_UPSTREAM_UNAVAILABLE')));
    });
  }
});

type Diagnosis = { target: string; ok: boolean; steps: { step: string; status: string; message: string }[] };

async function testTarget(name: string): Promise<{ code: number; text: string; diagnosis: Diagnosis }> {
  const text = await stack.warden.cli(['targets', 'test', name]);
  const asJson = await stack.warden.cli(['targets', 'test', name, '--json']);
  assert.equal(asJson.code, text.code, asJson.stderr);
  for (const out of [text.stdout, asJson.stdout]) assert.doesNotMatch(out, new RegExp(`${WRONG}|${stack.pg.scram.password}`));
  return { code: text.code, text: text.stdout, diagnosis: JSON.parse(asJson.stdout) as Diagnosis };
}

const statuses = (d: Diagnosis) => d.steps.map((s) => `${s.step}:${s.status}`);

describe('warden targets test', () => {
  test('a working target passes every step', async () => {
    const { code, text, diagnosis } = await testTarget(stack.target);
    assert.equal(code, 0, text);
    assert.deepEqual(statuses(diagnosis), ['dns:ok', 'tcp:ok', 'tls:skipped', 'login:ok']);
    assert.match(text, /^target pg-main: ok\n {2}dns {4}ok {7}127\.0\.0\.1 is an IP address/);
    assert.match(diagnosis.steps[3].message, new RegExp(`^logged in as ${stack.pg.scram.user} to database app, PostgreSQL \\d+`));
  });

  test('each broken target fails at its step, with the reason, and exits 1', async () => {
    const expectations: [string, string[], RegExp][] = [
      ['pg-dns', ['dns:failed', 'tcp:skipped', 'tls:skipped', 'login:skipped'], /host name db\.invalid could not be resolved/],
      ['pg-refused', ['dns:ok', 'tcp:failed', 'tls:skipped', 'login:skipped'], /^connection refused by 127\.0\.0\.1:\d+$/],
      ['pg-tls', ['dns:ok', 'tcp:ok', 'tls:failed', 'login:skipped'], /^the server does not accept TLS but the target requires it \(tls require\)$/],
      ['pg-badpw', ['dns:ok', 'tcp:ok', 'tls:skipped', 'login:failed'], /the target's credentials were rejected by the server \(28P01\)$/],
    ];
    for (const [name, steps, reason] of expectations) {
      const { code, text, diagnosis } = await testTarget(name);
      assert.equal(code, 1, text);
      assert.equal(diagnosis.ok, false);
      assert.deepEqual(statuses(diagnosis), steps, name);
      assert.match(diagnosis.steps.find((s) => s.status === 'failed')!.message, reason);
      assert.match(text, new RegExp(`^target ${name}: FAILED\n`));
    }
  });

  test('an unknown target is a not-found error', async () => {
    const r = await stack.warden.cli(['targets', 'test', 'nope']);
    assert.deepEqual([r.code, r.stderr], [1, 'warden: target nope not found (WARDEN_ERR_TARGET_NOT_FOUND)\n']);
  });
});

describe('warden targets update', () => {
  test('add on an existing name points to update', async () => {
    const r = await stack.warden.cli(['targets', 'add', 'pg-badpw', '--type', 'postgres', '--host', 'x', '--port', '1',
      '--database', 'd', '--user', 'u']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^warden: target pg-badpw already exists: change it with `warden targets update pg-badpw \.\.\.`/);
  });

  test('a new password from stdin fixes the target; it is never shown', async () => {
    const r = await stack.warden.cli(['targets', 'update', 'pg-badpw', '--password-stdin'], { stdin: `${stack.pg.scram.password}\n` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^updated target pg-badpw \(.+, new password stored encrypted\)\n$/);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(stack.pg.scram.password));
    const shown = await stack.warden.cli(['targets', 'show', 'pg-badpw', '--json']);
    assert.doesNotMatch(shown.stdout, new RegExp(`${stack.pg.scram.password}|${WRONG}|passwordEnc`));
    const ok = await stack.psql(['-c', 'SELECT 40 + 2'], { user: 'alice', token: alice, database: 'pg-badpw' });
    assert.equal(ok.stdout.trim(), '42', ok.stderr);
    assert.equal((await testTarget('pg-badpw')).code, 0);
  });

  test('weaker TLS or another address keeps no stored password unless it is given again', async () => {
    const weaker = await stack.warden.cli(['targets', 'update', 'pg-tls', '--tls', 'disable']);
    assert.equal(weaker.code, 1);
    assert.match(weaker.stderr, /changing tls \(weaker\) of target pg-tls would send its stored password to another server: give the password again \(--password-stdin\) or remove it \(--no-password\)/);
    const moved = await stack.warden.cli(['targets', 'update', 'pg-refused', '--port', String(stack.pg.port)]);
    assert.match(moved.stderr, /changing port of target pg-refused/);
    // Nothing changed after a refusal.
    assert.equal(JSON.parse((await stack.warden.cli(['targets', 'show', 'pg-tls', '--json'])).stdout).tls, 'require');

    const fixed = await stack.warden.cli(['targets', 'update', 'pg-tls', '--tls', 'disable', '--label', 'env=dev', '--password-stdin'],
      { stdin: `${stack.pg.scram.password}\n` });
    assert.equal(fixed.code, 0, fixed.stderr);
    const view = JSON.parse((await stack.warden.cli(['targets', 'show', 'pg-tls', '--json'])).stdout);
    assert.deepEqual([view.tls, view.labels, view.hasPassword], ['disable', { env: 'dev' }, true]);
    const ok = await stack.psql(['-c', 'SELECT 7'], { user: 'alice', token: alice, database: 'pg-tls' });
    assert.equal(ok.stdout.trim(), '7', ok.stderr);

    // Changing only the database or raising TLS keeps the password; --no-password removes it.
    assert.equal((await stack.warden.cli(['targets', 'update', 'pg-tls', '--database', 'postgres'])).code, 0);
    const removed = await stack.warden.cli(['targets', 'update', 'pg-refused', '--port', String(stack.pg.port), '--no-password']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(JSON.parse((await stack.warden.cli(['targets', 'show', 'pg-refused', '--json'])).stdout).hasPassword, false);
  });

  test('usage errors: nothing to change, a type change, an unknown target', async () => {
    const none = await stack.warden.cli(['targets', 'update', 'pg-tls']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /nothing to change/);
    const type = await stack.warden.cli(['targets', 'update', 'pg-tls', '--type', 'mysql']);
    assert.match(type.stderr, /--type cannot change/);
    const missing = await stack.warden.cli(['targets', 'update', 'nope', '--database', 'x']);
    assert.deepEqual([missing.code, missing.stderr], [1, 'warden: target nope not found (WARDEN_ERR_TARGET_NOT_FOUND)\n']);
  });
});
