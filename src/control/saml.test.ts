/**
 * The SAML routes (routes/saml.ts) on the real control API (real store, vault and token service) with a real samlify
 * IdP: the browser flow login -> IdP -> ACS -> portal cookie, group mapping, clear refusals as pages or JSON, the form
 * parser scoped to these routes, safe return paths, the HTTPS browser binding, and no secret in the log.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { startSamlIdp, type ResponseTweaks, type TestSamlIdp } from '../../test/harness/saml-idp.js';
import { installErrorHandling } from './errors.js';
import { PORTAL_COOKIE } from './portal-cookie.js';
import { ACS_BODY_LIMIT, safeReturnPath, samlRoutes } from './routes/saml.js';
import { createControlFixture, type ControlFixture } from './test-fixture.js';

let fx: ControlFixture;
let idp: TestSamlIdp;

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** The value a Set-Cookie header list gives cookie `name`, or undefined. */
function setCookie(headers: Record<string, unknown>, name: string): string | undefined {
  const raw = headers['set-cookie'];
  const list = Array.isArray(raw) ? raw as string[] : typeof raw === 'string' ? [raw] : [];
  return list.filter((c) => c.startsWith(`${name}=`)).at(-1);
}

/** Login at Warden, the IdP's answer for the user set on it, and the form post to the ACS (what a browser does). */
async function browserSignIn(app: FastifyInstance, tweaks: ResponseTweaks = {}, options: { next?: string; accept?: string; relay?: string } = {}) {
  const login = await app.inject({ method: 'GET', url: `/auth/saml/corp/login${options.next ? `?next=${encodeURIComponent(options.next)}` : ''}` });
  assert.equal(login.statusCode, 302, login.body);
  const answer = await idp.login(String(login.headers.location), { nameId: 'alice', email: 'alice@example.com', groups: ['eng', 'sales'] }, tweaks);
  const fields: Record<string, string> = { SAMLResponse: answer.SAMLResponse };
  const relay = options.relay ?? answer.RelayState;
  if (relay !== undefined) fields.RelayState = relay;
  const acs = await app.inject({ method: 'POST', url: new URL(answer.acsUrl).pathname, headers: { ...FORM, accept: options.accept ?? 'text/html' },
    payload: form(fields) });
  return { login, answer, acs };
}

before(async () => {
  fx = await createControlFixture();
  idp = await startSamlIdp();
  await fx.deps.signIn.apply([
    { kind: 'IdentityProvider', name: 'corp', type: 'saml', entryPoint: idp.ssoUrl, idpCert: idp.cert, groupMap: { eng: ['engineers'] } },
    { kind: 'IdentityProvider', name: 'google', type: 'oidc', issuer: 'https://accounts.example', clientId: 'c' },
  ]);
  const metadata = await fx.app.inject({ method: 'GET', url: '/auth/saml/corp/metadata' });
  idp.trust(metadata.body);
});
after(async () => {
  await fx?.close();
  await idp?.close();
});

describe('SAML routes', () => {
  test('metadata is public XML naming the ACS under the address Warden was reached at', async () => {
    const res = await fx.app.inject({ method: 'GET', url: '/auth/saml/corp/metadata', headers: { host: 'warden.internal:8443' } });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/samlmetadata\+xml/);
    assert.ok(res.body.includes('Location="http://warden.internal:8443/auth/saml/corp/acs"'));
  });

  test('login -> IdP -> ACS signs in: portal cookie with a token carrying the mapped groups, redirect home', async () => {
    const { login, acs } = await browserSignIn(fx.app);
    assert.equal(new URL(String(login.headers.location)).origin + new URL(String(login.headers.location)).pathname, idp.ssoUrl);
    assert.equal(acs.statusCode, 303, acs.body);
    assert.equal(acs.headers.location, '/');
    const cookie = setCookie(acs.headers, PORTAL_COOKIE)!;
    assert.match(cookie, /HttpOnly/);
    assert.doesNotMatch(cookie, /Secure/, 'plain http: no Secure flag');
    const token = cookie.slice(PORTAL_COOKIE.length + 1, cookie.indexOf(';'));
    const subject = await fx.tokens.verify(token);
    assert.equal(subject.id, 'corp:alice');
    assert.deepEqual(subject.groups, ['engineers'], 'eng maps to engineers; unmapped sales is dropped');
    const user = await fx.store.users.get('corp:alice');
    assert.equal(user?.email, 'alice@example.com');
    assert.equal(user?.provider, 'corp');
    assert.ok(!fx.logText().includes(token), 'the token is never logged');
    assert.match(fx.logText(), /signed in to the portal/);
  });

  test('the response is never logged, not even when it is refused', async () => {
    const { answer, acs } = await browserSignIn(fx.app, { key: 'other' });
    assert.equal(acs.statusCode, 401);
    assert.ok(!fx.logText().includes(answer.SAMLResponse.slice(0, 40)));
    assert.match(fx.logText(), /Invalid signature/, 'the reason is logged for operators');
  });

  test('a refused response is a clear HTML page for browsers and a JSON error for API clients', async () => {
    const html = (await browserSignIn(fx.app, { audience: 'elsewhere' })).acs;
    assert.equal(html.statusCode, 401);
    assert.match(String(html.headers['content-type']), /text\/html/);
    assert.match(html.body, /meant for another service \(audience\)/);
    assert.equal(setCookie(html.headers, PORTAL_COOKIE), undefined);
    const json = (await browserSignIn(fx.app, { clockOffsetMs: -3600_000 }, { accept: 'application/json' })).acs;
    assert.equal(json.statusCode, 401);
    assert.equal(json.json().error.code, 'WARDEN_ERR_UNAUTHENTICATED');
    assert.match(json.json().error.message, /outside its validity period/);
  });

  test('an assertion for another service provider\'s ACS is refused although the audience matches (Recipient, Destination)', async () => {
    const other = 'https://other-sp.example/auth/saml/corp/acs';
    for (const [tweaks, why] of [[{ recipient: other }, /meant for another service \(recipient\)/],
      [{ recipient: other, destination: other }, /meant for another service \(recipient\)/],
      [{ destination: other }, /meant for another service \(destination\)/]] as const) {
      const { acs } = await browserSignIn(fx.app, tweaks, { accept: 'application/json' });
      assert.equal(acs.statusCode, 401, JSON.stringify(tweaks));
      assert.match(acs.json().error.message, why);
      assert.equal(setCookie(acs.headers, PORTAL_COOKIE), undefined);
    }
    // Control: the same flow addressed to this ACS signs in.
    assert.equal((await browserSignIn(fx.app)).acs.statusCode, 303);
  });

  test('a replayed ACS post is refused', async () => {
    const { answer, acs } = await browserSignIn(fx.app);
    assert.equal(acs.statusCode, 303);
    const again = await fx.app.inject({ method: 'POST', url: '/auth/saml/corp/acs', headers: FORM, payload: form({ SAMLResponse: answer.SAMLResponse }) });
    assert.equal(again.statusCode, 401);
    assert.match(again.body, /already used or answers no sign-in started here/);
  });

  test('a disabled user is refused whatever the IdP says', async () => {
    await fx.store.users.setDisabled('corp:alice', new Date().toISOString(), new Date().toISOString());
    try {
      const { acs } = await browserSignIn(fx.app);
      assert.equal(acs.statusCode, 401);
      assert.match(acs.body, /WARDEN_ERR_PRINCIPAL_DISABLED/);
    } finally {
      await fx.store.users.setDisabled('corp:alice', null, new Date().toISOString());
    }
  });

  test('RelayState returns to a local path only', async () => {
    assert.equal((await browserSignIn(fx.app, {}, { next: '/api/health' })).acs.headers.location, '/api/health');
    assert.equal((await browserSignIn(fx.app, {}, { relay: 'https://evil.example/' })).acs.headers.location, '/');
    for (const bad of ['//evil.example', '/\\evil.example', 'evil', '/a b', 'javascript:alert(1)']) assert.equal(safeReturnPath(bad), '/', bad);
    assert.equal(safeReturnPath('/sessions?x=1'), '/sessions?x=1');
  });

  test('unknown and non-SAML providers are 404 pages; a missing SAMLResponse is a 400', async () => {
    for (const url of ['/auth/saml/nope/login', '/auth/saml/google/login', '/auth/saml/google/metadata']) {
      const res = await fx.app.inject({ method: 'GET', url, headers: { accept: 'text/html' } });
      assert.equal(res.statusCode, 404, url);
      assert.match(res.body, /identity provider &#34;(nope|google)&#34;/);
    }
    const res = await fx.app.inject({ method: 'POST', url: '/auth/saml/corp/acs', headers: FORM, payload: form({ RelayState: '/' }) });
    assert.equal(res.statusCode, 400);
  });

  test('form bodies are accepted by the ACS only, and only up to the limit', async () => {
    const elsewhere = await fx.app.inject({ method: 'POST', url: '/api/tokens', headers: { ...FORM, authorization: `Bearer ${fx.adminToken}` },
      payload: form({ user: 'x' }) });
    assert.equal(elsewhere.statusCode, 415);
    const huge = await fx.app.inject({ method: 'POST', url: '/auth/saml/corp/acs', headers: FORM,
      payload: form({ SAMLResponse: 'A'.repeat(ACS_BODY_LIMIT + 1) }) });
    assert.equal(huge.statusCode, 413);
  });
});

describe('SAML routes behind HTTPS (publicUrl https://...)', () => {
  let app: FastifyInstance;
  before(async () => {
    app = Fastify({ loggerInstance: pino({ level: 'silent' }) }) as unknown as FastifyInstance;
    installErrorHandling(app);
    await app.register(samlRoutes({ signIn: fx.deps.signIn, logger: pino({ level: 'silent' }), publicUrl: 'https://warden.example' }));
    idp.trust((await app.inject({ method: 'GET', url: '/auth/saml/corp/metadata' })).body);
  });
  after(async () => {
    await app?.close();
    idp.trust((await fx.app.inject({ method: 'GET', url: '/auth/saml/corp/metadata' })).body);
  });

  test('login binds the sign-in to the browser; the ACS wants that cookie and sets a Secure portal cookie', async () => {
    const start = async () => {
      const login = await app.inject({ method: 'GET', url: '/auth/saml/corp/login' });
      const bind = setCookie(login.headers, 'warden_saml_request')!;
      return { login, bind, cookie: bind.slice(0, bind.indexOf(';')) };
    };
    const post = (answer: { SAMLResponse: string }, cookie?: string) => app.inject({ method: 'POST', url: '/auth/saml/corp/acs',
      headers: { ...FORM, ...(cookie ? { cookie } : {}) }, payload: form({ SAMLResponse: answer.SAMLResponse }) });
    const victim = await start();
    assert.match(victim.bind, /HttpOnly; Secure; SameSite=None/);
    const mine = await idp.login(String(victim.login.headers.location), { nameId: 'alice', groups: ['eng'] });
    assert.equal(mine.acsUrl, 'https://warden.example/auth/saml/corp/acs');

    // Login CSRF: the attacker's own valid response, posted from the victim's browser, is refused.
    const attacker = await start();
    const theirs = await idp.login(String(attacker.login.headers.location), { nameId: 'mallory' });
    const forced = await post(theirs, victim.cookie);
    assert.equal(forced.statusCode, 401);
    assert.match(forced.body, /started in another browser/);

    const acs = await post(mine, victim.cookie);
    assert.equal(acs.statusCode, 303, acs.body);
    assert.match(setCookie(acs.headers, PORTAL_COOKIE)!, /; Secure/);
    assert.match(setCookie(acs.headers, 'warden_saml_request')!, /Max-Age=0/, 'the binding cookie is used once');

    // Without the cookie at all (a browser that did not start the sign-in): refused.
    const other = await start();
    const lone = await post(await idp.login(String(other.login.headers.location), { nameId: 'alice' }));
    assert.equal(lone.statusCode, 401);
  });
});
