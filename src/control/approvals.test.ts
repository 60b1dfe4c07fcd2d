/**
 * Tests of the approval routes through `app.inject`, against the real store, token service and ApprovalService of
 * the control fixture, with non-admin tokens: approvers in group dba, an ordinary requester and a bystander.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { StatementApprovalInput } from '../approvals/service.js';
import type { Subject } from '../session/types.js';
import type { ApprovalRequest } from '../store/types.js';
import { createControlFixture, type ControlFixture } from './test-fixture.js';

let fx: ControlFixture;
const tokens: Record<string, string> = {};
const subjects: Record<string, Subject> = {};

before(async () => {
  fx = await createControlFixture();
  const people: [string, string[]][] = [['alice', ['dev']], ['bob', ['dba']], ['carol', ['dba']], ['eve', ['dev']]];
  for (const [name, groups] of people) {
    tokens[name] = (await fx.tokens.issue({ subject: name, groups, ttlSeconds: 3600 })).token;
    subjects[name] = await fx.tokens.verify(tokens[name]);
  }
  const target = { name: 'pg1', type: 'postgres', host: 'db.internal', port: 5432, database: 'app', user: 'app' };
  assert.equal((await call({ method: 'POST', url: '/api/targets', payload: target, as: 'admin' })).statusCode, 201);
});
after(async () => {
  await fx.close();
});

/** A request as `as` (a person's token, `admin`, or null for none). */
function call(opts: InjectOptions & { as: string | null }): Promise<LightMyRequestResponse> {
  const { as, ...rest } = opts;
  const token = as === null ? undefined : as === 'admin' ? fx.adminToken : tokens[as];
  return fx.app.inject({ ...rest, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}) } });
}

function errorOf(res: LightMyRequestResponse): { code: string; message: string } {
  return (res.json() as { error: { code: string; message: string } }).error;
}

/** Holds a statement of alice's for approval by dba, as the data path would. */
function hold(over: Partial<StatementApprovalInput['requirement']> = {}) {
  return fx.deps.approvals.requestStatement({
    sessionId: 'ses_api', subject: subjects.alice, target: 'pg1', statement: 'DROP TABLE audit_old', statementKey: 'k1', classes: ['ddl', 'destructive'],
    reason: 'cleanup', rule: 'prod/ddl', requirement: { groups: ['dba'], users: [], count: 1, timeoutSeconds: 300, ...over },
  });
}

describe('viewing requests', () => {
  test('approvers and the requester see a request; bystanders get a 404', async () => {
    const { request } = await hold();
    // The statement's key and its redacted copy (for notifications) are Warden's own bookkeeping: not in the API.
    const { statementKey: _key, recordedStatement: _recorded, ...shown } = request;
    for (const who of ['bob', 'alice', 'admin']) {
      const list = await call({ method: 'GET', url: '/api/approvals?status=pending', as: who });
      assert.equal(list.statusCode, 200, list.body);
      assert.ok((list.json() as ApprovalRequest[]).some((r) => r.id === request.id), who);
      const one = await call({ method: 'GET', url: `/api/approvals/${request.id}`, as: who });
      assert.equal(one.statusCode, 200);
      assert.deepEqual(one.json(), shown);
    }
    const eveList = await call({ method: 'GET', url: '/api/approvals', as: 'eve' });
    assert.deepEqual(eveList.json(), []);
    const eveOne = await call({ method: 'GET', url: `/api/approvals/${request.id}`, as: 'eve' });
    assert.deepEqual([eveOne.statusCode, errorOf(eveOne).code], [404, 'WARDEN_ERR_NOT_FOUND']);
    // Naming the id to decide it tells a bystander who may decide (never the statement), not a misleading 404.
    const eveApprove = await call({ method: 'POST', url: `/api/approvals/${request.id}/approve`, payload: {}, as: 'eve' });
    assert.deepEqual([eveApprove.statusCode, errorOf(eveApprove)], [403, { code: 'WARDEN_ERR_FORBIDDEN',
      message: `you are not an eligible approver of approval request ${request.id}: approval needs a member of dba` }]);
    assert.doesNotMatch(eveApprove.body, /DROP TABLE|audit_old/);
    const eveDeny = await call({ method: 'POST', url: `/api/approvals/${request.id}/deny`, payload: {}, as: 'eve' });
    assert.equal(errorOf(eveDeny).message, `you are not an eligible approver of approval request ${request.id}: denial needs a member of dba`);
    const unknown = await call({ method: 'POST', url: '/api/approvals/apr_unknown/approve', payload: {}, as: 'eve' });
    assert.deepEqual([unknown.statusCode, errorOf(unknown).code], [404, 'WARDEN_ERR_NOT_FOUND']);
    assert.equal((await fx.deps.approvals.get(request.id))?.status, 'pending');
  });

  test('filters are validated; a token is required', async () => {
    assert.equal((await call({ method: 'GET', url: '/api/approvals?status=bogus', as: 'bob' })).statusCode, 400);
    assert.equal((await call({ method: 'GET', url: '/api/approvals?limit=0', as: 'bob' })).statusCode, 400);
    const kinds = (await call({ method: 'GET', url: '/api/approvals?kind=access&status=all', as: 'admin' })).json() as ApprovalRequest[];
    assert.ok(kinds.every((r) => r.kind === 'access'));
    const none = await call({ method: 'GET', url: '/api/approvals', as: null });
    assert.deepEqual([none.statusCode, errorOf(none).code], [401, 'WARDEN_ERR_UNAUTHENTICATED']);
    // The admin routes still refuse non-admin tokens.
    assert.equal((await call({ method: 'GET', url: '/api/targets', as: 'bob' })).statusCode, 403);
  });
});

describe('deciding', () => {
  test('a dba approves with a window; the requester cannot approve; a second approval conflicts', async () => {
    const { request, outcome } = await hold();
    const self = await call({ method: 'POST', url: `/api/approvals/${request.id}/approve`, payload: {}, as: 'alice' });
    assert.deepEqual([self.statusCode, errorOf(self)], [403, { code: 'WARDEN_ERR_FORBIDDEN', message: 'you cannot approve your own request' }]);
    const bad = await call({ method: 'POST', url: `/api/approvals/${request.id}/approve`, payload: { window: 'soon' }, as: 'bob' });
    assert.deepEqual([bad.statusCode, errorOf(bad).code], [400, 'WARDEN_ERR_BAD_REQUEST']);
    const typo = await call({ method: 'POST', url: `/api/approvals/${request.id}/approve`, payload: { coment: 'x' }, as: 'bob' });
    assert.match(errorOf(typo).message, /unknown field "coment"/);

    const ok = await call({ method: 'POST', url: `/api/approvals/${request.id}/approve`, payload: { comment: 'go', window: '30m' }, as: 'bob' });
    assert.equal(ok.statusCode, 200, ok.body);
    const body = ok.json() as ApprovalRequest;
    assert.equal(body.status, 'approved');
    assert.deepEqual([body.decisions[0].by, body.decisions[0].comment, body.decisions[0].windowSeconds], ['bob', 'go', 1800]);
    assert.deepEqual(await outcome, { status: 'approved', by: ['bob'], comment: 'go' });
    assert.ok(await fx.deps.approvals.findGrant(subjects.alice, 'pg1', ['ddl'], 'k1'));

    const again = await call({ method: 'POST', url: `/api/approvals/${request.id}/approve`, payload: {}, as: 'carol' });
    assert.deepEqual([again.statusCode, errorOf(again).code], [409, 'WARDEN_ERR_CONFLICT']);
  });

  test('two dba approvals for count 2; a deny ends another request', async () => {
    const two = await hold({ count: 2 });
    const first = await call({ method: 'POST', url: `/api/approvals/${two.request.id}/approve`, payload: {}, as: 'bob' });
    assert.equal((first.json() as ApprovalRequest).status, 'pending');
    const twice = await call({ method: 'POST', url: `/api/approvals/${two.request.id}/approve`, payload: {}, as: 'bob' });
    assert.equal(twice.statusCode, 409);
    const second = await call({ method: 'POST', url: `/api/approvals/${two.request.id}/approve`, as: 'carol' });
    assert.equal((second.json() as ApprovalRequest).status, 'approved');
    assert.deepEqual((await two.outcome).by, ['bob', 'carol']);

    const other = await hold();
    const denied = await call({ method: 'POST', url: `/api/approvals/${other.request.id}/deny`, payload: { comment: 'no' }, as: 'carol' });
    assert.equal(denied.statusCode, 200);
    assert.equal((denied.json() as ApprovalRequest).status, 'denied');
    assert.deepEqual(await other.outcome, { status: 'denied', by: ['carol'], comment: 'no' });
    const missing = await call({ method: 'POST', url: '/api/approvals/apr_missing/deny', payload: {}, as: 'carol' });
    assert.equal(missing.statusCode, 404);
  });
});

describe('access requests', () => {
  const ask = (payload: Record<string, unknown>, as = 'alice') => call({ method: 'POST', url: '/api/access-requests', payload, as });

  test('an ordinary user asks; an admin approves; access is granted for the duration', async () => {
    const res = await ask({ target: 'pg1', duration: '1h', reason: 'incident 42' });
    assert.equal(res.statusCode, 201, res.body);
    const request = res.json() as ApprovalRequest;
    assert.deepEqual([request.kind, request.status, request.requester, request.accessSeconds, request.reason],
      ['access', 'pending', 'alice', 3600, 'incident 42']);
    // A dba who is not an admin cannot see it, and trying to approve it says who can.
    assert.equal((await call({ method: 'GET', url: `/api/approvals/${request.id}`, as: 'bob' })).statusCode, 404);
    const bob = await call({ method: 'POST', url: `/api/approvals/${request.id}/approve`, payload: {}, as: 'bob' });
    assert.deepEqual([bob.statusCode, errorOf(bob).message],
      [403, `you are not an eligible approver of approval request ${request.id}: approval needs a member of warden-admins`]);
    assert.equal(await fx.deps.approvals.hasAccess(subjects.alice, 'pg1'), false);
    const ok = await call({ method: 'POST', url: `/api/approvals/${request.id}/approve`, payload: {}, as: 'admin' });
    assert.equal((ok.json() as ApprovalRequest).status, 'approved');
    assert.equal(await fx.deps.approvals.hasAccess(subjects.alice, 'pg1'), true);
  });

  test('bad access requests', async () => {
    const missing = await ask({ target: 'nope', duration: '1h', reason: 'x' });
    assert.deepEqual([missing.statusCode, errorOf(missing).code], [404, 'WARDEN_ERR_TARGET_NOT_FOUND']);
    for (const payload of [
      { target: 'pg1', duration: '25h', reason: 'x' }, { target: 'pg1', duration: 'later', reason: 'x' },
      { target: 'pg1', duration: '1h', reason: '' }, { target: 'pg1', duration: '1h', reason: 'x'.repeat(501) },
      { target: 'pg1', duration: '1h' }, { target: 'pg1', duration: '1h', reason: '   ' },
    ]) {
      const res = await ask(payload);
      assert.deepEqual([res.statusCode, errorOf(res).code], [400, 'WARDEN_ERR_BAD_REQUEST'], JSON.stringify(payload));
    }
    assert.equal((await ask({ target: 'pg1', duration: '1h', reason: 'x' }, 'nobody')).statusCode, 401);
  });
});

test('the OpenAPI document describes the approval routes', async () => {
  const doc = (await call({ method: 'GET', url: '/api/openapi.json', as: null })).json() as { paths: Record<string, any> };
  for (const path of ['/api/approvals', '/api/approvals/{id}', '/api/approvals/{id}/approve', '/api/approvals/{id}/deny', '/api/access-requests']) {
    assert.ok(doc.paths[path], `missing ${path}`);
  }
  assert.ok(doc.paths['/api/access-requests'].post.requestBody);
  assert.ok(doc.paths['/api/approvals'].get.responses['200']);
});
