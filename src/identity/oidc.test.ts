/**
 * OIDC sign-in (oidc.ts, oidc-portal.ts, the oidc and portal routes) against a real OpenID Provider on loopback
 * (oidc-provider, test/harness/oidc.ts) and the real store, vault and token service. Hostile id_tokens are signed with
 * the provider's real key (or deliberately not), so every refusal is jose and our checks at work, never a stub.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { TestBrowser } from '../../test/harness/browser.js';
import { cliClient, completeSignIn, portalClient, startIdp, type TestIdp } from '../../test/harness/oidc.js';
import { createControlFixture, type ControlFixture } from '../control/test-fixture.js';
import { WardenError } from '../errors.js';
import { signInWithIdToken } from './oidc.js';
import { PendingSignIns, PENDING_TTL_MS } from './oidc-portal.js';
import type { IdentityProviderDocument } from './providers.js';
import { ADMIN_GROUP } from './tokens.js';

const SECRET = 'portal-secret-0123456789';
let fx: ControlFixture;
let base: string;
let idp: TestIdp;
const now = () => Math.floor(Date.now() / 1000);

before(async () => {
  fx = await createControlFixture();
  base = await fx.app.listen({ port: 0, host: '127.0.0.1' });
  idp = await startIdp({
    accounts: [
      { id: 'alice', email: 'alice@example.com', name: 'Alice <A>', groups: ['eng', 'misc'] },
      { id: 'mallory', email: 'mallory@example.com', groups: [ADMIN_GROUP] },
    ],
    clients: [portalClient([`${base}/auth/oidc/corp/callback`], SECRET), cliClient(), cliClient('other-cli'), cliClient('mapped-cli')],
  });
  const docs: IdentityProviderDocument[] = [
    { kind: 'IdentityProvider', type: 'oidc', name: 'corp', issuer: idp.issuer, clientId: 'warden-portal', clientSecret: SECRET,
      cliClientId: 'warden-cli', scopes: ['openid', 'email', 'profile', 'groups'],
      groupMap: { eng: ['engineers'], ops: [ADMIN_GROUP] }, passUnmappedGroups: true },
    // Same issuer, another client: id_tokens addressed to it must pick this provider (aud decides).
    { kind: 'IdentityProvider', type: 'oidc', name: 'corp-usernames', issuer: idp.issuer, clientId: 'other-cli',
      usernameClaim: 'preferred_username', groupsClaim: 'roles' },
    // An explicit operator binding of one external identity to a local user name.
    { kind: 'IdentityProvider', type: 'oidc', name: 'corp-mapped', issuer: idp.issuer, clientId: 'mapped-cli',
      usernameClaim: 'preferred_username', userMap: { 'the-boss': 'alice' }, passUnmappedGroups: true },
  ];
  await fx.deps.signIn.apply(docs);
});
after(async () => {
  await fx?.close();
  await idp?.stop();
});

/** An id_token for the CLI client signed with the provider's real key; `claims` and `header` override. */
function idToken(claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const t = now();
  return new SignJWT({ iss: idp.issuer, aud: 'warden-cli', sub: 'alice', email: 'alice@example.com', email_verified: true,
    groups: ['eng'], iat: t, exp: t + 300, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: idp.signingKey.kid, ...header })
    .sign(idp.signingKey.privateKey);
}

async function refusedWith(token: string, message: RegExp, code = 'WARDEN_ERR_UNAUTHENTICATED'): Promise<void> {
  await assert.rejects(signInWithIdToken(fx.deps.signIn, token), (err: unknown) => {
    assert.ok(err instanceof WardenError);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('signInWithIdToken', () => {
  test('a valid id_token signs the person in with mapped groups and a working Warden token', async () => {
    const issued = await signInWithIdToken(fx.deps.signIn, await idToken({ groups: ['eng', 'misc'], name: 'Alice' }));
    assert.equal(issued.user.name, 'corp:alice@example.com', 'an external identity lives in its provider\'s namespace');
    assert.equal(issued.user.provider, 'corp');
    assert.equal(issued.user.displayName, 'Alice');
    assert.deepEqual(issued.record.groups, ['engineers', 'misc']);
    const subject = await fx.tokens.verify(issued.token);
    assert.equal(subject.id, 'corp:alice@example.com');
    assert.ok(!subject.groups.includes(ADMIN_GROUP));
  });

  test('wrong audience, wrong issuer, expired, too old and future tokens are refused', async () => {
    await refusedWith(await idToken({ aud: 'someone-else' }), /no identity provider of its issuer accepts its audience/);
    await refusedWith(await idToken({ aud: ['someone-else', 'warden-cli'], azp: 'someone-else' }), /azp/);
    await refusedWith(await idToken({ iss: 'http://127.0.0.1:1' }), /no identity provider is configured for its issuer/);
    await refusedWith(await idToken({ iat: now() - 900, exp: now() - 120 }), /expired/);
    await refusedWith(await idToken({ iat: now() - 3600, exp: now() + 300 }), /iat/);
    await refusedWith(await idToken({ iat: now() + 3600, exp: now() + 7200 }), /iat/);
  });

  test('unsigned, HMAC-signed, tampered, foreign-key and unknown-key tokens are refused', async () => {
    const t = now();
    const claims = { iss: idp.issuer, aud: 'warden-cli', sub: 'alice', email: 'alice@example.com', iat: t, exp: t + 300 };
    await refusedWith(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`, /signature algorithm not allowed/);
    const hmac = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
    await refusedWith(hmac, /algorithm not allowed/);
    const [head, , signature] = (await idToken()).split('.');
    await refusedWith(`${head}.${b64({ ...claims, email: 'mallory@example.com' })}.${signature}`, /signature does not verify/);
    const foreign = await generateKeyPair('RS256');
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: idp.signingKey.kid }).sign(foreign.privateKey);
    await refusedWith(forged, /signature does not verify/);
    const unknownKid = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'nope' }).sign(idp.signingKey.privateKey);
    await refusedWith(unknownKid, /key the provider does not publish/);
    await refusedWith('not-a-jwt', /malformed/);
  });

  test('access tokens, logout tokens and bad claims are not id_tokens', async () => {
    await refusedWith(await idToken({}, { typ: 'at+jwt' }), /typ/);
    await refusedWith(await idToken({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} } }), /logout token/);
    await refusedWith(await idToken({ email_verified: false }), /not verified/);
    await refusedWith(await idToken({ groups: 'eng' }), /array of strings/);
  });

  test('warden-admins comes only from an explicit mapping, never from a passed-through provider group', async () => {
    const passed = await signInWithIdToken(fx.deps.signIn, await idToken({ sub: 'm', email: 'mallory@example.com', groups: [ADMIN_GROUP, 'misc'] }));
    assert.deepEqual(passed.record.groups, ['misc']);
    const mapped = await signInWithIdToken(fx.deps.signIn, await idToken({ sub: 'o', email: 'olga@example.com', groups: ['ops'] }));
    assert.deepEqual(mapped.record.groups, [ADMIN_GROUP]);
    assert.ok((await fx.tokens.verify(mapped.token)).groups.includes(ADMIN_GROUP));
  });

  test('the audience picks among providers sharing an issuer; usernameClaim and groupsClaim apply', async () => {
    const issued = await signInWithIdToken(fx.deps.signIn, await idToken({ aud: 'other-cli', preferred_username: 'al', roles: ['r1'] }));
    assert.equal(issued.user.name, 'corp-usernames:al');
    assert.equal(issued.user.provider, 'corp-usernames');
    assert.deepEqual(issued.record.groups, []); // no mapping, no pass-through
    await refusedWith(await idToken({ aud: 'other-cli' }), /claim "preferred_username" is missing/);
  });

  test('email_verified is parsed strictly: "false", absent or odd values are not verified (issue 9 item 17)', async () => {
    for (const value of ['false', 'False', 'no', 0, 1, null, {}, 'yes']) {
      await refusedWith(await idToken({ email_verified: value }), /email is not verified/);
    }
    await refusedWith(await idToken({ email_verified: undefined }), /email is not verified/);
    // Control: the boolean true and the string "true" (as some providers send it) are verified.
    assert.equal((await signInWithIdToken(fx.deps.signIn, await idToken({ email_verified: 'true' }))).user.name, 'corp:alice@example.com');
    assert.equal((await signInWithIdToken(fx.deps.signIn, await idToken({ email_verified: true }))).user.name, 'corp:alice@example.com');
  });

  test('several audiences need azp naming this client; a foreign or non-string azp is refused', async () => {
    await refusedWith(await idToken({ aud: ['warden-cli', 'someone-else'] }), /several audiences but azp is missing/);
    await refusedWith(await idToken({ aud: ['warden-cli', 'someone-else'], azp: 'someone-else' }), /azp names another client/);
    await refusedWith(await idToken({ azp: ['warden-cli'] }), /azp names another client/);
    const ok = await signInWithIdToken(fx.deps.signIn, await idToken({ aud: ['warden-cli', 'someone-else'], azp: 'warden-cli' }));
    assert.equal(ok.user.name, 'corp:alice@example.com');
  });

  test('external identities live in the provider\'s namespace: preferred_username admin is not the built-in admin', async () => {
    const issued = await signInWithIdToken(fx.deps.signIn, await idToken({ aud: 'other-cli', preferred_username: 'admin' }));
    const subject = await fx.tokens.verify(issued.token);
    assert.equal(subject.id, 'corp-usernames:admin');
    assert.notEqual(subject.id, 'admin');
    assert.equal((await fx.store.users.get('admin')), undefined, 'no local admin user row was created or touched');
    // Disabling the external one does not touch a local principal of the bare name, and vice versa.
    const at = new Date().toISOString();
    await fx.store.users.setDisabled('admin', at, at);
    assert.equal((await signInWithIdToken(fx.deps.signIn, await idToken({ aud: 'other-cli', preferred_username: 'admin' }))).user.disabledAt, null);
    await fx.store.users.setDisabled('admin', null, at);
  });

  test('an explicit userMap binds an external identity to a local name; unmapped ones stay namespaced', async () => {
    const bound = await signInWithIdToken(fx.deps.signIn, await idToken({ aud: 'mapped-cli', preferred_username: 'the-boss' }));
    assert.equal(bound.user.name, 'alice');
    const other = await signInWithIdToken(fx.deps.signIn, await idToken({ aud: 'mapped-cli', preferred_username: 'alice' }));
    assert.equal(other.user.name, 'corp-mapped:alice');
  });

  test('group names are normalised (NFKC, trimmed, zero-width removed); look-alikes of warden-admins never pass', async () => {
    const lookAlikes = ['Warden-Admins', ' warden-admins ', 'warden\u200b-admins', '\ufeffwarden-admins', 'WARDEN-ADMINS',
      'wаrden-admins' /* Cyrillic a */, 'ｗａｒｄｅｎ－ａｄｍｉｎｓ' /* fullwidth */, 'warden_admins', 'warden\u2010admins', 'warden - admins'];
    const issued = await signInWithIdToken(fx.deps.signIn, await idToken({ aud: 'mapped-cli', preferred_username: 'gm', groups: [...lookAlikes, ' misc\u200b '] }));
    assert.deepEqual(issued.record.groups, ['misc']);
    assert.ok(!(await fx.tokens.verify(issued.token)).groups.some((g) => g.toLowerCase().includes('admin')));
    // A mapped group is looked up by its normalised name.
    const mapped = await signInWithIdToken(fx.deps.signIn, await idToken({ groups: [' eng\u200b'] }));
    assert.deepEqual(mapped.record.groups, ['engineers']);
  });

  test('a disabled user is refused', async () => {
    const at = new Date().toISOString();
    await fx.store.users.setDisabled('corp:dora@example.com', at, at);
    await refusedWith(await idToken({ sub: 'dora', email: 'dora@example.com' }), /disabled/, 'WARDEN_ERR_PRINCIPAL_DISABLED');
  });
});

describe('control routes', () => {
  test('GET /api/auth/providers lists what a person signs in with, never a secret', async () => {
    const res = await fx.app.inject({ method: 'GET', url: '/api/auth/providers' });
    assert.equal(res.statusCode, 200);
    const corp = res.json().find((p: { name: string }) => p.name === 'corp');
    assert.deepEqual(corp, { name: 'corp', type: 'oidc', loginUrl: '/auth/oidc/corp/login', issuer: idp.issuer, clientId: 'warden-cli',
      scopes: ['openid', 'email', 'profile', 'groups'] });
    assert.ok(!res.body.includes(SECRET));
  });

  test('POST /api/auth/oidc/exchange returns a Warden token; a bad id_token gets a 401 and is never logged', async () => {
    const token = await idToken();
    const ok = await fx.app.inject({ method: 'POST', url: '/api/auth/oidc/exchange', payload: { idToken: token } });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().user, 'corp:alice@example.com');
    assert.deepEqual(ok.json().groups, ['engineers']);
    const bad = await fx.app.inject({ method: 'POST', url: '/api/auth/oidc/exchange', payload: { idToken: await idToken({ aud: 'x' }) } });
    assert.equal(bad.statusCode, 401);
    assert.equal(bad.json().error.code, 'WARDEN_ERR_UNAUTHENTICATED');
    assert.ok(!fx.logText().includes(token.split('.')[2]), 'the id_token reached the log');
    assert.ok(!fx.logText().includes(ok.json().token.split('.')[2]), 'the Warden token reached the log');
  });

  test('POST /api/oauth/token exchanges an id_token (RFC 8693) for a Warden token; a bad one is invalid_grant', async () => {
    const form = (subjectToken: string) => new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subjectToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
    }).toString();
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const ok = await fx.app.inject({ method: 'POST', url: '/api/oauth/token', headers, payload: form(await idToken()) });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().token_type, 'Bearer');
    const subject = await fx.tokens.verify(ok.json().access_token);
    assert.equal(subject.id, 'corp:alice@example.com');
    assert.deepEqual(subject.groups, ['engineers']);
    const bad = await fx.app.inject({ method: 'POST', url: '/api/oauth/token', headers, payload: form(await idToken({ exp: now() - 600 })) });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error, 'invalid_grant');
  });

  test('portal sign-in: provider pages, callback, cookie, the front page shows the user; sign-out revokes', async () => {
    const browser = new TestBrowser();
    const home = await completeSignIn(browser, `${base}/auth/oidc/corp/login`, { login: 'alice' });
    assert.equal(home.url, `${base}/`);
    assert.match(home.body, /Signed in as <strong id="user">corp:alice@example\.com<\/strong>/);
    assert.match(home.body, /<code>engineers<\/code>, <code>misc<\/code>/);
    const cookie = browser.cookie(`${base}/`, 'warden_token');
    assert.ok(cookie);
    const subject = await fx.tokens.verify(cookie);
    assert.equal(subject.id, 'corp:alice@example.com');
    // GET API reads work with the cookie (auth.ts), e.g. as a non-admin: forbidden, but authenticated.
    assert.equal((await browser.open(`${base}/api/targets`)).status, 403);
    const signOut = await browser.submit({ action: `${base}/auth/logout`, method: 'POST', fields: {}, inputs: [] }, {});
    assert.match(signOut.body, /Sign in with corp/);
    assert.equal(browser.cookie(`${base}/`, 'warden_token'), undefined);
    await assert.rejects(fx.tokens.verify(cookie), /revoked/);
    assert.ok(!fx.logText().includes(cookie.split('.')[2]), 'the portal token reached the log');
    assert.ok(!fx.logText().includes('code='), 'an authorization code reached the log');
  });

  test('a callback with an unknown state, from another browser, or with a provider error is refused', async () => {
    const stranger = await new TestBrowser().open(`${base}/auth/oidc/corp/callback?code=abc&state=nope`);
    assert.equal(stranger.status, 400);
    assert.match(stranger.body, /expired or was not started here/);

    const victim = new TestBrowser();
    victim.intercept = (url) => url.startsWith(`${base}/auth/oidc/corp/callback`);
    const stopped = await completeSignIn(victim, `${base}/auth/oidc/corp/login`, { login: 'mallory' });
    assert.equal(stopped.status, 0, 'the callback should have been intercepted');
    const other = await new TestBrowser().open(stopped.url);
    assert.equal(other.status, 400);
    assert.match(other.body, /started in another browser/);

    const denied = await new TestBrowser().open(`${base}/auth/oidc/corp/callback?error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E&state=x`);
    assert.equal(denied.status, 401);
    assert.match(denied.body, /access_denied \(&#60;b&#62;no&#60;\/b&#62;\)/);
    const json = await fx.app.inject({ method: 'GET', url: '/auth/oidc/nope/login', headers: { accept: 'application/json' } });
    assert.equal(json.statusCode, 404);
    assert.equal(json.json().error.code, 'WARDEN_ERR_NOT_FOUND');
  });

  test('a disabled user cannot sign in to the portal', async () => {
    const at = new Date().toISOString();
    await fx.store.users.setDisabled('corp:mallory@example.com', at, at);
    const browser = new TestBrowser();
    const page = await completeSignIn(browser, `${base}/auth/oidc/corp/login`, { login: 'mallory' });
    assert.equal(page.status, 401);
    assert.match(page.body, /disabled/);
    assert.equal(browser.cookie(`${base}/`, 'warden_token'), undefined);
    await fx.store.users.setDisabled('corp:mallory@example.com', null, at);
  });
});

describe('PendingSignIns', () => {
  test('single use, expiring, bounded', () => {
    let clock = 0;
    const pending = new PendingSignIns(3, () => clock);
    const entry = { provider: 'p', verifier: 'v', nonce: 'n', redirectUri: 'http://127.0.0.1/cb' };
    pending.add('a', entry);
    assert.equal(pending.take('a')?.nonce, 'n');
    assert.equal(pending.take('a'), undefined);
    for (const s of ['b', 'c', 'd', 'e']) pending.add(s, entry);
    assert.equal(pending.size, 3);
    assert.equal(pending.take('b'), undefined, 'the oldest is dropped when full');
    clock = PENDING_TTL_MS + 1;
    assert.equal(pending.take('c'), undefined, 'expired');
    pending.add('f', entry);
    assert.equal(pending.size, 1, 'expired entries are swept on add');
  });
});
