/**
 * Tests of the control API against the real store (SQLite file), vault and token service, through `app.inject`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { generate } from 'selfsigned';
import { ADMIN_GROUP, TokenService } from '../identity/tokens.js';
import type { Store } from '../store/types.js';
import { buildControlApi } from './app.js';
import { createControlFixture, sessionFixture, type ControlFixture } from './test-fixture.js';

let fx: ControlFixture;
before(async () => {
  fx = await createControlFixture();
});
after(async () => {
  await fx.close();
});

/** An authenticated request (admin token unless `token` is given; `token: null` sends none). */
function call(opts: InjectOptions & { token?: string | null }): Promise<LightMyRequestResponse> {
  const { token, ...rest } = opts;
  const auth = token === null ? undefined : token ?? fx.adminToken;
  const headers = { ...(rest.headers ?? {}), ...(auth ? { authorization: `Bearer ${auth}` } : {}) };
  return fx.app.inject({ ...rest, headers });
}

function errorOf(res: LightMyRequestResponse): { code: string; message: string } {
  const body = res.json() as { error: { code: string; message: string } };
  assert.equal(typeof body.error?.code, 'string', `not an error body: ${res.body}`);
  assert.deepEqual(Object.keys(body), ['error']);
  return body.error;
}

const pg = (name: string, extra: Record<string, unknown> = {}) => ({
  name, type: 'postgres', host: 'db.internal', port: 5432, database: 'app', user: 'app_rw', ...extra,
});

describe('public routes', () => {
  test('GET /api/health needs no token', async () => {
    const res = await call({ method: 'GET', url: '/api/health', token: null });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok', version: '0.0.0-test' });
  });

  test('GET /api/openapi.json is an OpenAPI 3 document listing every route', async () => {
    const res = await call({ method: 'GET', url: '/api/openapi.json', token: null });
    assert.equal(res.statusCode, 200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>>; components: any };
    assert.match(doc.openapi, /^3\./);
    for (const path of ['/api/health', '/api/targets', '/api/targets/{name}', '/api/tokens', '/api/tokens/revoke', '/api/sessions', '/api/sessions/{id}']) {
      assert.ok(doc.paths[path], `missing ${path}`);
    }
    assert.ok(doc.paths['/api/targets'].post && doc.paths['/api/targets/{name}'].delete);
    assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer');
    assert.deepEqual(Object.keys(doc.components.schemas).sort(), ['Error', 'Session', 'SessionEvent', 'Target', 'TokenRecord']);
    assert.equal(doc.components.schemas.Target.properties.password, undefined);
    assert.equal(doc.paths['/api/openapi.json'], undefined);
  });

  test('unknown routes are a JSON 404', async () => {
    const res = await call({ method: 'GET', url: '/api/nope?x=1' });
    assert.equal(res.statusCode, 404);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_NOT_FOUND');
  });
});

describe('authentication and authorization', () => {
  const expectAuthError = async (token: string | null, headers: Record<string, string> = {}) => {
    const res = await call({ method: 'GET', url: '/api/targets', token, headers });
    assert.equal(res.statusCode, 401, res.body);
    assert.match(res.headers['www-authenticate'] as string, /^Bearer/);
    return errorOf(res).code;
  };

  test('no token', async () => assert.equal(await expectAuthError(null), 'WARDEN_ERR_UNAUTHENTICATED'));
  test('not a bearer header', async () => {
    assert.equal(await expectAuthError(null, { authorization: `Basic ${fx.adminToken}` }), 'WARDEN_ERR_UNAUTHENTICATED');
  });
  test('garbage token', async () => {
    assert.match(await expectAuthError('not-a-token'), /^WARDEN_ERR_(TOKEN_INVALID|UNAUTHENTICATED)$/);
  });

  test('expired token', async () => {
    // Same signing key and store, a clock two hours behind: its 1 h token expired an hour ago (past any skew).
    const past = await TokenService.create({ store: fx.store, dataDir: fx.dataDir, now: () => Date.now() - 7200_000 });
    const { token } = await past.issue({ subject: 'short', groups: [ADMIN_GROUP], ttlSeconds: 3600 });
    assert.equal(await expectAuthError(token), 'WARDEN_ERR_TOKEN_EXPIRED');
  });

  test('revoked token', async () => {
    const issued = await fx.tokens.issue({ subject: 'gone', groups: [ADMIN_GROUP], ttlSeconds: 600 });
    assert.equal((await call({ method: 'GET', url: '/api/targets', token: issued.token })).statusCode, 200);
    await fx.tokens.revoke(issued.id);
    assert.equal(await expectAuthError(issued.token), 'WARDEN_ERR_TOKEN_REVOKED');
  });

  test('a valid token outside the admin group is forbidden on every route', async () => {
    const { token } = await fx.tokens.issue({ subject: 'bob', groups: ['dev'], ttlSeconds: 600 });
    const routes: InjectOptions[] = [
      { method: 'GET', url: '/api/targets' }, { method: 'POST', url: '/api/targets', payload: pg('x') },
      { method: 'GET', url: '/api/targets/x' }, { method: 'DELETE', url: '/api/targets/x' },
      { method: 'GET', url: '/api/tokens' }, { method: 'POST', url: '/api/tokens', payload: { user: 'bob', groups: [ADMIN_GROUP] } },
      { method: 'POST', url: '/api/tokens/revoke', payload: { id: 'x' } },
      { method: 'GET', url: '/api/sessions' }, { method: 'GET', url: '/api/sessions/x' },
    ];
    for (const route of routes) {
      const res = await call({ ...route, token });
      assert.equal(res.statusCode, 403, `${route.method} ${route.url}: ${res.body}`);
      assert.equal(errorOf(res).code, 'WARDEN_ERR_FORBIDDEN');
    }
  });
});

describe('targets', () => {
  test('create, list, show, remove', async () => {
    const created = await call({ method: 'POST', url: '/api/targets', payload: pg('pg-main', { labels: { env: 'prod' } }) });
    assert.equal(created.statusCode, 201, created.body);
    const view = created.json();
    assert.deepEqual(
      { ...view, createdAt: undefined, updatedAt: undefined },
      { name: 'pg-main', type: 'postgres', host: 'db.internal', port: 5432, database: 'app', user: 'app_rw', tls: 'prefer',
        hasPassword: false, hasCa: false, labels: { env: 'prod' }, createdAt: undefined, updatedAt: undefined },
    );
    assert.match(view.createdAt, /^\d{4}-\d\d-\d\dT/);

    const list = await call({ method: 'GET', url: '/api/targets' });
    assert.deepEqual(list.json().map((t: { name: string }) => t.name), ['pg-main']);
    const shown = await call({ method: 'GET', url: '/api/targets/pg-main' });
    assert.deepEqual(shown.json(), view);

    const removed = await call({ method: 'DELETE', url: '/api/targets/pg-main' });
    assert.equal(removed.statusCode, 204);
    assert.equal(removed.body, '');
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await call({ method, url: '/api/targets/pg-main' });
      assert.equal(res.statusCode, 404);
      assert.equal(errorOf(res).code, 'WARDEN_ERR_TARGET_NOT_FOUND');
    }
  });

  test('a duplicate name is a conflict', async () => {
    assert.equal((await call({ method: 'POST', url: '/api/targets', payload: pg('dup') })).statusCode, 201);
    const res = await call({ method: 'POST', url: '/api/targets', payload: pg('dup', { host: 'other' }) });
    assert.equal(res.statusCode, 409);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_CONFLICT');
    assert.equal((await call({ method: 'GET', url: '/api/targets/dup' })).json().host, 'db.internal');
  });

  test('invalid bodies are 400 WARDEN_ERR_BAD_REQUEST with a readable message', async () => {
    const cases: [unknown, RegExp][] = [
      [{ ...pg('a'), host: undefined }, /host/],
      [pg('a/b'), /name/],
      [pg('-lead'), /name/],
      [pg('a', { pasword: 'x' }), /unknown field "pasword"/],
      [pg('a', { tls: 'maybe' }), /tls must be one of: disable, prefer, require, verify-full/],
      [pg('a', { port: 70000 }), /port/],
      [pg('a', { type: 'mysql' }), /type/],
      [pg('a', { labels: { env: { nested: true } } }), /labels/],
      [pg('a', { port: 'five' }), /port/],
      [pg('a', { ca: 'not a pem' }), /ca/],
      [pg('a', { ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }), /ca/],
    ];
    for (const [payload, message] of cases) {
      const res = await call({ method: 'POST', url: '/api/targets', payload: payload as object });
      assert.equal(res.statusCode, 400, `${JSON.stringify(payload)}: ${res.body}`);
      const error = errorOf(res);
      assert.equal(error.code, 'WARDEN_ERR_BAD_REQUEST');
      assert.match(error.message, message);
    }
    assert.equal((await call({ method: 'GET', url: '/api/targets/a' })).statusCode, 404);
  });

  test('malformed JSON is a 400 with a Warden code', async () => {
    const res = await call({ method: 'POST', url: '/api/targets', payload: '{"name":', headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 400);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_BAD_REQUEST');
  });

  test('only JSON bodies are accepted', async () => {
    const res = await call({ method: 'POST', url: '/api/targets', payload: 'name=x', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.statusCode, 415);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_UNSUPPORTED');
  });

  test('a real CA bundle is accepted and shown only as hasCa', async () => {
    const { cert } = await generate([{ name: 'commonName', value: 'Test CA' }]);
    const res = await call({ method: 'POST', url: '/api/targets', payload: pg('with-ca', { tls: 'verify-full', ca: cert }) });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().hasCa, true);
    assert.ok(!res.body.includes('BEGIN CERTIFICATE'));
    const stored = await fx.store.targets.get('with-ca');
    assert.equal(stored?.type === 'postgres' ? stored.ca : undefined, cert);
  });

  test('the password never leaves the server and is stored encrypted', async () => {
    const password = 'S3cret-pw-XYZ';
    const created = await call({ method: 'POST', url: '/api/targets', payload: pg('secret-db', { password }) });
    assert.equal(created.statusCode, 201);
    assert.equal(created.json().hasPassword, true);

    const record = await fx.store.targets.get('secret-db');
    assert.ok(record?.passwordEnc, 'the password is stored');
    assert.ok(!record.passwordEnc.includes(password), 'stored encrypted, not in clear');
    assert.equal(fx.vault.decrypt(record.passwordEnc, 'target:secret-db'), password);

    const responses = [
      created,
      await call({ method: 'GET', url: '/api/targets' }),
      await call({ method: 'GET', url: '/api/targets/secret-db' }),
    ];
    for (const res of responses) {
      assert.ok(!res.body.includes(password), res.body);
      assert.ok(!res.body.includes(record.passwordEnc), res.body);
      assert.ok(!/passwordEnc|"password"/.test(res.body), res.body);
    }
    // The second guard: even a careless log call cannot write these keys.
    fx.app.log.info({ password, headers: { authorization: `Bearer ${fx.adminToken}` }, body: { password } }, 'careless');
    const logs = fx.logText();
    assert.ok(logs.includes('careless') && logs.includes('[redacted]'), 'the API logged, redacted');
    assert.ok(!logs.includes(password), 'no password in the logs');
    assert.ok(!logs.includes(fx.adminToken), 'no token in the logs');
  });

  test('a null password means none', async () => {
    const res = await call({ method: 'POST', url: '/api/targets', payload: pg('no-pw', { password: null }) });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().hasPassword, false);
    assert.equal((await fx.store.targets.get('no-pw'))?.passwordEnc, null);
  });
});

describe('tokens', () => {
  test('create returns the token once; list shows records only', async () => {
    const res = await call({ method: 'POST', url: '/api/tokens', payload: { user: 'alice', groups: ['dev'], targets: ['pg-*'], kind: 'agent' } });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json();
    assert.equal(body.user, 'alice');
    assert.deepEqual([body.groups, body.targets], [['dev'], ['pg-*']]);
    assert.match(body.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const ttl = Date.parse(body.expiresAt) - Date.now();
    assert.ok(ttl > 3500_000 && ttl <= 3600_000, `default ttl 1h, got ${ttl}ms`);
    const subject = await fx.tokens.verify(body.token);
    assert.deepEqual([subject.id, subject.kind, subject.groups], ['alice', 'agent', ['dev']]);

    const list = await call({ method: 'GET', url: '/api/tokens' });
    assert.equal(list.statusCode, 200);
    assert.ok(!list.body.includes(body.token), 'never the token text');
    const record = list.json().find((t: { id: string }) => t.id === body.id);
    assert.deepEqual([record.subject, record.subjectKind, record.revokedAt], ['alice', 'agent', null]);
  });

  test('ttl is honoured and validated', async () => {
    const ok = await call({ method: 'POST', url: '/api/tokens', payload: { user: 'x', ttl: '5m' } });
    const ttl = Date.parse(ok.json().expiresAt) - Date.now();
    assert.ok(ttl > 290_000 && ttl <= 300_000, String(ttl));
    for (const payload of [{ user: 'x', ttl: 'soon' }, { user: 'x', kind: 'robot' }, { groups: ['a'] }, { user: '' }]) {
      const res = await call({ method: 'POST', url: '/api/tokens', payload });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(errorOf(res).code, 'WARDEN_ERR_BAD_REQUEST');
    }
  });

  test('revoke by id and by token text', async () => {
    const a = (await call({ method: 'POST', url: '/api/tokens', payload: { user: 'a', groups: [ADMIN_GROUP] } })).json();
    const b = (await call({ method: 'POST', url: '/api/tokens', payload: { user: 'b', groups: [ADMIN_GROUP] } })).json();

    const byId = await call({ method: 'POST', url: '/api/tokens/revoke', payload: { id: a.id } });
    assert.equal(byId.statusCode, 200, byId.body);
    assert.equal(byId.json().id, a.id);
    assert.ok(byId.json().revokedAt);
    const byToken = await call({ method: 'POST', url: '/api/tokens/revoke', payload: { token: b.token } });
    assert.equal(byToken.statusCode, 200, byToken.body);
    assert.equal(byToken.json().id, b.id);
    assert.ok(!byToken.body.includes(b.token));

    for (const t of [a.token, b.token]) {
      const res = await call({ method: 'GET', url: '/api/targets', token: t });
      assert.equal(errorOf(res).code, 'WARDEN_ERR_TOKEN_REVOKED');
    }
  });

  test('revoke needs exactly one known id or valid token', async () => {
    const cases: [object, number, string][] = [
      [{}, 400, 'WARDEN_ERR_BAD_REQUEST'],
      [{ id: 'x', token: 'y.y.y' }, 400, 'WARDEN_ERR_BAD_REQUEST'],
      [{ token: 'garbage.not.jwt' }, 400, 'WARDEN_ERR_BAD_REQUEST'],
      [{ id: 'no-such-token' }, 404, 'WARDEN_ERR_NOT_FOUND'],
    ];
    for (const [payload, status, code] of cases) {
      const res = await call({ method: 'POST', url: '/api/tokens/revoke', payload });
      assert.equal(res.statusCode, status, `${JSON.stringify(payload)}: ${res.body}`);
      assert.equal(errorOf(res).code, code);
    }
  });
});

describe('sessions', () => {
  test('list is empty at first, and flushes the recorder first', async () => {
    const before = fx.flushes();
    const res = await call({ method: 'GET', url: '/api/sessions' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), []);
    assert.equal(fx.flushes(), before + 1);
  });

  test('list filters, newest first; show returns events in order', async () => {
    await fx.store.sessions.insert(sessionFixture('ses_old', { startedAt: '2030-01-01T00:00:00.000Z' }));
    await fx.store.sessions.insert(sessionFixture('ses_new', { startedAt: '2030-01-02T00:00:00.000Z', subject: 'bob', target: 'pg2' }));
    await fx.store.sessions.end('ses_old', '2030-01-01T00:01:00.000Z', 'client closed');
    await fx.store.sessions.appendEvents([
      { sessionId: 'ses_old', seq: 2, at: '2030-01-01T00:00:01.000Z', type: 'statement', data: { text: 'SELECT 1', durationMs: 1.5, rows: 1 } },
      { sessionId: 'ses_old', seq: 1, at: '2030-01-01T00:00:00.000Z', type: 'session.start', data: { database: 'app' } },
    ]);

    const ids = async (qs: string) => (await call({ method: 'GET', url: `/api/sessions${qs}` })).json().map((s: { id: string }) => s.id);
    assert.deepEqual(await ids(''), ['ses_new', 'ses_old']);
    assert.deepEqual(await ids('?limit=1'), ['ses_new']);
    assert.deepEqual(await ids('?subject=alice'), ['ses_old']);
    assert.deepEqual(await ids('?target=pg2'), ['ses_new']);
    assert.deepEqual(await ids('?active=true'), ['ses_new']);
    assert.deepEqual(await ids('?active=false'), ['ses_old']);

    const before = fx.flushes();
    const shown = await call({ method: 'GET', url: '/api/sessions/ses_old' });
    assert.equal(shown.statusCode, 200);
    assert.equal(fx.flushes(), before + 1);
    const { session, events } = shown.json();
    assert.deepEqual([session.id, session.endReason], ['ses_old', 'client closed']);
    assert.deepEqual(events.map((e: { seq: number; type: string }) => [e.seq, e.type]), [[1, 'session.start'], [2, 'statement']]);
    assert.deepEqual(events[1].data, { text: 'SELECT 1', durationMs: 1.5, rows: 1 });
  });

  test('bad queries and unknown sessions', async () => {
    for (const qs of ['?limit=0', '?limit=5000', '?limit=abc', '?active=maybe']) {
      const res = await call({ method: 'GET', url: `/api/sessions${qs}` });
      assert.equal(res.statusCode, 400, `${qs}: ${res.body}`);
      assert.equal(errorOf(res).code, 'WARDEN_ERR_BAD_REQUEST');
    }
    const res = await call({ method: 'GET', url: '/api/sessions/ses_missing' });
    assert.equal(res.statusCode, 404);
    assert.equal(errorOf(res).code, 'WARDEN_ERR_NOT_FOUND');
  });
});

test('unexpected errors are a generic 500; the detail only reaches the log', async () => {
  // Object.create keeps the real repository's methods, whether it is a class instance or a plain object.
  const sessions = Object.assign(Object.create(fx.store.sessions), {
    list: async () => { throw new Error('disk on fire at /var/secret/path'); },
  });
  // Spread so every other repository (whatever the store grows) stays the real one.
  const broken: Store = { ...fx.store, sessions, close: async () => {} };
  const app = await buildControlApi({ ...fx.deps, store: broken });
  try {
    const res = await app.inject({ method: 'GET', url: '/api/sessions', headers: { authorization: `Bearer ${fx.adminToken}` } });
    assert.equal(res.statusCode, 500);
    const error = errorOf(res);
    assert.equal(error.code, 'WARDEN_ERR_INTERNAL');
    assert.ok(!error.message.includes('disk on fire'));
    assert.ok(fx.logText().includes('disk on fire'), 'the detail is logged for operators');
  } finally {
    await app.close();
  }
});
