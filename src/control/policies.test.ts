/**
 * Tests of the policy routes against the real store (SQLite file), the real policy parser, evaluator and SQL
 * analyser, through `app.inject`: apply statuses and all-or-nothing failures, list/show/remove, the dry-run decision
 * of `POST /api/policy/test`, admin-only access and the OpenAPI description.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { TokenService } from '../identity/tokens.js';
import { createControlFixture, type ControlFixture } from './test-fixture.js';
import { GUARDRAILS_YAML } from '../policy/test-fixtures.js';

/** The policy of the issue, applied as written. */
const GUARDRAILS = GUARDRAILS_YAML;

let fx: ControlFixture;
before(async () => {
  fx = await createControlFixture();
  for (const name of ['pg-prod', 'staging']) {
    await fx.store.targets.insert({
      name, type: 'postgres', host: 'db.internal', port: 5432, database: 'app', user: 'app', passwordEnc: null,
      tls: 'disable', ca: null, labels: {}, createdAt: '2030-01-01T00:00:00.000Z', updatedAt: '2030-01-01T00:00:00.000Z',
    });
  }
});
after(async () => {
  await fx?.close();
});

function call(opts: InjectOptions & { token?: string }): Promise<LightMyRequestResponse> {
  const { token, ...rest } = opts;
  return fx.app.inject({ ...rest, headers: { ...(rest.headers ?? {}), authorization: `Bearer ${token ?? fx.adminToken}` } });
}

function errorOf(res: LightMyRequestResponse): { code: string; message: string } {
  const body = res.json() as { error: { code: string; message: string } };
  assert.equal(typeof body.error?.code, 'string', `not an error body: ${res.body}`);
  return body.error;
}

const apply = (text: string, format?: 'yaml' | 'json') =>
  call({ method: 'POST', url: '/api/policies/apply', payload: format ? { text, format } : { text } });

const policyTest = (payload: Record<string, unknown>) => call({ method: 'POST', url: '/api/policy/test', payload });

describe('apply, list, show, remove', () => {
  test('apply reports created, then unchanged, then updated; the catalog follows', async () => {
    let res = await apply(GUARDRAILS);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { applied: [{ name: 'prod-guardrails', status: 'created' }] });
    assert.deepEqual(fx.deps.policies.current().map((p) => p.name), ['prod-guardrails']);
    assert.deepEqual((await apply(GUARDRAILS)).json(), { applied: [{ name: 'prod-guardrails', status: 'unchanged' }] });
    res = await apply(GUARDRAILS.replace('timeout: 2m', 'timeout: 5m'));
    assert.deepEqual(res.json(), { applied: [{ name: 'prod-guardrails', status: 'updated' }] });
    assert.equal(fx.deps.policies.get('prod-guardrails')?.rules[1].timeoutSeconds, 300);
    assert.equal((await apply(GUARDRAILS)).json().applied[0].status, 'updated');
  });

  test('JSON text, several policies at once', async () => {
    const docs = [{ kind: 'Policy', name: 'json-a', rules: [] }, { kind: 'Policy', name: 'json-b', description: 'b', rules: [] }];
    const res = await apply(JSON.stringify(docs), 'json');
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().applied, [{ name: 'json-a', status: 'created' }, { name: 'json-b', status: 'created' }]);
  });

  test('a bad document is a 400 with the parser message and applies nothing', async () => {
    const text = `kind: Policy\nname: good-one\nrules: []\n---\n${GUARDRAILS.replace('effect: require_approval\n', 'effect: require_approval\n    message: nope\n')}`;
    const res = await apply(text);
    assert.equal(res.statusCode, 400);
    const error = errorOf(res);
    assert.equal(error.code, 'WARDEN_ERR_BAD_REQUEST');
    assert.match(error.message, /policy "prod-guardrails": rules\[1\]\.message: allowed only when effect is deny/);
    assert.equal((await call({ method: 'GET', url: '/api/policies/good-one' })).statusCode, 404);
    assert.equal(fx.deps.policies.get('good-one'), undefined);
  });

  test('malformed requests are 400s, too-large bodies 413', async () => {
    for (const payload of [{}, { text: 'x', extra: 1 }, { text: 'kind: Policy', format: 'toml' }, { text: 42 }]) {
      const res = await call({ method: 'POST', url: '/api/policies/apply', payload });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.equal(errorOf(res).code, 'WARDEN_ERR_BAD_REQUEST');
    }
    for (const text of ['', '{ not yaml', 'kind: Target\nname: x\n']) {
      assert.equal((await apply(text)).statusCode, 400, text);
    }
    const big = await apply(`# ${'x'.repeat(1024 * 1024)}\nkind: Policy\nname: big\nrules: []\n`);
    assert.equal(big.statusCode, 413);
    assert.equal(errorOf(big).code, 'WARDEN_ERR_MESSAGE_TOO_LARGE');
  });

  test('list gives every policy with its times; show gives the re-appliable document', async () => {
    const list = (await call({ method: 'GET', url: '/api/policies' })).json() as any[];
    assert.deepEqual(list.map((e) => e.name), ['json-a', 'json-b', 'prod-guardrails']);
    const entry = list.find((e) => e.name === 'prod-guardrails');
    assert.match(entry.createdAt, /^\d{4}-\d\d-\d\dT/);
    assert.equal(entry.policy.rules.length, 3);
    const doc = (await call({ method: 'GET', url: '/api/policies/prod-guardrails' })).json();
    assert.deepEqual(doc, entry.policy);
    assert.equal(doc.kind, 'Policy');
    assert.deepEqual(doc.rules[1].approvers, { groups: ['dba'], users: [], count: 1 });
    assert.equal(doc.rules[1].timeout, '2m');
    assert.equal(doc.rules[1].timeoutSeconds, undefined, 'computed fields are not part of the document');
    assert.deepEqual((await apply(JSON.stringify(doc), 'json')).json().applied[0].status, 'unchanged');
  });

  test('remove: 204, then 404 WARDEN_ERR_NOT_FOUND', async () => {
    let res = await call({ method: 'DELETE', url: '/api/policies/json-a' });
    assert.equal(res.statusCode, 204);
    assert.equal(fx.deps.policies.get('json-a'), undefined);
    res = await call({ method: 'DELETE', url: '/api/policies/json-a' });
    assert.equal(res.statusCode, 404);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_NOT_FOUND');
    assert.equal(errorOf(await call({ method: 'GET', url: '/api/policies/json-a' })).code, 'WARDEN_ERR_NOT_FOUND');
  });
});

describe('POST /api/policy/test', () => {
  const agent = { user: 'bot', kind: 'agent', groups: ['agents'], target: 'pg-prod' };

  test('the guardrails: writes need approval, destructive is denied, reads are allowed', async () => {
    let res = await policyTest({ ...agent, sql: 'INSERT INTO t VALUES (1)' });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.effect, 'require_approval');
    assert.equal(body.rule, 'prod-guardrails/writes-need-approval');
    assert.deepEqual(body.classes, ['write']);
    assert.deepEqual(body.approval, { groups: ['dba'], users: [], count: 1, timeoutSeconds: 120 });
    assert.deepEqual(body.statements, [{ text: 'INSERT INTO t VALUES (1)', kind: 'InsertStmt', classes: ['write'],
      tables: ['t'], schemas: [], functions: [], unboundedWrite: false }]);

    // DROP is ddl and destructive; with a default deny the ddl class (first) is what decides, so no rule is named.
    res = await policyTest({ ...agent, sql: 'DROP TABLE t' });
    assert.equal(res.json().effect, 'deny');
    assert.deepEqual(res.json().classes, ['ddl', 'destructive']);

    res = await policyTest({ ...agent, sql: 'SELECT 1' });
    assert.deepEqual([res.json().effect, res.json().rule], ['allow', 'prod-guardrails/reads-and-writes']);
  });

  test('outside the agents group a write is allowed; an unparseable statement is unknown and denied', async () => {
    let res = await policyTest({ user: 'alice', target: 'pg-prod', sql: 'UPDATE t SET a = 1 WHERE id = 2' });
    assert.deepEqual([res.json().effect, res.json().rule], ['allow', 'prod-guardrails/reads-and-writes']);
    res = await policyTest({ user: 'alice', target: 'pg-prod', sql: 'SELEC 1' });
    const body = res.json();
    assert.equal(body.effect, 'deny');
    assert.deepEqual(body.classes, ['unknown']);
    assert.equal(typeof body.parseError, 'string');
  });

  test('no rule for the target: the default effect decides', async () => {
    const body = (await policyTest({ user: 'alice', target: 'staging', sql: 'SELECT 1' })).json();
    assert.equal(body.effect, 'deny');
    assert.equal(body.rule, undefined);
    assert.match(body.message, /no policy allows read statements for alice on target "staging"/);
    const open = await createControlFixture({ defaultEffect: 'allow' });
    try {
      const post = (url: string, payload: Record<string, unknown>) =>
        open.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${open.adminToken}` }, payload });
      for (const name of ['staging', 'pg-prod']) await open.store.targets.insert({ ...(await fx.store.targets.get(name))! });
      assert.equal((await post('/api/policies/apply', { text: GUARDRAILS })).statusCode, 200);
      let res = await post('/api/policy/test', { user: 'alice', target: 'staging', sql: 'SELECT 1' });
      assert.deepEqual([res.json().effect, res.json().rule], ['allow', undefined]);
      // Only the destructive class is left for a rule to decide, so the deny names it and says its message.
      res = await post('/api/policy/test', { user: 'alice', target: 'pg-prod', sql: 'DROP TABLE t' });
      assert.deepEqual([res.json().effect, res.json().rule, res.json().message],
        ['deny', 'prod-guardrails/block-destructive', 'destructive statements are blocked on production']);
    } finally {
      await open.close();
    }
  });

  test('an unknown target is 404 WARDEN_ERR_TARGET_NOT_FOUND; bad bodies are 400', async () => {
    const res = await policyTest({ user: 'alice', target: 'nope', sql: 'SELECT 1' });
    assert.equal(res.statusCode, 404);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_TARGET_NOT_FOUND');
    for (const payload of [{ user: 'a', target: 'pg-prod' }, { user: 'a', target: 'pg-prod', sql: '' },
      { user: 'a', target: 'pg-prod', sql: 'SELECT 1', kind: 'robot' }, { user: 'a', target: 'a/b', sql: 'SELECT 1' }]) {
      const bad = await policyTest(payload);
      assert.equal(bad.statusCode, 400, JSON.stringify(payload));
      assert.equal(errorOf(bad).code, 'WARDEN_ERR_BAD_REQUEST');
    }
  });
});

describe('access and description', () => {
  test('every policy route is admin-only', async () => {
    const tokens: TokenService = fx.tokens;
    const user = await tokens.issue({ subject: 'dev', kind: 'user', groups: ['dev'], targets: ['*'], ttlSeconds: 600 });
    const requests: InjectOptions[] = [
      { method: 'POST', url: '/api/policies/apply', payload: { text: GUARDRAILS } },
      { method: 'GET', url: '/api/policies' },
      { method: 'GET', url: '/api/policies/prod-guardrails' },
      { method: 'DELETE', url: '/api/policies/prod-guardrails' },
      { method: 'POST', url: '/api/policy/test', payload: { user: 'a', target: 'pg-prod', sql: 'SELECT 1' } },
    ];
    for (const req of requests) {
      const res = await call({ ...req, token: user.token });
      assert.equal(res.statusCode, 403, `${req.method} ${req.url}`);
      assert.equal(errorOf(res).code, 'WARDEN_ERR_FORBIDDEN');
    }
    assert.ok(fx.deps.policies.get('prod-guardrails'), 'nothing was removed');
  });

  test('the OpenAPI document describes the policy routes', async () => {
    const doc = (await fx.app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as { paths: Record<string, any> };
    assert.ok(doc.paths['/api/policies/apply'].post);
    assert.ok(doc.paths['/api/policies'].get);
    assert.ok(doc.paths['/api/policies/{name}'].get && doc.paths['/api/policies/{name}'].delete);
    const testRoute = doc.paths['/api/policy/test'].post;
    assert.deepEqual(testRoute.tags, ['policies']);
    assert.ok(testRoute.requestBody.content['application/json'].schema.properties.sql);
    assert.ok(testRoute.responses['200'].content['application/json'].schema.properties.statements);
  });
});
