/**
 * HTTP policies end to end through the real analyser and policy evaluation: the examples of docs/http.md ("Policy:
 * classes and match keys") loaded and evaluated; the match keys' restrictive and permissive semantics (paths by
 * segments on the normalised path, query names, jsonBody selectors with nesting, arrays, duplicates and unread
 * bodies); delegation narrowing by class; and `POST /api/policy/test` (what `warden policy test --target
 * billing-api "DELETE /v1/invoices/7"` prints) explaining a decision, with a body.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { testReport } from '../../cli/policies.js';
import { createControlFixture, type ControlFixture } from '../../control/test-fixture.js';
import type { PolicyTestResult } from '../../control/routes/policies.js';
import { evaluate, type EvaluateOptions } from '../../policy/evaluate.js';
import { parsePolicyDocuments } from '../../policy/load.js';
import { ruleFitsProtocol } from '../../policy/match.js';
import type { Policy } from '../../policy/schema.js';
import { subject } from '../../policy/test-fixtures.js';
import type { HttpTarget, Subject } from '../../session/types.js';
import { builtinProtocols } from '../builtin.js';
import type { HttpCommandAttributes } from './definition.js';

const DOC = readFileSync(new URL('../../../docs/http.md', import.meta.url), 'utf8');
const SECTION = DOC.slice(DOC.indexOf('## Policy: classes and match keys'), DOC.indexOf('\n## ', DOC.indexOf('## Policy: classes and match keys') + 3));
const EXAMPLES = [...SECTION.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
const http = builtinProtocols().require('http');
const DENY: EvaluateOptions = { defaultEffect: 'deny' };
const billing: HttpTarget = { name: 'billing-api', type: 'http', url: 'https://billing.internal:8443', caCert: null, auth: 'bearer',
  hostHeader: null, headers: {}, clientCert: null, labels: {} };
const agent = subject({ id: 'bot', kind: 'agent', groups: ['agents'] });
const alice = subject({ id: 'alice', groups: ['finance'] });

function decide(policies: readonly Policy[], who: Subject, text: string, attributes: HttpCommandAttributes = {}) {
  const analysis = http.analyse({ protocol: 'http', kind: 'request', text, attributes: attributes as Record<string, string> }, undefined);
  return evaluate(policies, { subject: who, target: billing, analysis, protocol: http }, DENY);
}

function policy(...rules: object[]): Policy[] {
  return parsePolicyDocuments(JSON.stringify({ kind: 'Policy', name: 'p', rules }), 'json');
}

const ALLOW_ALL = { name: 'all', effect: 'allow' };

describe('the docs/http.md policy examples', () => {
  it('are two policies, loaded as YAML', () => {
    assert.equal(EXAMPLES.length, 2);
    assert.deepEqual(EXAMPLES.flatMap((text) => parsePolicyDocuments(text)).map((p) => [p.name, p.rules.map((r) => r.name)]), [
      ['billing-api', ['no-admin-grants', 'no-internal', 'invoice-deletes', 'agents-read', 'agents-create-invoices']],
      ['search-only', ['search']]]);
  });

  const billingPolicy = parsePolicyDocuments(EXAMPLES[0] ?? '');

  it('agents read /v1 and create invoices with a currency', () => {
    for (const text of ['GET /v1/invoices', 'GET /v1/invoices/7?expand=lines', 'HEAD /v1', 'OPTIONS /v1/customers/', 'GET /v1/./x/../invoices']) {
      assert.deepEqual([decide(billingPolicy, agent, text).effect, decide(billingPolicy, agent, text).rule], ['allow', 'billing-api/agents-read'], text);
    }
    const create = decide(billingPolicy, agent, 'POST /v1/invoices', { body: '{"currency":"EUR","lines":[{"amount":3}]}' });
    assert.deepEqual([create.effect, create.rule], ['allow', 'billing-api/agents-create-invoices']);
    assert.equal(decide(billingPolicy, agent, 'POST /v1/invoices', { body: '{"lines":[]}' }).effect, 'deny', 'no currency');
    assert.equal(decide(billingPolicy, agent, 'POST /v1/invoices', { bodyUnread: 'true' }).effect, 'deny', 'an unread body allows nothing');
    assert.equal(decide(billingPolicy, agent, 'POST /v1/invoices/7/send', { body: '{"currency":"EUR"}' }).effect, 'deny', 'another path');
    assert.equal(decide(billingPolicy, agent, 'PUT /v1/invoices', { body: '{"currency":"EUR"}' }).effect, 'deny', 'another method');
    assert.equal(decide(billingPolicy, agent, 'GET /v2/invoices').effect, 'deny');
    assert.equal(decide(billingPolicy, agent, 'GET /v1/invoices', { upgrade: 'websocket' }).effect, 'deny', 'a WebSocket also writes');
  });

  it('nobody grants the admin role, however the body spells it', () => {
    for (const body of ['{"role":"admin"}', '{"user":{"role":"admin"}}', '{"users":[{"name":"x"},{"role":"admin"}]}', '{"Role":" ADMIN "}',
      '{"role":"admin","role":"user"}', '{"role":"user","role":"admin"}', '{"currency":"EUR","role":["viewer","admin"]}']) {
      for (const who of [agent, alice]) {
        const decision = decide(billingPolicy, who, 'POST /v1/invoices', { body });
        assert.deepEqual([decision.effect, decision.rule, decision.message], ['deny', 'billing-api/no-admin-grants',
          'granting the admin role is not allowed through Warden'], body);
      }
    }
    const unread = decide(billingPolicy, alice, 'PATCH /v1/users/1', { bodyUnread: 'true' });
    assert.deepEqual([unread.effect, unread.rule], ['deny', 'billing-api/no-admin-grants'], 'an unread body may set it');
    const form = decide(billingPolicy, alice, 'PATCH /v1/users/1', { body: 'role=admin' });
    assert.deepEqual([form.effect, form.rule], ['deny', 'billing-api/no-admin-grants'], 'a body that is not JSON may set it');
    // A GET carries no body: the rule is about writes and does not hold.
    assert.equal(decide(billingPolicy, agent, 'GET /v1/users?role=admin').effect, 'allow');
  });

  it('deleting an invoice waits for finance; the internal routes are closed in every spelling', () => {
    const del = decide(billingPolicy, agent, 'DELETE /v1/invoices/7');
    assert.deepEqual([del.effect, del.rule, del.approval?.groups, del.approval?.count], ['require_approval', 'billing-api/invoice-deletes', ['finance'], 1]);
    assert.equal(decide(billingPolicy, agent, 'DELETE /v1/invoices').effect, 'deny', 'the collection is not an invoice');
    assert.equal(decide(billingPolicy, agent, 'DELETE /v1/invoices/7/lines/1').effect, 'deny');
    for (const text of ['GET /internal', 'GET /internal/', 'GET /internal/metrics', 'GET /INTERNAL/metrics', 'GET /%69nternal/x',
      'GET /v1/../internal/x', 'GET //internal//x', 'GET /v1/%2e%2e/internal']) {
      const decision = decide(billingPolicy, alice, text);
      assert.deepEqual([decision.effect, decision.rule], ['deny', 'billing-api/no-internal'], text);
    }
    assert.deepEqual(decide(billingPolicy, alice, 'GET /internal%2Fmetrics').classes, ['unknown'], 'an encoded slash is refused');
  });

  it('search-only: an allow on query names needs every name listed', () => {
    const search = parsePolicyDocuments(EXAMPLES[1] ?? '');
    const bot = subject({ id: 'search-bot', kind: 'agent' });
    assert.equal(decide(search, bot, 'GET /v1/customers?q=acme&page=2').effect, 'allow');
    assert.equal(decide(search, bot, 'GET /v1/customers?q=acme&%6Cimit=5').effect, 'allow', 'names are decoded');
    assert.equal(decide(search, bot, 'GET /v1/customers?q=acme&export=csv').effect, 'deny');
    assert.equal(decide(search, bot, 'GET /v1/customers?q=acme;export=csv').effect, 'deny', 'a ; separator is read too');
    assert.equal(decide(search, bot, 'GET /v1/customers').effect, 'deny', 'no parameter: the rule names some');
    assert.equal(decide(search, bot, 'GET /v1/customers?Q=acme').effect, 'deny', 'an allow matches names as written');
  });
});

describe('http match keys', () => {
  it('methods: case-insensitive globs; unknown methods only by name', () => {
    const p = policy({ name: 'm', match: { methods: ['get', 'PROP*'] }, effect: 'allow' });
    assert.equal(decide(p, alice, 'GET /x').effect, 'allow');
    assert.equal(decide(p, alice, 'PROPFIND /x').effect, 'allow');
    assert.equal(decide(p, alice, 'POST /x').effect, 'deny');
    const byClass = policy({ name: 'reads', match: { classes: ['read'] }, effect: 'allow' });
    assert.deepEqual([decide(byClass, alice, 'PROPFIND /x').effect, decide(byClass, alice, 'PROPFIND /x').classes], ['deny', ['unknown']]);
    const denyDelete = policy({ name: 'no-delete', match: { methods: ['delete'] }, effect: 'deny' }, ALLOW_ALL);
    assert.equal(decide(denyDelete, alice, 'DELETE /x').effect, 'deny');
    assert.equal(decide(denyDelete, alice, 'GET /x').effect, 'allow');
  });

  it('paths: * is one segment, ** any number; allow rules match the forwarded path exactly', () => {
    const p = policy({ name: 'a', match: { paths: ['/v1/invoices/*', '/v1/inv-?/**', '/files/**/meta'] }, effect: 'allow' });
    for (const text of ['GET /v1/invoices/7', 'GET /v1/inv-a', 'GET /v1/inv-b/x/y', 'GET /files/meta', 'GET /files/a/b/meta']) {
      assert.equal(decide(p, alice, text).effect, 'allow', text);
    }
    for (const text of ['GET /v1/invoices', 'GET /v1/invoices/', 'GET /v1/invoices/7/lines', 'GET /V1/invoices/7', 'GET /v1/inv-ab',
      'GET /files/a/meta2', 'GET /v1/invoices/7/', 'GET /v1/invoices%2F7']) {
      assert.equal(decide(p, alice, text).effect, 'deny', text);
    }
    const all = policy({ name: 'a', match: { paths: ['**'] }, effect: 'allow' });
    assert.equal(decide(all, alice, 'GET /').effect, 'allow');
    assert.equal(decide(all, alice, 'GET /a/b/c').effect, 'allow');
  });

  it('paths: a deny also holds for other case, decoded and trailing-slash readings', () => {
    const p = policy({ name: 'no-admin', match: { paths: ['/admin', '/café/**'] }, effect: 'deny' }, ALLOW_ALL);
    for (const text of ['GET /admin', 'GET /Admin/', 'GET /ADMIN', 'GET /%61dmin', 'GET /caf%C3%A9/x', 'GET /CAFÉ', 'GET /admin;jsessionid=1',
      'GET /caf%C3%A9;v=1/x', 'GET /admin%3Bx']) {
      assert.equal(decide(p, alice, text).effect, 'deny', text);
    }
    assert.equal(decide(p, alice, 'GET /admin/x').effect, 'allow');
    assert.equal(decide(p, alice, 'GET /administrator').effect, 'allow');
  });

  it('a rule with only paths fits ssh and http; with methods only http', () => {
    const registry = builtinProtocols();
    const [pathsOnly] = policy({ name: 'x', match: { paths: ['/x'] }, effect: 'allow' })[0].rules;
    const [withMethods] = policy({ name: 'x', match: { paths: ['/x'], methods: ['GET'] }, effect: 'allow' })[0].rules;
    assert.deepEqual([ruleFitsProtocol(pathsOnly, http), ruleFitsProtocol(pathsOnly, registry.require('ssh'))], [true, true]);
    assert.deepEqual([ruleFitsProtocol(withMethods, http), ruleFitsProtocol(withMethods, registry.require('ssh'))], [true, false]);
  });

  it('what frameworks read alike is alike to a deny: HEAD runs GET, debug[] is debug, Go folds ſ and K', () => {
    const noGet = policy({ name: 'no-get', match: { methods: ['GET'], paths: ['/secret'] }, effect: 'deny' }, ALLOW_ALL);
    assert.equal(decide(noGet, alice, 'HEAD /secret').effect, 'deny', 'HEAD runs the GET handler');
    assert.equal(decide(noGet, alice, 'OPTIONS /secret').effect, 'allow');
    const allowGet = policy({ name: 'get', match: { methods: ['GET'] }, effect: 'allow' });
    assert.equal(decide(allowGet, alice, 'HEAD /x').effect, 'deny', 'an allow of GET does not allow HEAD');
    const noDebug = policy({ name: 'no-debug', match: { query: ['debug'] }, effect: 'deny' }, ALLOW_ALL);
    for (const text of ['GET /x?debug[]=1', 'GET /x?debug[a][b]=1', 'GET /x?debug%5B%5D=1']) assert.equal(decide(noDebug, alice, text).effect, 'deny', text);
    assert.equal(decide(noDebug, alice, 'GET /x?[]=1').effect, 'allow');
    const noAdmin = policy({ name: 'no-admin', match: { jsonBody: { is_admin: true } }, effect: 'deny' },
      { name: 'no-k', match: { jsonBody: { kind: 'k' } }, effect: 'deny' }, ALLOW_ALL);
    for (const body of ['{"i\u017f_admin":true}', '{"is_admin":true}', '{"\u212aind":"k"}']) {
      assert.equal(decide(noAdmin, alice, 'POST /users', { body }).effect, 'deny', body);
    }
  });

  it('a WebSocket upgrade is GET and WEBSOCKET: an allow of GET alone never opens one', () => {
    const upgrade: HttpCommandAttributes = { upgrade: 'websocket' };
    const getOnly = policy({ name: 'get', match: { methods: ['GET'], paths: ['/v1/**'] }, effect: 'allow' });
    assert.equal(decide(getOnly, alice, 'GET /v1/ws', upgrade).effect, 'deny');
    assert.equal(decide(getOnly, alice, 'GET /v1/ws').effect, 'allow');
    const ws = policy({ name: 'ws', match: { methods: ['GET', 'WEBSOCKET'], paths: ['/v1/**'] }, effect: 'allow' });
    assert.equal(decide(ws, alice, 'GET /v1/ws', upgrade).effect, 'allow');
    const reads = policy({ name: 'reads', match: { classes: ['read'] }, effect: 'allow' });
    assert.equal(decide(reads, alice, 'GET /v1/ws', upgrade).effect, 'deny', 'an upgrade also writes');
    const noGet = policy({ name: 'no-get', match: { methods: ['GET'] }, effect: 'deny' }, ALLOW_ALL);
    assert.equal(decide(noGet, alice, 'GET /v1/ws', upgrade).effect, 'deny');
  });

  it('query: a deny holds for any parameter name, case-insensitively', () => {
    const p = policy({ name: 'no-debug', match: { query: ['debug*'] }, effect: 'deny' }, ALLOW_ALL);
    for (const text of ['GET /x?debug=1', 'GET /x?a=1&DEBUG', 'GET /x?%64ebug_level=2', 'GET /x?a=1;debug=1']) {
      assert.equal(decide(p, alice, text).effect, 'deny', text);
    }
    assert.equal(decide(p, alice, 'GET /x?a=debug').effect, 'allow', 'a value is not a name');
    assert.equal(decide(p, alice, 'GET /x').effect, 'allow');
    assert.equal(decide(p, alice, 'GET /x?a%zz=1').effect, 'deny', 'an unreadable query is unknown');
  });

  it('jsonBody: selectors, values, arrays, duplicates, presence', () => {
    const deny = (jsonBody: object) => policy({ name: 'd', match: { jsonBody }, effect: 'deny' }, ALLOW_ALL);
    const body = (b: string) => ({ body: b });
    const admin = deny({ role: 'admin' });
    assert.equal(decide(admin, alice, 'POST /u', body('{"role":"admin"}')).effect, 'deny');
    assert.equal(decide(admin, alice, 'POST /u', body('{"user":{"role":"admin"}}')).effect, 'allow', 'role is top-level');
    assert.equal(decide(admin, alice, 'POST /u', body('{"role":"administrator"}')).effect, 'allow');
    assert.equal(decide(admin, alice, 'POST /u', body('[{"role":"admin"}]')).effect, 'deny', 'a top-level array of objects');
    assert.equal(decide(admin, alice, 'POST /u').effect, 'allow', 'no body');
    const nested = deny({ 'user.role': 'admin' });
    assert.equal(decide(nested, alice, 'POST /u', body('{"user":{"role":"admin"}}')).effect, 'deny');
    assert.equal(decide(nested, alice, 'POST /u', body('{"user":[{"role":"x"},{"role":"admin"}]}')).effect, 'deny');
    assert.equal(decide(nested, alice, 'POST /u', body('{"user":{"x":{"role":"admin"}}}')).effect, 'allow');
    const anywhere = deny({ '**.role': 'admin' });
    assert.equal(decide(anywhere, alice, 'POST /u', body('{"a":{"b":[{"c":{"role":"admin"}}]}}')).effect, 'deny');
    assert.equal(decide(anywhere, alice, 'POST /u', body('{"role":"admin"}')).effect, 'deny', '** is also zero keys');
    const star = deny({ '$.items[*].*.flag': true });
    assert.equal(decide(star, alice, 'POST /u', body('{"items":[{"x":{"flag":true}}]}')).effect, 'deny');
    assert.equal(decide(star, alice, 'POST /u', body('{"items":[{"x":{"flag":"TRUE"}}]}')).effect, 'deny', 'a string spelling of true');
    assert.equal(decide(star, alice, 'POST /u', body('{"items":[{"x":{"flag":false}}]}')).effect, 'allow');
    const present = deny({ 'user.password': '*' });
    assert.equal(decide(present, alice, 'POST /u', body('{"user":{"password":null}}')).effect, 'deny');
    assert.equal(decide(present, alice, 'POST /u', body('{"user":{"password":{"hash":"x"}}}')).effect, 'deny');
    assert.equal(decide(present, alice, 'POST /u', body('{"user":{"name":"x"}}')).effect, 'allow');
    const two = deny({ role: 'admin', active: true });
    assert.equal(decide(two, alice, 'POST /u', body('{"role":"admin","active":true}')).effect, 'deny');
    assert.equal(decide(two, alice, 'POST /u', body('{"role":"admin","active":false}')).effect, 'allow', 'every entry must hold');
    const numbers = deny({ amount: 0 });
    assert.equal(decide(numbers, alice, 'POST /u', body('{"amount":0.0}')).effect, 'deny');
    assert.equal(decide(numbers, alice, 'POST /u', body('{"amount":"0"}')).effect, 'deny');
    assert.equal(decide(numbers, alice, 'POST /u', body('{"amount":1}')).effect, 'allow');
  });

  it('jsonBody in an allow: every field the selector may name has exactly the value', () => {
    const p = policy({ name: 'viewers', match: { classes: ['write'], jsonBody: { role: 'viewer' } }, effect: 'allow' });
    const run = (b: string) => decide(p, alice, 'POST /u', { body: b }).effect;
    assert.equal(run('{"role":"viewer","name":"x"}'), 'allow');
    assert.equal(run('{"role":"viewer","role":"admin"}'), 'deny', 'a duplicate with another value');
    assert.equal(run('{"role":"admin","role":"viewer"}'), 'deny', 'JSON.parse would keep viewer; the upstream may read admin');
    assert.equal(run('{"role":"viewer","Role":"admin"}'), 'deny', 'a case-insensitive reader may take Role');
    assert.equal(run('{"role":"Viewer"}'), 'deny', 'values as written');
    assert.equal(run('{"role":["viewer"]}'), 'deny', 'an array is not the value');
    assert.equal(run('{"name":"x"}'), 'deny', 'the field must be there');
    assert.equal(run('not json'), 'deny');
    assert.equal(decide(p, alice, 'POST /u').effect, 'deny', 'no body');
  });

  it('keeps selectors and values in shape when a policy is loaded', () => {
    for (const jsonBody of [{}, { 'a..b': 1 }, { '': 1 }, { 'a[': 1 }, { a: { b: 1 } }, { a: [1] }]) {
      assert.throws(() => policy({ name: 'x', match: { jsonBody }, effect: 'deny' }), JSON.stringify(jsonBody));
    }
    for (const jsonBody of [{ a: 1 }, { '$.a.b': 'x' }, { 'a[*].b[0]': null }, { '**.x': true }, { '*': '*' }]) {
      policy({ name: 'x', match: { jsonBody }, effect: 'deny' });
    }
  });
});

describe('delegation narrows http rules by class', () => {
  const p = policy(
    { name: 'ops-writes', subjects: { groups: ['ops'] }, match: { classes: ['write', 'destructive'] }, effect: 'allow' },
    { name: 'reads', match: { classes: ['read'] }, effect: 'allow' },
    { name: 'agents-approve', subjects: { groups: ['agents'] }, match: { classes: ['destructive'] }, effect: 'require_approval',
      approvers: { groups: ['finance'] } },
  );
  // alice (ops, agents) delegated to a helper that kept only `ops`.
  const helper = subject({ id: 'helper', kind: 'agent', groups: ['ops'], chain: [{ id: 'alice', kind: 'user' }], chainGroups: ['ops', 'agents'] });
  const narrowed = subject({ id: 'reader', kind: 'agent', groups: [], chain: [{ id: 'alice', kind: 'user' }], chainGroups: ['ops'] });

  it('a helper keeps its own allows and the chain\'s approvals', () => {
    assert.equal(decide(p, helper, 'POST /v1/x', { body: '{}' }).effect, 'allow');
    assert.equal(decide(p, helper, 'DELETE /v1/x').effect, 'require_approval', 'the origin\'s group rule still holds it');
  });

  it('a helper narrowed to no group only reads', () => {
    assert.equal(decide(p, narrowed, 'GET /v1/x').effect, 'allow');
    assert.equal(decide(p, narrowed, 'POST /v1/x', { body: '{}' }).effect, 'deny');
    assert.equal(decide(p, narrowed, 'DELETE /v1/x').effect, 'deny');
  });
});

describe('warden policy test explains an http decision', () => {
  let fx: ControlFixture;
  before(async () => {
    fx = await createControlFixture();
    await fx.store.targets.insert({ ...billing, passwordEnc: null, createdAt: '2030-01-01T00:00:00.000Z', updatedAt: '2030-01-01T00:00:00.000Z' });
    const res = await fx.app.inject({ method: 'POST', url: '/api/policies/apply', headers: { authorization: `Bearer ${fx.adminToken}` },
      payload: { text: EXAMPLES[0] } });
    assert.equal(res.statusCode, 200, res.body);
  });
  after(async () => {
    await fx?.close();
  });

  async function test(payload: object): Promise<PolicyTestResult> {
    const res = await fx.app.inject({ method: 'POST', url: '/api/policy/test', headers: { authorization: `Bearer ${fx.adminToken}` },
      payload: { user: 'bot', kind: 'agent', groups: ['agents'], target: 'billing-api', ...payload } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as PolicyTestResult;
  }

  it('DELETE /v1/invoices/7: held for finance, with the request\'s attributes', async () => {
    const body = await test({ command: 'DELETE /v1/invoices/7' });
    assert.deepEqual([body.effect, body.rule, body.protocol, body.classes], ['require_approval', 'billing-api/invoice-deletes', 'http', ['destructive']]);
    const report = testReport(body);
    assert.match(report, /^require_approval {2}\(billing-api\/invoice-deletes\) {2}classes: destructive\n/);
    assert.ok(report.includes('  1. destructive  request  methods=DELETE  paths=/v1/invoices/7  DELETE /v1/invoices/7\n'), report);
  });

  it('a body given with the command is judged', async () => {
    const body = await test({ command: 'POST /v1/invoices', body: '{"currency":"EUR","owner":{"role":"admin"}}' });
    assert.deepEqual([body.effect, body.rule], ['deny', 'billing-api/no-admin-grants']);
    assert.ok(testReport(body).includes('methods=POST  paths=/v1/invoices  body=json  POST /v1/invoices'), testReport(body));
    const allowed = await test({ command: 'POST /v1/invoices', body: '{"currency":"EUR"}' });
    assert.deepEqual([allowed.effect, allowed.rule], ['allow', 'billing-api/agents-create-invoices']);
  });
});
