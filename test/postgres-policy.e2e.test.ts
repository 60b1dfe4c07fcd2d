/**
 * End to end: policies and just-in-time approval through real psql and the real pg driver. The example
 * policy as written; statements allowed, denied (nothing reaches the upstream: its log_statement=all log shows
 * every statement it received), held then approved, denied, timed out; self-approval refused; a two-approver
 * rule; a time-window grant reused on a second connection; the access-request lifecycle; webhooks received by a
 * local HTTP server; and a caller waiting when Warden stops.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { GUARDRAILS_YAML } from '../src/policy/test-fixtures.js';
import { pollUntil } from './harness/poll.js';
import { startStack, type Stack } from './harness/stack.js';

/** The example exactly as written, then rules for the other targets of these tests. */
const GUARDRAILS = `${GUARDRAILS_YAML}---
kind: Policy
name: other-targets
rules:
  - name: quick-approval
    targets: ["fast-*"]
    match: { classes: [write] }
    effect: require_approval
    approvers: { groups: [dba] }
    timeout: 2s
  - name: two-person-rule
    targets: ["two-*"]
    match: { classes: [write] }
    effect: require_approval
    approvers: { groups: [dba], count: 2 }
    timeout: 5m
  - name: reads
    targets: ["fast-*", "two-*"]
    match: { classes: [read] }
    effect: allow
`;

interface Hook { path: string; body: Record<string, unknown> }
let stack: Stack;
let hookServer: http.Server;
const hooks: Hook[] = [];
const tokens: Record<string, string> = {};

before(async () => {
  hookServer = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => { hooks.push({ path: req.url ?? '', body: JSON.parse(data) }); res.end('ok'); });
  });
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}`;
  stack = await startStack({ policy: GUARDRAILS, pg: { extraConf: { log_statement: 'all' } },
    wardenArgs: ['--webhook-url', `${hookUrl}/generic`, '--slack-webhook-url', `${hookUrl}/slack`] });
  for (const name of ['fast-main', 'two-main', 'secret-db']) {
    const r = await stack.warden.cli(['targets', 'add', name, '--type', 'postgres', '--host', stack.pg.host, '--port',
      String(stack.pg.port), '--database', 'app', '--user', stack.pg.scram.user, '--password-stdin', '--tls', 'disable'],
    { stdin: stack.pg.scram.password });
    assert.equal(r.code, 0, r.stderr);
  }
  tokens.alice = await stack.token('alice');
  tokens.bot = await stack.token('bot', '--groups', 'agents', '--kind', 'agent');
  tokens.dora = await stack.token('dora', '--groups', 'dba');
  tokens.dave = await stack.token('dave', '--groups', 'dba');
  tokens.selfie = await stack.token('selfie', '--groups', 'agents,dba');
  // The schema is the DBA's business, made directly on the server: the guardrails allow no DDL through Warden.
  await rows(`CREATE TABLE items (id int, note text); INSERT INTO items VALUES (0, 'seed');
    ALTER TABLE items OWNER TO ${stack.pg.scram.user}`);
});
after(async () => {
  await stack?.stop();
  hookServer?.close();
});

const asUser = (user: string) => ({ WARDEN_TOKEN: tokens[user] });

async function pending(): Promise<{ id: string; statement: string; requester: string; reason: string | null }[]> {
  const r = await stack.warden.cli(['approvals', 'list', '--json'], { env: asUser('dora') });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Waits until a pending approval request for `statement` exists and returns its id. */
async function requestFor(statement: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const found = (await pending()).find((p) => p.statement === statement);
    if (found) return found.id;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no approval request for ${statement}`);
}

const rows = (sql: string): Promise<unknown[]> => stack.superuserRows(sql);

describe('guardrails', () => {
  test('reads and writes are allowed for people; destructive, unknown and unparseable SQL is refused', async () => {
    const [{ n: before }] = await rows('SELECT count(*)::int AS n FROM items') as { n: number }[];
    const r = await stack.psql([], { user: 'alice', token: tokens.alice, stdin: [
      'SELECT count(*) FROM items;',
      "INSERT INTO items VALUES (1, 'by alice');",
      '\\set ON_ERROR_STOP 0',
      'DROP TABLE items;',
      'DELETE FROM items;',
      'DELETE FROM items WHERE 1=1;',
      "DO $$ BEGIN EXECUTE 'DROP TABLE items'; END $$;",
      'SELEC broken sql;',
      "SELECT 'still usable';",
    ].join('\n') });
    assert.match(r.stdout, new RegExp(`^${before}$`, 'm'));
    assert.match(r.stdout, /still usable/);
    const refusals = r.stderr.match(/ERROR: {2}destructive statements are blocked on production/g) ?? [];
    assert.equal(refusals.length, 5, r.stderr);
    assert.match(r.stderr, /DETAIL: {2}Warden policy rule: prod-guardrails\/block-destructive/);
    const log = stack.pg.log();
    for (const forbidden of ['DROP TABLE items', 'DELETE FROM items', 'SELEC broken']) {
      assert.equal(log.includes(forbidden), false, `${forbidden} reached the upstream`);
    }
    assert.ok(log.includes("INSERT INTO items VALUES (1, 'by alice')"), 'the upstream log does show statements');
    assert.deepEqual(await rows('SELECT count(*)::int AS n FROM items'), [{ n: before + 1 }]);
  });

  test('extended protocol: judged at Parse, refused without reaching the upstream, the connection stays usable', async () => {
    const c = await stack.client({ user: 'alice', password: tokens.alice });
    try {
      await assert.rejects(c.query('DELETE FROM items WHERE $1 = $1', [1]), (e: pg.DatabaseError) =>
        e.code === '42501' && /destructive statements are blocked/.test(e.message));
      const ok = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM items WHERE id >= $1', [0]);
      assert.deepEqual(ok.rows, await rows('SELECT count(*)::int AS n FROM items WHERE id >= 0'));
      assert.ok(ok.rows[0].n > 0, 'the seeded row is there');
    } finally {
      await c.end();
    }
    assert.equal(stack.pg.log().includes('DELETE FROM items WHERE $1 = $1'), false);
  });

  test('the refusal is recorded with its rule', async () => {
    const drop = 'DROP TABLE items /* recorded refusal */';
    const r = await stack.psql(['-c', drop], { user: 'alice', token: tokens.alice });
    assert.match(r.stderr, /destructive statements are blocked on production/);
    // Recordings reach the store in batches: poll until the event is there.
    const denied = await pollUntil('the statement.denied event', async () => {
      const list = JSON.parse((await stack.warden.cli(['sessions', 'list', '--json', '--subject', 'alice'])).stdout) as { id: string }[];
      for (const s of list) {
        const shown = JSON.parse((await stack.warden.cli(['sessions', 'show', s.id, '--json'])).stdout);
        const found = shown.events.find((e: { type: string; data: { text: string } }) => e.type === 'statement.denied' && e.data.text === drop);
        if (found) return found as { data: Record<string, unknown> };
      }
      return undefined;
    });
    assert.equal(denied!.data.rule, 'prod-guardrails/block-destructive');
    assert.deepEqual(denied!.data.classes, ['ddl', 'destructive']);
  });

  test('warden policy test explains a decision without running anything', async () => {
    const r = await stack.warden.cli(['policy', 'test', '--user', 'bot', '--groups', 'agents', '--target', 'pg-main',
      'INSERT INTO items VALUES (9)', '--json']);
    assert.equal(r.code, 4, r.stderr); // require_approval's exit status
    const decision = JSON.parse(r.stdout);
    assert.equal(decision.effect, 'require_approval');
    assert.equal(decision.rule, 'prod-guardrails/writes-need-approval');
    assert.deepEqual(decision.classes, ['write']);
  });
});

describe('just-in-time approval', () => {
  test('held, the caller is told, then approved: exactly that statement runs once', async () => {
    const c = await stack.client({ user: 'bot', password: tokens.bot });
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    try {
      await c.query("SET warden.reason = 'nightly cleanup job'");
      const insert = "INSERT INTO items VALUES (10, 'approved write')";
      const running = c.query(insert);
      const id = await requestFor(insert);
      const request = (await pending()).find((p) => p.id === id)!;
      assert.equal(request.requester, 'bot');
      assert.equal(request.reason, 'nightly cleanup job');
      assert.match(notices.join('\n'), new RegExp(`waiting up to 2m for request ${id}`));
      const approve = await stack.warden.cli(['approvals', 'approve', id, '--comment', 'looks fine'], { env: asUser('dora') });
      assert.equal(approve.code, 0, approve.stderr);
      await running;
      assert.deepEqual(await rows("SELECT count(*)::int AS n FROM items WHERE note = 'approved write'"), [{ n: 1 }]);
      const again = await stack.warden.cli(['approvals', 'approve', id], { env: asUser('dave') });
      assert.notEqual(again.code, 0, 'an approved request cannot be approved again');
      assert.deepEqual(await rows("SELECT count(*)::int AS n FROM items WHERE note = 'approved write'"), [{ n: 1 }]);
    } finally {
      await c.end();
    }
  });

  test('held then denied: the caller gets the approver\'s answer and nothing ran', async () => {
    const c = await stack.client({ user: 'bot', password: tokens.bot });
    try {
      const insert = "INSERT INTO items VALUES (11, 'denied write')";
      const running = c.query(insert).then(() => null, (e: pg.DatabaseError) => e);
      const id = await requestFor(insert);
      const deny = await stack.warden.cli(['approvals', 'deny', id, '--comment', 'not during the freeze'], { env: asUser('dora') });
      assert.equal(deny.code, 0, deny.stderr);
      const err = await running;
      assert.equal(err?.code, '42501');
      assert.match(err!.message, /denied by dora: not during the freeze/);
      assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    } finally {
      await c.end();
    }
    assert.deepEqual(await rows("SELECT count(*)::int AS n FROM items WHERE note = 'denied write'"), [{ n: 0 }]);
  });

  test('a request nobody answers times out', async () => {
    const r = await stack.psql(['-c', "INSERT INTO items VALUES (12, 'timed out')"], { user: 'alice', token: tokens.alice, database: 'fast-main' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /timed out after 2s/);
    assert.deepEqual(await rows("SELECT count(*)::int AS n FROM items WHERE note = 'timed out'"), [{ n: 0 }]);
  });

  test('a requester cannot approve their own request', async () => {
    const c = await stack.client({ user: 'selfie', password: tokens.selfie });
    try {
      const insert = "INSERT INTO items VALUES (13, 'self')";
      const running = c.query(insert).then(() => null, (e: pg.DatabaseError) => e);
      const id = await requestFor(insert);
      const self = await stack.warden.cli(['approvals', 'approve', id], { env: asUser('selfie') });
      assert.equal(self.code, 1);
      assert.match(self.stderr, /your own request/);
      assert.equal((await stack.warden.cli(['approvals', 'deny', id], { env: asUser('dave') })).code, 0);
      assert.match((await running)?.message ?? '', /denied by dave/);
    } finally {
      await c.end();
    }
  });

  test('a two-approver rule needs two distinct approvers', async () => {
    const c = await stack.client({ user: 'alice', password: tokens.alice, database: 'two-main' });
    try {
      const insert = "INSERT INTO items VALUES (14, 'two approvers')";
      let done = false;
      const running = c.query(insert).then(() => (done = true));
      const id = await requestFor(insert);
      assert.equal((await stack.warden.cli(['approvals', 'approve', id], { env: asUser('dora') })).code, 0);
      const twice = await stack.warden.cli(['approvals', 'approve', id], { env: asUser('dora') });
      assert.notEqual(twice.code, 0, 'the same approver cannot count twice');
      // The approvals so far are recorded (the CLI returned): the request is still pending, so nothing may run.
      assert.ok((await pending()).some((p) => p.id === id), 'one approval of two leaves the request pending');
      assert.equal(done, false, 'one approval of two does not run the statement');
      assert.deepEqual(await rows("SELECT count(*)::int AS n FROM items WHERE note = 'two approvers'"), [{ n: 0 }]);
      assert.equal((await stack.warden.cli(['approvals', 'approve', id], { env: asUser('dave') })).code, 0);
      await running;
      assert.deepEqual(await rows("SELECT count(*)::int AS n FROM items WHERE note = 'two approvers'"), [{ n: 1 }]);
    } finally {
      await c.end();
    }
  });

  test('a time-window grant covers the same statement on a second connection, and no other write (issue 9)', async () => {
    // An agent of its own: the grant must not reach the other tests' callers.
    tokens.windowbot = await stack.token('windowbot', '--groups', 'agents', '--kind', 'agent');
    const first = await stack.client({ user: 'windowbot', password: tokens.windowbot });
    const insert = "INSERT INTO items VALUES (15, 'window 1')";
    const running = first.query(insert);
    const id = await requestFor(insert);
    const approve = await stack.warden.cli(['approvals', 'approve', id, '--window', '30m'], { env: asUser('dora') });
    assert.equal(approve.code, 0, approve.stderr);
    await running;
    await first.end();
    const before = (await stack.warden.cli(['approvals', 'list', '--json', '--status', 'all'], { env: asUser('dora') })).stdout;
    const second = await stack.client({ user: 'windowbot', password: tokens.windowbot });
    try {
      await second.query(insert);
      const afterList = (await stack.warden.cli(['approvals', 'list', '--json', '--status', 'all'], { env: asUser('dora') })).stdout;
      assert.equal(JSON.parse(afterList).length, JSON.parse(before).length, 'the same statement needed no new request');
      // Another write of the same class is not what the approver saw: it waits for its own decision (denied here).
      const other = "INSERT INTO items VALUES (16, 'window 2')";
      const refused = second.query(other).then(() => 'ran', (err: Error) => err.message);
      const otherId = await requestFor(other);
      assert.equal((await stack.warden.cli(['approvals', 'deny', otherId], { env: asUser('dora') })).code, 0);
      assert.match(await refused, /denied/);
    } finally {
      await second.end();
    }
    assert.deepEqual(await rows("SELECT note, count(*)::int AS n FROM items WHERE note LIKE 'window %' GROUP BY note"),
      [{ note: 'window 1', n: 2 }]);
  });

  test('webhooks told about requests and decisions, in both formats', async () => {
    const c = await stack.client({ user: 'bot', password: tokens.bot });
    const ids: Record<string, string> = {};
    try {
      for (const [note, verb] of [['hook approved', 'approve'], ['hook denied', 'deny']]) {
        const insert = `INSERT INTO items VALUES (18, '${note}')`;
        const running = c.query(insert).catch(() => undefined);
        ids[verb] = await requestFor(insert);
        assert.equal((await stack.warden.cli(['approvals', verb, ids[verb]], { env: asUser('dora') })).code, 0);
        await running;
      }
    } finally {
      await c.end();
    }
    const events = (path: string, id: string) => hooks.filter((h) => h.path === path && JSON.stringify(h.body).includes(id));
    const generic = (id: string) => events('/generic', id).map((h) => h.body.event);
    // Deliveries are asynchronous: poll until each one arrived.
    await pollUntil('the generic webhooks', () =>
      generic(ids.approve).includes('approval.approved') && generic(ids.deny).includes('approval.denied') ? true : undefined);
    for (const id of Object.values(ids)) assert.ok(generic(id).includes('approval.requested'), id);
    const slack = await pollUntil('the Slack webhooks', () => {
      const found = [...events('/slack', ids.approve), ...events('/slack', ids.deny)];
      return found.length >= 4 ? found : undefined;
    });
    for (const h of slack) assert.equal(typeof h.body.text, 'string');
  });
});

describe('access requests', () => {
  test('a target no policy opens becomes reachable once an access request is approved, until it expires', async () => {
    const refused = await stack.psql(['-c', 'SELECT 1'], { user: 'alice', token: tokens.alice, database: 'secret-db' });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /no policy gives user "alice" access to target "secret-db"/);
    const asked = await stack.warden.cli(['access', 'request', '--target', 'secret-db', '--duration', '6s', '--reason', 'incident 42'],
      { env: asUser('alice') });
    assert.equal(asked.code, 0, asked.stderr);
    const id = asked.stdout.trim();
    assert.equal((await stack.warden.cli(['approvals', 'approve', id], { env: asUser('alice') })).code, 1, 'not by the requester');
    const approved = await stack.warden.cli(['approvals', 'approve', id]);
    assert.equal(approved.code, 0, approved.stderr);
    const inside = await stack.psql(['-c', 'SELECT 42'], { user: 'alice', token: tokens.alice, database: 'secret-db' });
    assert.equal(inside.stdout.trim(), '42', inside.stderr);
    // The grant ends at its own expiry: poll for the refusal rather than sleeping past it.
    const expired = await pollUntil('the access grant to expire', async () => {
      const q = await stack.psql(['-c', 'SELECT 1'], { user: 'alice', token: tokens.alice, database: 'secret-db' });
      return q.code === 0 ? undefined : q;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    assert.equal(expired.code, 2, 'access is gone after it expires');
    assert.match(expired.stderr, /no policy gives user "alice" access to target "secret-db"/);
  });
});

describe('shutdown', () => {
  test('a caller waiting for approval when Warden stops gets a clear error', async () => {
    const c = await stack.client({ user: 'selfie', password: tokens.selfie });
    const ended = new Promise<Error>((resolve) => c.on('error', resolve));
    const insert = "INSERT INTO items VALUES (17, 'waiting at shutdown')";
    const running = c.query(insert).catch((e: Error) => e);
    await requestFor(insert);
    await stack.warden.stop();
    const err = (await Promise.race([running, ended])) as pg.DatabaseError;
    assert.match(err.message, /Warden is shutting down/);
    assert.deepEqual(await rows("SELECT count(*)::int AS n FROM items WHERE note = 'waiting at shutdown'"), [{ n: 0 }]);
  });
});
