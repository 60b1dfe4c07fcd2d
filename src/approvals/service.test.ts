/**
 * Tests of the ApprovalService against a real SQLite store in a temporary directory, with an injected clock (no
 * sleeping for expiry) and a Notifier whose fetch records what would be sent.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import type { StatementClass } from '../analysis/sql/types.js';
import { WardenError } from '../errors.js';
import { ADMIN_GROUP } from '../identity/tokens.js';
import type { ApprovalRequirement } from '../policy/types.js';
import type { Actor, PrincipalKind, Subject } from '../session/types.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { canView, isOwnRequest } from './eligibility.js';
import { Notifier } from './notifier.js';
import { ApprovalService, RESTART_REASON, type ApprovalOutcome } from './service.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const logger = pino({ level: 'silent' });

let dir: string;
let store: Store;
let clock: number;
let events: { event: string; id: string; status: string }[];
let services: ApprovalService[];

function subject(id: string, groups: string[] = [], kind: PrincipalKind = 'user', chain: Actor[] = []): Subject {
  return { id, kind, groups, chain, tokenId: `tok_${id}`, targets: ['*'], expiresAt: T0 / 1000 + 86_400 };
}
const alice = subject('alice', ['dev']);
const bob = subject('bob', ['dba']);
const carol = subject('carol', ['dba']);
const admin = subject('root', [ADMIN_GROUP]);

function notifier(): Notifier {
  const fetchImpl = (async (_url: string, init: RequestInit) => {
    const body = JSON.parse(String(init.body)) as { event: string; request: { id: string; status: string } };
    events.push({ event: body.event, id: body.request.id, status: body.request.status });
    return new Response(null, { status: 204 });
  }) as typeof fetch;
  return new Notifier({ webhookUrls: ['http://hooks.test/x'], slackWebhookUrls: [], publicUrl: 'http://warden.test', logger, fetchImpl });
}

async function service(): Promise<ApprovalService> {
  const s = await ApprovalService.create({ store, logger, notifier: notifier(), now: () => clock });
  services.push(s);
  return s;
}

function requirement(over: Partial<ApprovalRequirement> = {}): ApprovalRequirement {
  return { groups: ['dba'], users: [], count: 1, timeoutSeconds: 60, ...over };
}

/** The key of the held statement (session/approval-wait.ts computes real ones). */
const KEY = 'k-delete-7';

function hold(s: ApprovalService, over: { subject?: Subject; requirement?: Partial<ApprovalRequirement>; classes?: StatementClass[]; key?: string } = {}) {
  return s.requestStatement({
    sessionId: 'ses_1', subject: over.subject ?? alice, target: 'pg1', statement: 'DELETE FROM orders WHERE id = 7',
    statementKey: over.key ?? KEY, classes: over.classes ?? ['write'], reason: 'cleanup', rule: 'prod/deletes', requirement: requirement(over.requirement),
  });
}

/** The outcome if it settled already, else 'waiting' (checked after pending callbacks ran). */
async function peek(outcome: Promise<ApprovalOutcome>): Promise<ApprovalOutcome | 'waiting'> {
  return Promise.race([outcome, new Promise<'waiting'>((resolve) => setImmediate(() => resolve('waiting')))]);
}

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof WardenError, String(err));
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-approvals-'));
  store = await openStore({ kind: 'sqlite', path: join(dir, 'warden.db') });
  clock = T0;
  events = [];
  services = [];
});
afterEach(async () => {
  for (const s of services) await s.shutdown('test finished');
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('statement approvals', () => {
  test('one approver approves; the change is stored before the outcome settles', async () => {
    const s = await service();
    const { request, outcome } = await hold(s);
    assert.match(request.id, /^apr_[\w-]{20,}$/);
    assert.equal(request.status, 'pending');
    assert.equal(request.expiresAt, '2030-01-01T00:01:00.000Z');
    assert.deepEqual((await s.list({ status: 'pending' })).map((r) => r.id), [request.id]);
    const seen = outcome.then(() => store.approvals.get(request.id));
    clock += 5_000;
    const approved = await s.approve(request.id, bob, { comment: 'looks fine' });
    assert.equal(approved.status, 'approved');
    assert.equal(approved.decidedAt, '2030-01-01T00:00:05.000Z');
    assert.deepEqual(await outcome, { status: 'approved', by: ['bob'], comment: 'looks fine' });
    assert.equal((await seen)?.status, 'approved');
    await rejectsWith(s.approve(request.id, carol), 'WARDEN_ERR_CONFLICT', /already approved/);
    assert.deepEqual(events.map((e) => e.event), ['approval.requested', 'approval.approved']);
  });

  test('count 2 needs two distinct approvers; the same approver twice is a conflict', async () => {
    const s = await service();
    const { request, outcome } = await hold(s, { requirement: { count: 2 } });
    const first = await s.approve(request.id, bob);
    assert.equal(first.status, 'pending');
    assert.equal(await peek(outcome), 'waiting');
    await rejectsWith(s.approve(request.id, bob), 'WARDEN_ERR_CONFLICT', /already approved this request/);
    const second = await s.approve(request.id, carol);
    assert.equal(second.status, 'approved');
    assert.deepEqual((await outcome).by, ['bob', 'carol']);
  });

  test('named users approve as well as groups', async () => {
    const s = await service();
    const { request, outcome } = await hold(s, { requirement: { groups: [], users: ['dave'] } });
    await rejectsWith(s.approve(request.id, bob), 'WARDEN_ERR_FORBIDDEN', /needs one of the users dave/);
    await s.approve(request.id, subject('dave'));
    assert.equal((await outcome).status, 'approved');
  });

  test('nobody approves their own request, also through a delegation chain', async () => {
    const s = await service();
    const selfDba = subject('alice', ['dba']);
    const own = await hold(s, { subject: selfDba });
    await rejectsWith(s.approve(own.request.id, selfDba), 'WARDEN_ERR_FORBIDDEN', /^you cannot approve your own request$/);
    await rejectsWith(s.deny(own.request.id, selfDba), 'WARDEN_ERR_FORBIDDEN', /you cannot deny your own request/);

    const bot = subject('bot', ['agents'], 'agent', [{ id: 'alice', kind: 'user' }, { id: 'bot', kind: 'agent' }]);
    const delegated = await hold(s, { subject: bot });
    assert.deepEqual(delegated.request.chain, bot.chain);
    await rejectsWith(s.approve(delegated.request.id, selfDba), 'WARDEN_ERR_FORBIDDEN', /your own request/);
    // A caller acting through a chain that holds the requester is refused too.
    const viaAlice = subject('helper', ['dba'], 'service', [{ id: 'alice', kind: 'user' }, { id: 'helper', kind: 'service' }]);
    await rejectsWith(s.approve(own.request.id, viaAlice), 'WARDEN_ERR_FORBIDDEN', /your own request/);
    assert.equal((await s.get(own.request.id))?.decisions.length, 0);
  });

  test('approvers outside the required groups, and agents, cannot approve', async () => {
    const s = await service();
    const { request, outcome } = await hold(s, { requirement: { groups: ['dba', 'sre'] } });
    await rejectsWith(s.approve(request.id, subject('eve', ['dev'])), 'WARDEN_ERR_FORBIDDEN',
      /^approval of this request needs a member of dba or sre$/);
    await rejectsWith(s.approve(request.id, subject('agent7', ['dba'], 'agent')), 'WARDEN_ERR_FORBIDDEN', /needs a person/);
    await rejectsWith(s.approve('apr_nope', bob), 'WARDEN_ERR_NOT_FOUND');
    assert.equal(await peek(outcome), 'waiting');
  });

  test('only people approve: a service account or a delegated user in the approvers\' group cannot, count 2 needs two people', async () => {
    const s = await service();
    const { request, outcome } = await hold(s, { requirement: { count: 2 } });
    await s.approve(request.id, bob);
    const robot = subject('deploy-bot', ['dba'], 'service');
    await rejectsWith(s.approve(request.id, robot), 'WARDEN_ERR_FORBIDDEN', /^a service account cannot approve requests/);
    // A user's name on a token delegated from another person is not that person signing in.
    const viaDave = subject('carol', ['dba'], 'user', [{ id: 'dave', kind: 'user' }]);
    await rejectsWith(s.approve(request.id, viaDave), 'WARDEN_ERR_FORBIDDEN', /^a delegated token cannot approve requests/);
    assert.equal((await s.get(request.id))?.status, 'pending');
    assert.equal(await peek(outcome), 'waiting');
    // A second person completes the approval.
    const approved = await s.approve(request.id, carol);
    assert.equal(approved.status, 'approved');
    assert.deepEqual((await outcome).by, ['bob', 'carol']);
  });

  test('a service account may deny (denying never lets anything run)', async () => {
    const s = await service();
    const { request, outcome } = await hold(s);
    await s.deny(request.id, subject('deploy-bot', ['dba'], 'service'));
    assert.equal((await outcome).status, 'denied');
  });

  test('the first eligible deny ends the request', async () => {
    const s = await service();
    const { request, outcome } = await hold(s, { requirement: { count: 2 } });
    await s.approve(request.id, bob);
    await rejectsWith(s.deny(request.id, subject('eve', ['dev'])), 'WARDEN_ERR_FORBIDDEN', /denial of this request needs/);
    const denied = await s.deny(request.id, carol, 'not during business hours');
    assert.equal(denied.status, 'denied');
    assert.deepEqual(await outcome, { status: 'denied', by: ['carol'], comment: 'not during business hours' });
    await rejectsWith(s.approve(request.id, subject('dave', ['dba'])), 'WARDEN_ERR_CONFLICT', /already denied/);
    assert.deepEqual(events.map((e) => e.event), ['approval.requested', 'approval.denied']);
  });

  test('two approvers racing on a count-1 request: exactly one wins', async () => {
    const s = await service();
    const { request, outcome } = await hold(s);
    const results = await Promise.allSettled([s.approve(request.id, bob), s.approve(request.id, carol)]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const stored = await s.get(request.id);
    assert.equal(stored?.decisions.length, 1);
    assert.deepEqual((await outcome).by, [stored!.decisions[0].by]);
  });

  test('requests expire by the clock', async () => {
    const s = await service();
    const swept = await hold(s, { requirement: { timeoutSeconds: 30 } });
    const late = await hold(s, { requirement: { timeoutSeconds: 30 } });
    clock += 29_000;
    assert.equal(await s.expireDue(), 0);
    clock += 1_000;
    assert.equal(await s.expireDue(), 2);
    assert.deepEqual(await swept.outcome, { status: 'expired', by: [], reason: 'no decision within 30s' });
    assert.equal((await s.get(late.request.id))?.status, 'expired');
    await rejectsWith(s.approve(late.request.id, bob), 'WARDEN_ERR_CONFLICT', /already expired/);
  });

  test('a decision arriving after the deadline (before the timer) expires the request instead', async () => {
    const s = await service();
    const { request, outcome } = await hold(s, { requirement: { timeoutSeconds: 10 } });
    clock += 10_000;
    await rejectsWith(s.approve(request.id, bob), 'WARDEN_ERR_CONFLICT', /already expired/);
    assert.equal((await outcome).status, 'expired');
    assert.deepEqual(events.map((e) => e.event), ['approval.requested', 'approval.expired']);
  });

  test('cancel settles the outcome; unknown or finished requests are ignored', async () => {
    const s = await service();
    const { request, outcome } = await hold(s);
    await s.cancel(request.id, 'client disconnected');
    assert.deepEqual(await outcome, { status: 'cancelled', by: [], reason: 'client disconnected' });
    await s.cancel(request.id, 'again');
    await s.cancel('apr_unknown', 'x');
    const stored = await s.get(request.id);
    assert.equal(stored?.status, 'cancelled');
    assert.equal(stored?.statusReason, 'client disconnected');
    await rejectsWith(s.approve(request.id, bob), 'WARDEN_ERR_CONFLICT', /already cancelled/);
  });

  test('a requirement nobody can satisfy is refused up front', async () => {
    const s = await service();
    await rejectsWith(hold(s, { requirement: { groups: [], users: [] } }), 'WARDEN_ERR_BAD_REQUEST');
    await rejectsWith(hold(s, { requirement: { count: 0 } }), 'WARDEN_ERR_BAD_REQUEST');
    assert.deepEqual(await s.list({ status: 'all' }), []);
    await rejectsWith(s.list({ status: 'bogus' }), 'WARDEN_ERR_BAD_REQUEST');
    await rejectsWith(s.list({ kind: 'bogus' }), 'WARDEN_ERR_BAD_REQUEST');
  });
});

describe('time-window grants', () => {
  test('a window covers its statement (and classes) on the same target for the same subject until it ends', async () => {
    const s = await service();
    const { request } = await hold(s, { classes: ['write', 'destructive'] });
    assert.equal(await s.findGrant(alice, 'pg1', ['write'], KEY), undefined);
    await rejectsWith(s.approve(request.id, bob, { windowSeconds: 0 }), 'WARDEN_ERR_BAD_REQUEST');
    await rejectsWith(s.approve(request.id, bob, { windowSeconds: 86_401 }), 'WARDEN_ERR_BAD_REQUEST');
    await s.approve(request.id, bob, { windowSeconds: 1800 });
    const grant = await s.findGrant(alice, 'pg1', ['write'], KEY);
    assert.ok(grant);
    assert.match(grant.id, /^grt_/);
    assert.deepEqual([grant.kind, grant.subject, grant.target, grant.requestId, grant.grantedBy, grant.expiresAt],
      ['statement', 'alice', 'pg1', request.id, ['bob'], '2030-01-01T00:30:00.000Z']);
    assert.ok(await s.findGrant(alice, 'pg1', ['destructive', 'write'], KEY));
    assert.equal(await s.findGrant(alice, 'pg1', ['write', 'ddl'], KEY), undefined);
    assert.equal(await s.findGrant(alice, 'pg1', [], KEY), undefined);
    assert.equal(await s.findGrant(alice, 'pg2', ['write'], KEY), undefined);
    assert.equal(await s.findGrant(subject('mallory', ['dev']), 'pg1', ['write'], KEY), undefined);
    clock += 1_799_000;
    assert.ok(await s.findGrant(alice, 'pg1', ['write'], KEY));
    clock += 1_000;
    assert.equal(await s.findGrant(alice, 'pg1', ['write'], KEY), undefined);
  });

  test('a window covers the statement the approver saw, not another of the same classes; a request without a key none', async () => {
    const s = await service();
    const { request } = await hold(s);
    await s.approve(request.id, bob, { windowSeconds: 600 });
    assert.ok(await s.findGrant(alice, 'pg1', ['write'], KEY));
    assert.equal(await s.findGrant(alice, 'pg1', ['write'], 'k-delete-everything'), undefined);
    assert.equal(await s.findGrant(alice, 'pg1', ['write'], ''), undefined);
    const grants = await store.approvals.grantsFor(request.id);
    assert.deepEqual(grants.map((g) => g.statementKey), [KEY], 'the key is stored with the grant');
    // A request stored without a key (before keys existed) leaves a window that covers nothing.
    const keyless = await s.requestStatement({ sessionId: 'ses_1', subject: alice, target: 'pg2', statement: 'DELETE FROM t',
      classes: ['write'], reason: null, rule: 'r', requirement: requirement() });
    await s.approve(keyless.request.id, bob, { windowSeconds: 600 });
    assert.equal((await store.approvals.grantsFor(keyless.request.id)).length, 1);
    assert.equal(await s.findGrant(alice, 'pg2', ['write'], KEY), undefined);
  });

  test('with two approvers, a window needs both; the shorter one wins', async () => {
    const s = await service();
    const one = await hold(s, { requirement: { count: 2 } });
    await s.approve(one.request.id, bob, { windowSeconds: 3600 });
    await s.approve(one.request.id, carol);
    assert.equal(await s.findGrant(alice, 'pg1', ['write'], KEY), undefined);
    const both = await hold(s, { requirement: { count: 2 } });
    await s.approve(both.request.id, bob, { windowSeconds: 3600 });
    await s.approve(both.request.id, carol, { windowSeconds: 600 });
    assert.equal((await s.findGrant(alice, 'pg1', ['write'], KEY))?.expiresAt, '2030-01-01T00:10:00.000Z');
  });
});

describe('grants belong to the principal with its delegation origin (issue 9 item 8)', () => {
  const alicesHelper = subject('helper', ['dev'], 'agent', [{ id: 'alice', kind: 'user' }]);
  const mallorysHelper = subject('helper', ['dev'], 'agent', [{ id: 'mallory', kind: 'user' }]);

  test('an access grant for alice\'s helper is not mallory\'s helper\'s, nor a bare helper\'s', async () => {
    const s = await service();
    const request = await s.requestAccess(alicesHelper, 'pg-main', 3600, 'nightly report');
    await s.approve(request.id, admin);
    assert.equal(await s.hasAccess(alicesHelper, 'pg-main'), true);
    assert.equal(await s.hasAccess(mallorysHelper, 'pg-main'), false);
    assert.equal(await s.hasAccess(subject('helper', [], 'agent'), 'pg-main'), false);
    assert.equal(await s.hasAccess(alice, 'pg-main'), false, 'the grant is the helper\'s, not alice\'s own');
  });

  test('a statement window likewise, and mallory\'s helper neither sees nor decides alice\'s helper\'s request as its own', async () => {
    const s = await service();
    const { request } = await hold(s, { subject: alicesHelper });
    const viewer = subject('helper', ['dev'], 'agent', [{ id: 'mallory', kind: 'user' }]);
    assert.equal(canView(request, viewer), false);
    assert.equal(isOwnRequest(request, viewer), false);
    assert.equal(isOwnRequest(request, subject('alice', ['dba'])), true, 'alice is the origin of the request');
    await s.approve(request.id, bob, { windowSeconds: 600 });
    assert.ok(await s.findGrant(alicesHelper, 'pg1', ['write'], KEY));
    assert.equal(await s.findGrant(mallorysHelper, 'pg1', ['write'], KEY), undefined);
  });
});

describe('access requests', () => {
  test('pending -> approved by an admin -> access until it ends', async () => {
    const s = await service();
    const request = await s.requestAccess(alice, 'pg1', 3600, '  incident 42  ');
    assert.deepEqual([request.kind, request.status, request.reason, request.accessSeconds, request.statement, request.sessionId],
      ['access', 'pending', 'incident 42', 3600, null, null]);
    assert.deepEqual(request.approvers, { groups: [ADMIN_GROUP], users: [], count: 1 });
    assert.equal(request.expiresAt, '2030-01-02T00:00:00.000Z');
    assert.equal(await s.hasAccess(alice, 'pg1'), false);
    await rejectsWith(s.approve(request.id, bob), 'WARDEN_ERR_FORBIDDEN', /needs a member of warden-admins/);
    await rejectsWith(s.approve(request.id, admin, { windowSeconds: 60 }), 'WARDEN_ERR_BAD_REQUEST', /statement requests only/);
    clock += 60_000;
    assert.equal((await s.approve(request.id, admin)).status, 'approved');
    assert.equal(await s.hasAccess(alice, 'pg1'), true);
    assert.equal(await s.hasAccess(alice, 'pg2'), false);
    assert.equal(await s.hasAccess(bob, 'pg1'), false);
    clock += 3_599_000;
    assert.equal(await s.hasAccess(alice, 'pg1'), true);
    clock += 1_000;
    assert.equal(await s.hasAccess(alice, 'pg1'), false);
    assert.deepEqual(events.map((e) => e.event), ['approval.requested', 'approval.approved']);
  });

  test('invalid access requests are refused; an undecided one expires after 24 hours', async () => {
    const s = await service();
    await rejectsWith(s.requestAccess(alice, 'pg1', 86_401, 'x'), 'WARDEN_ERR_BAD_REQUEST');
    await rejectsWith(s.requestAccess(alice, 'pg1', 3600, '   '), 'WARDEN_ERR_BAD_REQUEST');
    const request = await s.requestAccess(alice, 'pg1', 3600, 'why');
    await rejectsWith(s.approve(request.id, alice), 'WARDEN_ERR_FORBIDDEN');
    clock += 86_400_000;
    assert.equal(await s.expireDue(), 1);
    assert.equal((await s.get(request.id))?.status, 'expired');
    assert.equal(await s.hasAccess(alice, 'pg1'), false);
  });
});

describe('restart and shutdown', () => {
  test('a new service cancels statement requests of the old run and keeps access requests approvable', async () => {
    const first = await service();
    const held = await hold(first);
    const access = await first.requestAccess(alice, 'pg1', 600, 'on call');
    const overdue = await first.requestAccess(bob, 'pg1', 600, 'old');
    await store.approvals.updatePending({ ...overdue, expiresAt: '2029-12-31T00:00:00.000Z' }, 0);

    const second = await service();
    const cancelled = await second.get(held.request.id);
    assert.deepEqual([cancelled?.status, cancelled?.statusReason], ['cancelled', RESTART_REASON]);
    assert.equal((await second.get(overdue.id))?.status, 'expired');
    assert.equal((await second.get(access.id))?.status, 'pending');
    await second.approve(access.id, admin);
    assert.equal(await second.hasAccess(alice, 'pg1'), true);
    // The first run's waiter is released when that run shuts down.
    await first.shutdown('stopping');
    assert.equal((await held.outcome).status, 'cancelled');
  });

  test('two services (replicas) on one store: the compare-and-set lets exactly one decision win', async () => {
    const a = await service();
    const b = await service();
    const request = await a.requestAccess(alice, 'pg1', 600, 'x');
    const results = await Promise.allSettled([a.approve(request.id, admin), b.deny(request.id, subject('root2', [ADMIN_GROUP]))]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const stored = await a.get(request.id);
    assert.equal(stored?.decisions.length, 1);
    assert.equal(stored?.status, stored?.decisions[0].decision === 'approve' ? 'approved' : 'denied');

    // A statement held on one replica and approved on the other: refresh (the cross-replica signal) releases it.
    const held = await hold(a);
    await b.approve(held.request.id, bob);
    assert.equal(await peek(held.outcome), 'waiting');
    await a.refresh(held.request.id);
    assert.deepEqual(await held.outcome, { status: 'approved', by: ['bob'] });
  });

  test('a pending access request expires on its timer', async () => {
    let offset = 0;
    const now = () => Date.now() + offset;
    const first = await ApprovalService.create({ store, logger, notifier: notifier(), now });
    services.push(first);
    const request = await first.requestAccess(alice, 'pg1', 600, 'x');
    await first.shutdown('stopping');
    offset = 86_400_000 - 80; // the request is due in 80 ms by this clock
    const second = await ApprovalService.create({ store, logger, notifier: notifier(), now });
    services.push(second);
    for (let i = 0; i < 100 && (await second.get(request.id))?.status === 'pending'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal((await second.get(request.id))?.status, 'expired');
  });

  test('shutdown cancels every waiting outcome, stores it, and refuses new requests', async () => {
    const s = await service();
    const a = await hold(s);
    const b = await hold(s, { requirement: { count: 2 } });
    const access = await s.requestAccess(alice, 'pg1', 600, 'x');
    await s.shutdown('Warden is stopping');
    for (const held of [a, b]) {
      assert.deepEqual(await held.outcome, { status: 'cancelled', by: [], reason: 'Warden is stopping' });
      assert.equal((await s.get(held.request.id))?.status, 'cancelled');
    }
    assert.equal((await s.get(access.id))?.status, 'pending');
    await rejectsWith(hold(s), 'WARDEN_ERR_SHUTTING_DOWN');
  });

  test('shutdown releases waiters even when the store is gone', async () => {
    const s = await service();
    const { outcome } = await hold(s);
    await store.close();
    await s.shutdown('stopping');
    assert.deepEqual(await outcome, { status: 'cancelled', by: [], reason: 'stopping' });
    store = await openStore({ kind: 'sqlite', path: join(dir, 'warden.db') });
  });
});
