/**
 * The identity routes of the control API through `app.inject`, on the real fixture (SQLite store, vault, token
 * service, kill switch): service accounts and API keys, the OAuth token endpoint (client credentials as form,
 * JSON and HTTP Basic; RFC 8693 token exchange for delegation; RFC 6749 error shapes; no-store), the delegate route
 * for any valid token (a sub-agent is always an agent under a name of its own), admin-only routes (never for a
 * delegated token), `warden apply` with Policy and IdentityProvider documents (the client secret never shown nor
 * logged), disabling users and killing sessions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { decodeJwt } from 'jose';
import { canView, checkCanDecide, isNamedApprover } from '../approvals/eligibility.js';
import { subjectMatches } from '../policy/match.js';
import { GUARDRAILS_YAML } from '../policy/test-fixtures.js';
import type { ApprovalRequest } from '../store/types.js';
import type { LiveSession, TerminateOptions } from '../session/registry.js';
import type { Subject } from '../session/types.js';
import { ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE } from './routes/oauth.js';
import { createControlFixture, type ControlFixture } from './test-fixture.js';

let fx: ControlFixture;
let userToken: string;
before(async () => {
  fx = await createControlFixture();
  // A person without the admin group.
  userToken = (await fx.tokens.issue({ subject: 'dev1', kind: 'user', groups: ['dev'], targets: ['pg-*'], ttlSeconds: 3600 })).token;
});
after(async () => {
  await fx?.close();
});

/** A request with the admin token unless `token` is given; `token: null` sends none. */
function call(opts: InjectOptions & { token?: string | null }): Promise<LightMyRequestResponse> {
  const { token, ...rest } = opts;
  const auth = token === null ? undefined : token ?? fx.adminToken;
  return fx.app.inject({ ...rest, headers: { ...(rest.headers ?? {}), ...(auth ? { authorization: `Bearer ${auth}` } : {}) } });
}

function errorOf(res: LightMyRequestResponse): { code: string; message: string } {
  const body = res.json() as { error: { code: string; message: string } };
  assert.equal(typeof body.error?.code, 'string', `not an error body: ${res.body}`);
  return body.error;
}

/** `POST /api/oauth/token` with a form body (the OAuth default), optional extra headers. */
function tokenForm(params: Record<string, string>, headers: Record<string, string> = {}) {
  return fx.app.inject({
    method: 'POST', url: '/api/oauth/token', payload: new URLSearchParams(params).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
}

/** Asserts an RFC 6749 section 5.2 error and returns its description. */
function oauthError(res: LightMyRequestResponse, error: string, status = 400): string {
  assert.equal(res.statusCode, status, res.body);
  const body = res.json() as { error: string; error_description: string };
  assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
  assert.equal(body.error, error, res.body);
  assert.equal(typeof body.error_description, 'string');
  assert.equal(res.headers['cache-control'], 'no-store');
  return body.error_description;
}

/** Asserts a successful token response and returns it. */
function tokenResponse(res: LightMyRequestResponse) {
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers.pragma, 'no-cache');
  const body = res.json() as { access_token: string; issued_token_type: string; token_type: string; expires_in: number; act_chain?: string[] };
  assert.equal(body.token_type, 'Bearer');
  assert.equal(body.issued_token_type, ACCESS_TOKEN_TYPE);
  assert.equal(typeof body.access_token, 'string');
  return body;
}

/** A live session in the fixture's registry whose engine callback records its calls. */
function addLive(id: string, subject: Subject) {
  const calls: Array<{ reason: string; options?: TerminateOptions }> = [];
  const live: LiveSession & { ending: boolean } = {
    session: { id, protocol: 'postgres', subject, database: 'app', clientAddress: '127.0.0.1:1', startedAt: Date.now(),
      target: { name: 'pg-main', type: 'postgres', host: 'h', port: 5432, database: 'app', user: 'u', tls: 'disable', ca: null, labels: {} } },
    ending: false,
    async terminate(reason, options) {
      calls.push({ reason, options });
      live.ending = true;
    },
  };
  fx.registry.add(live);
  return calls;
}

describe('service accounts and API keys', () => {
  let key: string;
  let keyId: string;

  test('creating an account and a key; the key appears once and never again', async () => {
    let res = await call({ method: 'POST', url: '/api/service-accounts', payload: { name: 'reporter', kind: 'agent', groups: ['agents'], targets: ['pg-*', 'stage'] } });
    assert.equal(res.statusCode, 201, res.body);
    const created = res.json() as Record<string, unknown>;
    assert.equal(typeof created.createdAt, 'string');
    assert.equal(created.updatedAt, created.createdAt);
    assert.deepEqual({ ...created, createdAt: undefined, updatedAt: undefined }, {
      name: 'reporter', kind: 'agent', description: null, groups: ['agents'], targets: ['pg-*', 'stage'], disabledAt: null,
      createdAt: undefined, updatedAt: undefined,
    });
    res = await call({ method: 'POST', url: '/api/service-accounts', payload: { name: 'reporter' } });
    assert.equal(res.statusCode, 409);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_CONFLICT');

    res = await call({ method: 'POST', url: '/api/service-accounts/reporter/keys', payload: {} });
    assert.equal(res.statusCode, 201, res.body);
    ({ key, id: keyId } = res.json() as { key: string; id: string });
    assert.match(key, /^wk_[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(res.json().expiresAt, null);
    const secret = key.split('.')[1];

    res = await call({ method: 'GET', url: '/api/service-accounts/reporter' });
    assert.equal(res.statusCode, 200);
    const shown = res.json() as { keys: Array<Record<string, unknown>> };
    assert.deepEqual(shown.keys.map((k) => k.id), [keyId]);
    assert.equal('secretHash' in shown.keys[0], false);
    const stored = await fx.store.serviceAccounts.getKey(keyId);
    for (const text of [res.body, (await call({ method: 'GET', url: '/api/service-accounts' })).body, fx.logText()]) {
      assert.ok(!text.includes(secret), 'the key secret leaked');
      assert.ok(!text.includes(stored!.secretHash), 'the key hash leaked');
    }
  });

  test('a key with a lifetime, and errors for unknown accounts and bad input', async () => {
    let res = await call({ method: 'POST', url: '/api/service-accounts/reporter/keys', payload: { ttl: '90d' } });
    assert.equal(res.statusCode, 201);
    const expires = Date.parse(res.json().expiresAt);
    assert.ok(Math.abs(expires - (Date.now() + 90 * 86_400_000)) < 60_000);
    res = await call({ method: 'POST', url: '/api/service-accounts/ghost/keys', payload: {} });
    assert.equal(res.statusCode, 404);
    assert.equal((await call({ method: 'GET', url: '/api/service-accounts/ghost' })).statusCode, 404);
    res = await call({ method: 'POST', url: '/api/service-accounts', payload: { name: '-bad name' } });
    assert.equal(res.statusCode, 400);
    res = await call({ method: 'POST', url: '/api/service-accounts', payload: { name: 'x', kind: 'user' } });
    assert.equal(res.statusCode, 400);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_BAD_REQUEST');
    res = await call({ method: 'POST', url: '/api/service-accounts/reporter/keys', payload: { ttl: 'forever' } });
    assert.equal(res.statusCode, 400);
  });

  test('client credentials as a form: a token for the account, no-store', async () => {
    const body = tokenResponse(await tokenForm({ grant_type: 'client_credentials', client_id: 'reporter', client_secret: key }));
    assert.ok(body.expires_in > 890 && body.expires_in <= 900, String(body.expires_in));
    assert.equal(body.act_chain, undefined);
    const subject = await fx.tokens.verify(body.access_token);
    assert.equal(subject.id, 'reporter');
    assert.equal(subject.kind, 'agent');
    assert.deepEqual(subject.groups, ['agents']);
    assert.deepEqual(subject.targets, ['pg-*', 'stage']);
    assert.notEqual((await fx.store.serviceAccounts.getKey(keyId))?.lastUsedAt, null);
    assert.ok(!fx.logText().includes(body.access_token.split('.')[2]), 'the token reached the log');
  });

  test('client credentials as JSON with a narrowing scope and a lifetime', async () => {
    const res = await fx.app.inject({
      method: 'POST', url: '/api/oauth/token',
      payload: { grant_type: 'client_credentials', client_secret: key, scope: 'target:pg-main', expires_in: '120' },
    });
    const body = tokenResponse(res);
    assert.ok(body.expires_in > 110 && body.expires_in <= 120);
    assert.deepEqual((await fx.tokens.verify(body.access_token)).targets, ['pg-main']);
  });

  test('client credentials with HTTP Basic client authentication', async () => {
    const basic = Buffer.from(`reporter:${key}`).toString('base64');
    const body = tokenResponse(await tokenForm({ grant_type: 'client_credentials' }, { authorization: `Basic ${basic}` }));
    assert.equal((await fx.tokens.verify(body.access_token)).id, 'reporter');
    // Basic names the account: another client id with the right key fails client authentication (RFC 6749 5.2).
    const wrong = Buffer.from(`someone-else:${key}`).toString('base64');
    assert.equal(oauthError(await tokenForm({ grant_type: 'client_credentials' }, { authorization: `Basic ${wrong}` }), 'invalid_client', 401),
      'invalid, expired or revoked API key');
  });

  test('bad keys are invalid_client (401) with one description that names nothing', async () => {
    const [idPart, secret] = key.split('.');
    const cases = [
      `${idPart}.${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`, `wk_${'Q'.repeat(16)}.${secret}`, 'wk_nope', 'garbage',
    ];
    for (const k of cases) {
      const description = oauthError(await tokenForm({ grant_type: 'client_credentials', client_secret: k }), 'invalid_client', 401);
      assert.equal(description, 'invalid, expired or revoked API key');
    }
    assert.equal(
      oauthError(await tokenForm({ grant_type: 'client_credentials', client_id: 'etl', client_secret: key }), 'invalid_client', 401),
      'invalid, expired or revoked API key');
    assert.ok(!fx.logText().includes(secret.slice(1)), 'a key secret reached the log');
  });

  test('a missing secret is invalid_client (401); scope and lifetime errors have their codes', async () => {
    oauthError(await tokenForm({ grant_type: 'client_credentials', client_id: 'reporter' }), 'invalid_client', 401);
    oauthError(await tokenForm({ grant_type: 'client_credentials', client_secret: key, scope: 'target:mysql' }), 'invalid_scope');
    oauthError(await tokenForm({ grant_type: 'client_credentials', client_secret: key, scope: 'admin' }), 'invalid_scope');
    oauthError(await tokenForm({ grant_type: 'client_credentials', client_secret: key, scope: 'target:' }), 'invalid_scope');
    oauthError(await tokenForm({ grant_type: 'client_credentials', client_secret: key, expires_in: '7200' }), 'invalid_request');
    oauthError(await tokenForm({ grant_type: 'client_credentials', client_secret: key, expires_in: 'soon' }), 'invalid_request');
    oauthError(await tokenForm({ grant_type: 'client_credentials', client_secret: key, expires_in: '0' }), 'invalid_request');
    oauthError(await tokenForm({ grant_type: 'client_credentials', client_secret: key, ttl: 'x' }), 'invalid_request');
  });

  test('malformed percent-encoding in HTTP Basic credentials is invalid_client (401), not a server error', async () => {
    for (const pair of ['reporter:%zz', '%E0%A4%A:secret', `reporter:${key}%`]) {
      const basic = Buffer.from(pair).toString('base64');
      assert.equal(oauthError(await tokenForm({ grant_type: 'client_credentials' }, { authorization: `Basic ${basic}` }), 'invalid_client', 401),
        'malformed HTTP Basic credentials');
    }
  });

  test('unsupported or missing grant types', async () => {
    oauthError(await tokenForm({ grant_type: 'password', username: 'a', password: 'b' }), 'unsupported_grant_type');
    oauthError(await tokenForm({ grant_type: 'authorization_code', code: 'x' }), 'unsupported_grant_type');
    oauthError(await tokenForm({ grant_type: '' }), 'unsupported_grant_type');
    assert.match(oauthError(await tokenForm({}), 'invalid_request'), /grant_type is required/);
    assert.match(oauthError(await tokenForm({ client_secret: key }), 'invalid_request'), /grant_type is required/);
  });

  test('revoking a key through the API stops the exchange', async () => {
    const created = (await call({ method: 'POST', url: '/api/service-accounts/reporter/keys', payload: {} })).json() as { key: string; id: string };
    tokenResponse(await tokenForm({ grant_type: 'client_credentials', client_secret: created.key }));
    const res = await call({ method: 'POST', url: `/api/api-keys/${created.id}/revoke` });
    assert.equal(res.statusCode, 200, res.body);
    assert.notEqual(res.json().revokedAt, null);
    assert.equal('secretHash' in res.json(), false);
    assert.equal(oauthError(await tokenForm({ grant_type: 'client_credentials', client_secret: created.key }), 'invalid_client', 401),
      'invalid, expired or revoked API key');
    assert.equal((await call({ method: 'POST', url: '/api/api-keys/key_none/revoke' })).statusCode, 404);
  });

  test('disabling an account through the API refuses its key and its tokens, and ends its live sessions', async () => {
    const issued = tokenResponse(await tokenForm({ grant_type: 'client_credentials', client_secret: key }));
    const subject = await fx.tokens.verify(issued.access_token);
    const calls = addLive('sess-sa-1', subject);
    let res = await call({ method: 'POST', url: '/api/service-accounts/reporter/disable', payload: {} });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().sessionsEnded, ['sess-sa-1']);
    assert.notEqual(res.json().account.disabledAt, null);
    assert.equal(calls[0].reason, 'service account "reporter" was disabled');
    assert.match(oauthError(await tokenForm({ grant_type: 'client_credentials', client_secret: key }), 'invalid_grant'), /disabled/);
    res = await call({ method: 'POST', url: '/api/tokens/delegate', payload: { to: 'x' }, token: issued.access_token });
    assert.equal(res.statusCode, 401);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_PRINCIPAL_DISABLED');
    res = await call({ method: 'POST', url: '/api/service-accounts/reporter/enable', payload: {} });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().account.disabledAt, null);
    assert.deepEqual(res.json().sessionsEnded, []);
    tokenResponse(await tokenForm({ grant_type: 'client_credentials', client_secret: key }));
    assert.equal((await call({ method: 'POST', url: '/api/service-accounts/ghost/disable', payload: {} })).statusCode, 404);
  });
});

describe('token exchange (RFC 8693 delegation)', () => {
  const exchange = (subjectToken: string, extra: Record<string, string> = {}) => tokenForm({
    grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, ...extra,
  });

  test('delegates to an actor with a narrowing scope; the chain is in act and act_chain', async () => {
    const body = tokenResponse(await exchange(userToken, { actor: 'sql-bot', scope: 'target:pg-main class:read', expires_in: '300' }));
    assert.deepEqual(body.act_chain, ['dev1']);
    assert.ok(body.expires_in > 290 && body.expires_in <= 300);
    const claims = decodeJwt(body.access_token);
    assert.equal(claims.sub, 'dev1');
    assert.deepEqual(claims.act, { sub: 'sql-bot', kind: 'agent' });
    const subject = await fx.tokens.verify(body.access_token);
    assert.deepEqual({ ...subject, tokenId: undefined, expiresAt: undefined }, {
      id: 'sql-bot', kind: 'agent', groups: ['dev'], chain: [{ id: 'dev1', kind: 'user' }], tokenId: undefined,
      targets: ['pg-main'], expiresAt: undefined, classes: ['read'], chainGroups: ['dev'],
    });

    // A second hop from the delegated token, with the jwt token type. The old actor_kind parameter is an
    // unrecognized one now, ignored as RFC 6749 section 3.2 asks: the sub-agent is an agent all the same.
    const second = tokenResponse(await tokenForm({
      grant_type: TOKEN_EXCHANGE, subject_token: body.access_token, subject_token_type: JWT_TOKEN_TYPE, actor: 'helper', actor_kind: 'service',
    }));
    assert.deepEqual(second.act_chain, ['dev1', 'sql-bot']);
    const s2 = await fx.tokens.verify(second.access_token);
    assert.equal(s2.kind, 'agent');
    assert.deepEqual(s2.chain, [{ id: 'dev1', kind: 'user' }, { id: 'sql-bot', kind: 'agent' }]);
    assert.deepEqual(decodeJwt(second.access_token).act, { sub: 'helper', kind: 'agent', act: { sub: 'sql-bot', kind: 'agent' } });
    assert.deepEqual(s2.classes, ['read']);
    const third = tokenResponse(await exchange(userToken, { actor: 'would-be-person', actor_kind: 'user' }));
    assert.equal((await fx.tokens.verify(third.access_token)).kind, 'agent');
  });

  test('another principal cannot take a sub-agent\'s name through token exchange (issue 9 item 8)', async () => {
    tokenResponse(await exchange(userToken, { actor: 'alices-helper' }));
    const mallory = (await fx.tokens.issue({ subject: 'mallory', kind: 'user', groups: ['dev'], ttlSeconds: 600 })).token;
    const res = await exchange(mallory, { actor: 'alices-helper' });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'invalid_scope');
    assert.match(res.json().error_description, /already used by another principal's delegation/);
    assert.equal((await fx.store.tokens.bySubject('alices-helper')).length, 1, 'nothing was issued to mallory');
  });

  test('widening is invalid_scope', async () => {
    const narrow = tokenResponse(await exchange(userToken, { actor: 'narrow-bot', scope: 'target:pg-main class:read' }));
    for (const scope of ['target:pg-other', 'target:*', 'class:write', 'group:warden-admins']) {
      oauthError(await exchange(narrow.access_token, { actor: 'wider', scope }), 'invalid_scope');
    }
    oauthError(await exchange(userToken, { actor: 'wider', scope: 'target:*' }), 'invalid_scope');
    oauthError(await exchange(narrow.access_token, { actor: 'longer', expires_in: '100000' }), 'invalid_scope');
  });

  test('bad requests: missing pieces, wrong types, bad subject tokens', async () => {
    oauthError(await tokenForm({ grant_type: TOKEN_EXCHANGE, subject_token_type: ACCESS_TOKEN_TYPE, actor: 'a' }), 'invalid_request');
    oauthError(await exchange(userToken), 'invalid_request'); // no actor
    oauthError(await tokenForm({ grant_type: TOKEN_EXCHANGE, subject_token: userToken, subject_token_type: 'urn:x', actor: 'a' }), 'invalid_request');
    oauthError(await exchange(userToken, { actor: 'dev1' }), 'invalid_request'); // already in the chain
    const hop = tokenResponse(await exchange(userToken, { actor: 'loop-bot' }));
    assert.match(oauthError(await exchange(hop.access_token, { actor: 'loop-bot' }), 'invalid_request'), /already in the delegation chain/);
    oauthError(await exchange(userToken, { actor: 'a', scope: 'class:select' }), 'invalid_request'); // unknown class
    oauthError(await exchange(userToken, { actor: 'a', scope: 'color:red' }), 'invalid_scope');
    oauthError(await exchange('not.a.token', { actor: 'a' }), 'invalid_grant');
    const [h, p, s] = userToken.split('.');
    // Flip the signature's first character: its last two can already be "AA" (an Ed25519 S is below 2^253), and a
    // final character's spare bits need not change the bytes at all.
    oauthError(await exchange(`${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`, { actor: 'a' }), 'invalid_grant');
  });

  test('an actor named like a user, a service account or a token holder is invalid_scope, and nothing is issued', async () => {
    const at = new Date().toISOString();
    await fx.store.users.setDisabled('xchg-person', null, at);
    await fx.tokens.issue({ subject: 'xchg-holder', kind: 'agent', ttlSeconds: 600 });
    for (const actor of ['xchg-person', 'reporter', 'root', 'xchg-holder']) {
      const before = (await fx.store.tokens.list()).length;
      assert.equal(oauthError(await exchange(userToken, { actor }), 'invalid_scope'),
        `"${actor}" is the name of a user, service account or token holder; a sub-agent needs a name of its own`);
      assert.equal((await fx.store.tokens.list()).length, before, actor);
    }
  });

  test('a revoked subject token is invalid_grant', async () => {
    const own = await fx.tokens.issue({ subject: 'soon-revoked', ttlSeconds: 600 });
    await fx.tokens.revoke(own.id);
    assert.match(oauthError(await exchange(own.token, { actor: 'a' }), 'invalid_grant'), /revoked/);
  });
});

describe('POST /api/tokens/delegate', () => {
  test('any valid token may delegate, and the result is narrower', async () => {
    const res = await call({
      method: 'POST', url: '/api/tokens/delegate', token: userToken,
      payload: { to: 'report-bot', targets: ['pg-main'], classes: ['read'], ttl: '10m' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json();
    assert.equal(body.user, 'report-bot');
    assert.equal(body.kind, 'agent');
    assert.deepEqual(body.groups, ['dev']);
    assert.deepEqual(body.targets, ['pg-main']);
    assert.deepEqual(body.chain, [{ id: 'dev1', kind: 'user' }]);
    assert.deepEqual(body.classes, ['read']);
    const expires = Date.parse(body.expiresAt);
    assert.ok(Math.abs(expires - (Date.now() + 600_000)) < 5_000);
    const subject = await fx.tokens.verify(body.token);
    assert.equal(subject.id, 'report-bot');
    assert.deepEqual(subject.chain, [{ id: 'dev1', kind: 'user' }]);
    assert.equal((await fx.store.tokens.get(body.id))?.parentId, (await fx.tokens.verify(userToken)).tokenId);
    assert.ok(!fx.logText().includes(body.token.split('.')[2]), 'the delegated token reached the log');

    // ...and from that token, one more link, again an agent.
    const again = await call({ method: 'POST', url: '/api/tokens/delegate', token: body.token, payload: { to: 'sub-bot' } });
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.json().kind, 'agent');
    assert.deepEqual(again.json().chain, [{ id: 'dev1', kind: 'user' }, { id: 'report-bot', kind: 'agent' }]);
    assert.deepEqual(again.json().classes, ['read']);
  });

  test('widening is 403, bad input 400, no token 401', async () => {
    for (const payload of [{ to: 'x', targets: ['*'] }, { to: 'x', groups: ['warden-admins'] }, { to: 'x', ttl: '2h' }]) {
      const res = await call({ method: 'POST', url: '/api/tokens/delegate', token: userToken, payload });
      assert.equal(res.statusCode, 403, JSON.stringify(payload));
      assert.equal(errorOf(res).code, 'WARDEN_ERR_FORBIDDEN');
    }
    // `kind` is no field of the body any more: a sub-agent is always an agent.
    for (const payload of [{ to: 'x', classes: ['select'] }, { to: 'dev1' }, { to: 'x', extra: 1 }, {}, { to: 'x', ttl: 'soon' },
      { to: 'x', kind: 'agent' }, { to: 'x', kind: 'user' }, { to: 'x', kind: 'service' }]) {
      const res = await call({ method: 'POST', url: '/api/tokens/delegate', token: userToken, payload });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.equal(errorOf(res).code, 'WARDEN_ERR_BAD_REQUEST');
    }
    assert.equal((await call({ method: 'POST', url: '/api/tokens/delegate', token: null, payload: { to: 'x' } })).statusCode, 401);
    assert.equal((await fx.store.tokens.list()).some((t) => t.subject === 'x'), false, 'a refused delegation issued a token');
  });

  test('a sub-agent name of a user, a service account or a token holder is 403', async () => {
    const at = new Date().toISOString();
    await fx.store.users.setDisabled('route-person', null, at);
    for (const to of ['route-person', 'reporter', 'root']) {
      const res = await call({ method: 'POST', url: '/api/tokens/delegate', token: userToken, payload: { to } });
      assert.equal(res.statusCode, 403, `${to}: ${res.body}`);
      assert.deepEqual(errorOf(res), { code: 'WARDEN_ERR_FORBIDDEN',
        message: `"${to}" is the name of a user, service account or token holder; a sub-agent needs a name of its own` });
      assert.equal((await fx.store.tokens.list()).some((t) => t.subject === to && t.chain.length > 0), false, to);
    }
  });

  test('revoking the parent through the API revokes the delegated token and ends its live session', async () => {
    const parent = await fx.tokens.issue({ subject: 'mid', kind: 'user', groups: ['dev'], ttlSeconds: 600 });
    const child = (await call({ method: 'POST', url: '/api/tokens/delegate', token: parent.token, payload: { to: 'leaf' } })).json();
    const calls = addLive('sess-leaf', await fx.tokens.verify(child.token));
    const res = await call({ method: 'POST', url: '/api/tokens/revoke', payload: { id: parent.id } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().revokedIds, [parent.id, child.id]);
    assert.deepEqual(res.json().sessionsEnded, ['sess-leaf']);
    assert.equal(calls.length, 1);
    assert.ok(fx.recorded.some((e) => e.session === 'sess-leaf' && e.type === 'session.terminated' && e.data.by === 'root'));
    assert.equal((await call({ method: 'POST', url: '/api/tokens/delegate', token: child.token, payload: { to: 'z' } })).statusCode, 401);
  });
});

describe('delegated names', () => {
  const request = (users: string[]) => ({
    id: 'apr_x', kind: 'statement', status: 'pending', requester: 'bob', requesterKind: 'user', requesterGroups: [], chain: [],
    sessionId: 's', target: 'pg-main', statement: 'DELETE FROM t', classes: ['destructive'], reason: null, rule: 'p/r',
    approvers: { groups: [], users, count: 1 }, timeoutSeconds: 60, accessSeconds: null,
    createdAt: '2030-01-01T00:00:00.000Z', expiresAt: '2030-01-01T00:01:00.000Z', decidedAt: null, decisions: [],
  } as unknown as ApprovalRequest);

  test('a delegated token cannot pass for another person in policies or approvals', async () => {
    // Asking for a person's kind is refused outright...
    let res = await call({ method: 'POST', url: '/api/tokens/delegate', token: userToken, payload: { to: 'alice', kind: 'user' } });
    assert.equal(res.statusCode, 400, res.body);
    // ...and a sub-agent named like a person who has not signed in yet is an agent, which matches no rule or
    // approver list for the user of that name.
    res = await call({ method: 'POST', url: '/api/tokens/delegate', token: userToken, payload: { to: 'alice' } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().kind, 'agent');
    const fake = await fx.tokens.verify(res.json().token);
    assert.equal(fake.kind, 'agent');
    assert.equal(subjectMatches({ users: ['alice'] }, fake), false, 'a rule for the user alice applies to dev1\'s sub-agent');
    const forAlice = request(['alice']);
    assert.equal(isNamedApprover(forAlice, fake), false);
    assert.equal(canView(forAlice, fake), false, 'dev1\'s sub-agent named alice sees a request for alice');
    assert.throws(() => checkCanDecide(forAlice, fake, 'approve'), /approval needs a person/);
    assert.throws(() => checkCanDecide(forAlice, fake, 'deny'), /denial of this request needs one of the users alice/);

    // The name is the sub-agent's now: nobody gets a token of their own under it (issue 9 item 8).
    await assert.rejects(fx.tokens.issue({ subject: 'alice', kind: 'user', ttlSeconds: 600 }), /name of a sub-agent/);
    // Once a person holds a token of her own, the name is hers: no sub-agent may take it.
    const ann = await fx.tokens.issue({ subject: 'ann', kind: 'user', ttlSeconds: 600 });
    res = await call({ method: 'POST', url: '/api/tokens/delegate', token: userToken, payload: { to: 'ann' } });
    assert.equal(res.statusCode, 403, res.body);
    assert.match(errorOf(res).message, /a sub-agent needs a name of its own/);
    // Control: ann herself is a named approver and may deny.
    const forAnn = request(['ann']);
    const real = await fx.tokens.verify(ann.token);
    assert.equal(isNamedApprover(forAnn, real), true);
    checkCanDecide(forAnn, real, 'deny');
  });

  test('only a person acting for themself counts as a named approver', async () => {
    const forCarol = request(['carol']);
    const carol = await fx.tokens.verify((await fx.tokens.issue({ subject: 'carol', kind: 'user', ttlSeconds: 600 })).token);
    assert.equal(isNamedApprover(forCarol, carol), true);
    checkCanDecide(forCarol, carol, 'approve');
    // A root token of another kind under the same name is not the person.
    for (const kind of ['service', 'agent'] as const) {
      const namesake = await fx.tokens.verify((await fx.tokens.issue({ subject: 'carol', kind, ttlSeconds: 600 })).token);
      assert.equal(isNamedApprover(forCarol, namesake), false, kind);
    }
    // A token with a chain is not the person either, even with kind user (as older tokens could carry).
    assert.equal(isNamedApprover(forCarol, { ...carol, chain: [{ id: 'dev1', kind: 'user' }] }), false);
    // Groups still count through a chain.
    const viaGroup = { ...forCarol, approvers: { groups: ['dev'], users: [], count: 1 } } as ApprovalRequest;
    const sub = await fx.tokens.verify((await call({ method: 'POST', url: '/api/tokens/delegate', token: userToken, payload: { to: 'grp-bot' } })).json().token);
    assert.equal(isNamedApprover(viaGroup, sub), true);
  });
});

describe('admin-only routes', () => {
  test('refuse a non-admin token with 403 and no token with 401', async () => {
    const routes: InjectOptions[] = [
      { method: 'GET', url: '/api/users' },
      { method: 'POST', url: '/api/users/dev1/disable', payload: {} },
      { method: 'POST', url: '/api/users/dev1/enable', payload: {} },
      { method: 'GET', url: '/api/service-accounts' },
      { method: 'POST', url: '/api/service-accounts', payload: { name: 'sneaky' } },
      { method: 'GET', url: '/api/service-accounts/reporter' },
      { method: 'POST', url: '/api/service-accounts/reporter/keys', payload: {} },
      { method: 'POST', url: '/api/service-accounts/reporter/disable', payload: {} },
      { method: 'POST', url: '/api/api-keys/key_x/revoke' },
      { method: 'POST', url: '/api/sessions/sess-x/kill', payload: {} },
      { method: 'POST', url: '/api/apply', payload: { text: GUARDRAILS_YAML } },
      { method: 'GET', url: '/api/identity-providers' },
      { method: 'GET', url: '/api/identity-providers/corp' },
      { method: 'DELETE', url: '/api/identity-providers/corp' },
      { method: 'POST', url: '/api/tokens', payload: { user: 'x' } },
    ];
    for (const route of routes) {
      const res = await call({ ...route, token: userToken });
      assert.equal(res.statusCode, 403, `${route.method} ${route.url}: ${res.body}`);
      assert.equal(errorOf(res).code, 'WARDEN_ERR_FORBIDDEN');
      assert.equal((await call({ ...route, token: null })).statusCode, 401, `${route.method} ${route.url}`);
    }
    assert.equal(await fx.store.serviceAccounts.get('sneaky'), undefined);
    assert.equal((await fx.store.users.get('dev1'))?.disabledAt ?? null, null);
  });

  test('a delegated sub-agent does not inherit admin rights over the control API', async () => {
    const created = await call({ method: 'POST', url: '/api/tokens/delegate', payload: { to: 'narrow-admin-bot', targets: ['pg-main'], classes: ['read'] } });
    assert.equal(created.statusCode, 201, created.body);
    const sub = created.json();
    // It keeps the admin group (delegation narrows only what it is asked to), so the refusal is for the chain.
    assert.ok(sub.groups.includes('warden-admins'));
    const before = (await fx.store.tokens.list()).length;
    const routes: InjectOptions[] = [
      { method: 'POST', url: '/api/tokens', payload: { user: 'anyone', targets: ['*'], ttl: '1h' } },
      { method: 'GET', url: '/api/users' },
      { method: 'POST', url: '/api/service-accounts', payload: { name: 'sneaky-bot' } },
      { method: 'POST', url: '/api/users/dev1/disable', payload: {} },
    ];
    for (const route of routes) {
      const res = await call({ ...route, token: sub.token });
      assert.equal(res.statusCode, 403, `${route.method} ${route.url}: ${res.body}`);
      assert.deepEqual(errorOf(res), { code: 'WARDEN_ERR_FORBIDDEN', message: 'a delegated token cannot administer Warden' });
    }
    assert.equal((await fx.store.tokens.list()).length, before, 'a token was issued');
    assert.equal(await fx.store.serviceAccounts.get('sneaky-bot'), undefined);
    assert.equal((await fx.store.users.get('dev1'))?.disabledAt ?? null, null);
    // Control: the admin's own token passes, and the sub-agent may still delegate further (narrower).
    assert.equal((await call({ method: 'GET', url: '/api/users' })).statusCode, 200);
    assert.equal((await call({ method: 'POST', url: '/api/tokens/delegate', token: sub.token, payload: { to: 'narrower-bot' } })).statusCode, 201);
  });
});

describe('POST /api/apply with Policy and IdentityProvider documents', () => {
  const SECRET = 'oidc-client-secret-7f3a9c1e';
  const idp = (extra = '') => `kind: IdentityProvider
name: corp
type: oidc
issuer: https://idp.example.com
clientId: warden
groupMap:
  engineering: [dev]
${extra}`;

  test('applies both kinds, keeps the client secret in the vault and shows it nowhere', async () => {
    const res = await call({ method: 'POST', url: '/api/apply', payload: { text: `${GUARDRAILS_YAML}---\n${idp(`clientSecret: ${SECRET}\n`)}` } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { applied: [
      { kind: 'Policy', name: 'prod-guardrails', status: 'created' },
      { kind: 'IdentityProvider', name: 'corp', status: 'created' },
    ] });
    assert.deepEqual(fx.deps.policies.current().map((p) => p.name), ['prod-guardrails']);

    const shown = await call({ method: 'GET', url: '/api/identity-providers/corp' });
    assert.equal(shown.statusCode, 200);
    const body = shown.json();
    assert.equal(body.hasClientSecret, true);
    assert.equal(body.type, 'oidc');
    assert.equal(body.document.clientId, 'warden');
    assert.equal('clientSecret' in body.document, false);
    const list = await call({ method: 'GET', url: '/api/identity-providers' });
    assert.deepEqual(list.json().map((p: { name: string }) => p.name), ['corp']);
    for (const text of [res.body, shown.body, list.body, fx.logText(), JSON.stringify(await fx.store.identityProviders.get('corp'))]) {
      assert.ok(!text.includes(SECRET), 'the client secret leaked');
    }
    assert.equal((await fx.deps.signIn.load('corp')).clientSecret, SECRET);
  });

  test('a second apply without clientSecret keeps it; with one replaces it', async () => {
    const before = await fx.store.identityProviders.get('corp');
    let res = await call({ method: 'POST', url: '/api/apply', payload: { text: idp('usernameClaim: preferred_username\n') } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().applied, [{ kind: 'IdentityProvider', name: 'corp', status: 'updated' }]);
    const after = await fx.store.identityProviders.get('corp');
    assert.equal(after?.createdAt, before?.createdAt);
    assert.equal(after?.document.usernameClaim, 'preferred_username');
    assert.equal((await call({ method: 'GET', url: '/api/identity-providers/corp' })).json().hasClientSecret, true);
    assert.equal((await fx.deps.signIn.load('corp')).clientSecret, SECRET);

    res = await call({ method: 'POST', url: '/api/apply', payload: { text: idp('clientSecret: another-secret-value\n') } });
    assert.equal(res.statusCode, 200);
    assert.equal((await fx.deps.signIn.load('corp')).clientSecret, 'another-secret-value');
  });

  test('JSON documents apply too', async () => {
    const docs = [{ kind: 'IdentityProvider', name: 'json-idp', type: 'oidc', issuer: 'http://127.0.0.1:9999', clientId: 'c' }];
    const res = await call({ method: 'POST', url: '/api/apply', payload: { text: JSON.stringify(docs), format: 'json' } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().applied, [{ kind: 'IdentityProvider', name: 'json-idp', status: 'created' }]);
    assert.equal((await call({ method: 'GET', url: '/api/identity-providers/json-idp' })).json().hasClientSecret, false);
  });

  test('a bad document applies nothing', async () => {
    const cases = [
      `kind: Policy\nname: would-be-new\nrules: []\n---\n${idp().replace('name: corp', 'name: bad-idp').replace('https://idp.example.com', 'http://idp.example.com')}`,
      `kind: Policy\nname: would-be-new\nrules: []\n---\n${idp().replace('name: corp', 'name: bad-idp')}unknownField: 1\n`,
      `kind: Policy\nname: would-be-new\nrules: []\n---\nkind: Widget\nname: bad-idp\n`,
      `${idp().replace('name: corp', 'name: bad-idp')}---\n${idp().replace('name: corp', 'name: bad-idp')}`,
    ];
    for (const text of cases) {
      const res = await call({ method: 'POST', url: '/api/apply', payload: { text } });
      assert.equal(res.statusCode, 400, text);
      assert.equal(errorOf(res).code, 'WARDEN_ERR_BAD_REQUEST');
      assert.equal(await fx.store.policies.get('would-be-new'), undefined);
      assert.equal(await fx.store.identityProviders.get('bad-idp'), undefined);
      assert.equal((await call({ method: 'GET', url: '/api/identity-providers/bad-idp' })).statusCode, 404);
    }
    assert.equal(fx.deps.policies.get('would-be-new'), undefined);
  });

  test('removing a provider', async () => {
    assert.equal((await call({ method: 'DELETE', url: '/api/identity-providers/json-idp' })).statusCode, 204);
    assert.equal((await call({ method: 'DELETE', url: '/api/identity-providers/json-idp' })).statusCode, 404);
    assert.equal((await call({ method: 'GET', url: '/api/identity-providers/json-idp' })).statusCode, 404);
  });
});

describe('users and sessions', () => {
  test('disable ends the user\'s live sessions (and its sub-agents\'), refuses its tokens; enable lets them in again', async () => {
    const own = await fx.tokens.issue({ subject: 'erin', kind: 'user', groups: ['dev'], ttlSeconds: 600 });
    const erin = await fx.tokens.verify(own.token);
    const bot = await fx.tokens.verify((await fx.tokens.delegate(erin, { to: 'erin-bot' })).token);
    const other = await fx.tokens.verify((await fx.tokens.issue({ subject: 'frank', ttlSeconds: 600 })).token);
    const erinCalls = addLive('sess-erin', erin);
    const botCalls = addLive('sess-erin-bot', bot);
    const otherCalls = addLive('sess-frank', other);

    let res = await call({ method: 'POST', url: '/api/users/erin/disable', payload: { letStatementsFinish: true } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().user.name, 'erin');
    assert.notEqual(res.json().user.disabledAt, null);
    assert.deepEqual(res.json().sessionsEnded.sort(), ['sess-erin', 'sess-erin-bot']);
    assert.equal(erinCalls.length, 1);
    assert.equal(botCalls.length, 1);
    assert.equal(otherCalls.length, 0);
    assert.equal(botCalls[0].options?.letStatementsFinish, true);
    const event = fx.recorded.find((e) => e.session === 'sess-erin-bot');
    assert.deepEqual(event, { session: 'sess-erin-bot', type: 'session.terminated',
      data: { reason: 'user "erin" was disabled', by: 'root', letStatementsFinish: true } });
    const listed = (await call({ method: 'GET', url: '/api/users' })).json().find((u: { name: string }) => u.name === 'erin');
    assert.ok(listed, 'erin is listed');
    assert.notEqual(listed.disabledAt, null);
    res = await call({ method: 'POST', url: '/api/tokens/delegate', token: own.token, payload: { to: 'x' } });
    assert.equal(res.statusCode, 401);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_PRINCIPAL_DISABLED');

    res = await call({ method: 'POST', url: '/api/users/erin/enable', payload: {} });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().user.disabledAt, null);
    assert.deepEqual(res.json().sessionsEnded, []);
    assert.equal((await call({ method: 'POST', url: '/api/tokens/delegate', token: own.token, payload: { to: 'x2' } })).statusCode, 201);
  });

  test('disabling a name never seen is refused as a likely typo; with force it creates a disabled user', async () => {
    await fx.tokens.issue({ subject: 'alice-known', kind: 'user', groups: ['dev'], ttlSeconds: 600 });
    const typo = await call({ method: 'POST', url: '/api/users/alcie-known/disable', payload: {} });
    assert.equal(typo.statusCode, 404, typo.body);
    assert.equal(errorOf(typo).code, 'WARDEN_ERR_NOT_FOUND');
    assert.match(errorOf(typo).message, /did you mean "alice-known"\?.*force/);
    assert.equal(await fx.store.users.get('alcie-known'), undefined, 'no user row was created for the typo');
    assert.equal((await call({ method: 'POST', url: '/api/users/future-hire/disable', payload: {} })).statusCode, 404);
    const res = await call({ method: 'POST', url: '/api/users/future-hire/disable', payload: { force: true } });
    assert.equal(res.statusCode, 200, res.body);
    assert.notEqual((await fx.store.users.get('future-hire'))?.disabledAt, null);
    assert.equal((await call({ method: 'POST', url: '/api/users/x/disable', payload: { nope: true } })).statusCode, 400);
  });

  test('kill ends one live session; an unknown id is 404', async () => {
    const subject = await fx.tokens.verify((await fx.tokens.issue({ subject: 'gina', ttlSeconds: 600 })).token);
    const calls = addLive('sess-gina', subject);
    const twin = addLive('sess-gina-2', subject);
    let res = await call({ method: 'POST', url: '/api/sessions/sess-gina/kill', payload: {} });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { sessionsEnded: ['sess-gina'] });
    assert.equal(calls[0].reason, 'session killed by an administrator');
    assert.equal(twin.length, 0);
    res = await call({ method: 'POST', url: '/api/sessions/sess-unknown/kill', payload: {} });
    assert.equal(res.statusCode, 404);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_NOT_FOUND');
  });

  test('the kill-switch routes accept a POST without a body (curl -X POST)', async () => {
    const subject = await fx.tokens.verify((await fx.tokens.issue({ subject: 'hank', ttlSeconds: 600 })).token);
    const calls = addLive('sess-hank', subject);
    let res = await call({ method: 'POST', url: '/api/sessions/sess-hank/kill' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { sessionsEnded: ['sess-hank'] });
    assert.equal(calls.length, 1);
    res = await call({ method: 'POST', url: '/api/users/hank/disable' });
    assert.equal(res.statusCode, 200, res.body);
    assert.notEqual((await fx.store.users.get('hank'))?.disabledAt ?? null, null);
    res = await call({ method: 'POST', url: '/api/users/hank/enable' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await fx.store.users.get('hank'))?.disabledAt, null);
    res = await call({ method: 'POST', url: '/api/service-accounts/reporter/keys' });
    assert.equal(res.statusCode, 201, res.body);
    assert.match(res.json().key, /^wk_/);
    // A body that is there must still be valid.
    assert.equal((await call({ method: 'POST', url: '/api/users/hank/disable', payload: { nope: true } })).statusCode, 400);
  });
});
