/**
 * Tests of `warden approvals` and `warden access` against a real control API on a loopback port, run as the real
 * `bin/warden.mjs` process with non-admin tokens in WARDEN_TOKEN (approvers in dba, an ordinary requester), plus a
 * few in-process runs for usage errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ControlFixture } from '../control/test-fixture.js';
import { startCliApi, type CliApi } from './test-api.js';
import { runCaptured, runSpawned, type CliRun } from './test-io.js';
import type { Subject } from '../session/types.js';
import type { ApprovalRequest } from '../store/types.js';
import { main } from './main.js';


let api: CliApi;
let fx: ControlFixture;
let url: string;
let cwd: string;
let tokens: Record<string, string>;
let alice: Subject;

before(async () => {
  api = await startCliApi({ prefix: 'warden-cli-approvals-', targets: ['pg1'],
    users: { alice: { groups: ['dev'] }, bob: { groups: ['dba'] }, carol: { groups: ['dba'] } } });
  ({ fx, url, cwd, tokens } = api);
  alice = await fx.tokens.verify(tokens.alice);
});
after(async () => { await api.close(); });

type Run = CliRun;

/** Runs the real `warden` executable as `as` (their token in WARDEN_TOKEN). */
function warden(as: string, args: string[]): Promise<Run> {
  return runSpawned(args, { env: { WARDEN_URL: url, WARDEN_TOKEN: tokens[as] }, cwd });
}

/** Runs `main` in this process with a captured terminal. */
function cli(as: string, args: string[]): Promise<Run> {
  return runCaptured(args, { env: { WARDEN_URL: url, WARDEN_TOKEN: tokens[as] }, cwd });
}

/** Holds one of alice's statements for approval by dba. */
function hold(statement: string, count = 1) {
  return fx.deps.approvals.requestStatement({
    sessionId: 'ses_cli', subject: alice, target: 'pg1', statement, statementKey: 'k1', classes: ['write'], reason: 'fix data', rule: 'prod/writes',
    requirement: { groups: ['dba'], users: [], count, timeoutSeconds: 600 },
  });
}

describe('warden approvals (spawned, non-admin tokens)', () => {
  test('an approver lists, shows and approves with a window; the requester cannot approve', async () => {
    const { request, outcome } = await hold("UPDATE orders SET state = 'x' WHERE id = 1\n  AND note = '\u001b[31m'");
    const listed = await warden('bob', ['approvals', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as ApprovalRequest[];
    const row = rows.find((r) => r.id === request.id);
    assert.ok(row, listed.stdout);
    assert.equal(row.statement, request.statement);

    const table = await cli('bob', ['approvals', 'list']);
    assert.match(table.stdout, /^ID\s+KIND\s+STATUS\s+REQUESTER/);
    assert.ok(table.stdout.includes(request.id));
    assert.ok(!table.stdout.includes('\u001b'), 'escape sequences reach the terminal');

    const shown = await warden('bob', ['approvals', 'show', request.id]);
    assert.equal(shown.code, 0, shown.stderr);
    for (const part of ['status     pending', 'requester  alice', 'rule       prod/writes', '  UPDATE orders', '\\x1b[31m',
      `approve: warden approvals approve ${request.id}`]) assert.ok(shown.stdout.includes(part), `${part} in\n${shown.stdout}`);

    const self = await warden('alice', ['approvals', 'approve', request.id]);
    assert.deepEqual([self.code, self.stdout], [1, '']);
    assert.equal(self.stderr, 'warden: you cannot approve your own request (WARDEN_ERR_FORBIDDEN)\n');

    const ok = await warden('bob', ['approvals', 'approve', request.id, '--comment', 'fine', '--window', '30m']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `approved ${request.id}: the request is now approved; window of 30m asked for\n`);
    assert.deepEqual(await outcome, { status: 'approved', by: ['bob'], comment: 'fine' });
    assert.ok(await fx.deps.approvals.findGrant(alice, 'pg1', ['write'], 'k1'));
  });

  test('two approvers for count 2, and a deny as JSON', async () => {
    const two = await hold('DELETE FROM t WHERE id = 2', 2);
    const first = await cli('bob', ['approvals', 'approve', two.request.id]);
    assert.equal(first.stdout, `approved ${two.request.id}: 1/2 approvals so far, still pending\n`);
    const second = await cli('carol', ['approvals', 'approve', two.request.id]);
    assert.match(second.stdout, /now approved/);
    assert.deepEqual((await two.outcome).by, ['bob', 'carol']);

    const other = await hold('DELETE FROM t WHERE id = 3');
    const denied = await warden('carol', ['approvals', 'deny', other.request.id, '--comment', 'not now', '--json']);
    assert.equal(denied.code, 0, denied.stderr);
    const body = JSON.parse(denied.stdout) as ApprovalRequest;
    assert.deepEqual([body.id, body.status, body.decisions[0].comment], [other.request.id, 'denied', 'not now']);
    assert.equal((await other.outcome).status, 'denied');
  });
});

describe('warden access request (spawned)', () => {
  test('prints the id alone; an admin sees and approves it', async () => {
    const asked = await warden('alice', ['access', 'request', '--target', 'pg1', '--duration', '1h', '--reason', 'incident 42']);
    assert.equal(asked.code, 0, asked.stderr);
    assert.match(asked.stdout, /^apr_[\w-]+\n$/);
    const id = asked.stdout.trim();
    const pending = JSON.parse((await cli('admin', ['approvals', 'list', '--kind', 'access', '--json'])).stdout) as ApprovalRequest[];
    assert.deepEqual(pending.map((r) => [r.id, r.statement, r.reason]), [[id, null, 'incident 42']]);
    const approved = await warden('admin', ['approvals', 'approve', id]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(await fx.deps.approvals.hasAccess(alice, 'pg1'), true);
    const all = JSON.parse((await cli('alice', ['approvals', 'list', '--status', 'all', '--json'])).stdout) as ApprovalRequest[];
    assert.ok(all.some((r) => r.id === id && r.status === 'approved'));
  });

  test('errors: unknown target, bad flags', async () => {
    const missing = await warden('alice', ['access', 'request', '--target', 'nope', '--duration', '1h', '--reason', 'x']);
    assert.deepEqual([missing.code, missing.stderr], [1, 'warden: target nope not found (WARDEN_ERR_TARGET_NOT_FOUND)\n']);
    const noDuration = await cli('alice', ['access', 'request', '--target', 'pg1', '--reason', 'x']);
    assert.equal(noDuration.code, 2);
    assert.match(noDuration.stderr, /missing --duration/);
    const json = await cli('alice', ['access', 'request', '--target', 'pg1', '--duration', '30m', '--reason', 'y', '--json']);
    assert.equal((JSON.parse(json.stdout) as ApprovalRequest).accessSeconds, 1800);
  });
});

describe('usage', () => {
  test('bad choices and help', async () => {
    const status = await cli('bob', ['approvals', 'list', '--status', 'bogus']);
    assert.equal(status.code, 2);
    assert.match(status.stderr, /--status must be one of pending, approved, denied, expired, cancelled, all/);
    assert.equal((await cli('bob', ['approvals', 'approve', 'apr_x', '--window', 'soon'])).code, 2);
    assert.equal((await cli('bob', ['approvals', 'approve'])).code, 2);
    const unknown = await cli('bob', ['approvals', 'show', 'apr_unknown']);
    assert.deepEqual([unknown.code, unknown.stderr], [1, 'warden: approval request apr_unknown not found (WARDEN_ERR_NOT_FOUND)\n']);
    const help = await cli('bob', ['--help']);
    assert.match(help.stdout, /approvals\s+list, show, approve and deny/);
    assert.match(help.stdout, /access\s+ask for time-limited access/);
    assert.match((await cli('bob', ['approvals', '--help'])).stdout, /--window/);
    assert.match((await cli('bob', ['help', 'access'])).stdout, /access request --target TARGET/);
  });
});
