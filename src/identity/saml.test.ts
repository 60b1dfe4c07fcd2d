/**
 * SAML sign-in (saml.ts) against a real SAML identity provider built with samlify (test/harness/saml-idp.ts): every
 * response is produced by the IdP from the AuthnRequest Warden generated, then validated by Warden. One accepted
 * sign-in, and each way a response must be refused, one fact bent at a time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WardenError } from '../errors.js';
import { startSamlIdp, type ResponseTweaks, type SamlUser, type TestSamlIdp } from '../../test/harness/saml-idp.js';
import { identityProviderSchema, normalizeProvider, type SamlProvider } from './providers.js';
import { SamlSignIn, samlEndpoints } from './saml.js';

const PUBLIC_URL = 'http://warden.test:8080';
const ALICE: SamlUser = { nameId: 'alice', email: 'alice@example.com', displayName: 'Alice Liddell', groups: ['eng', 'oncall'] };

let idp: TestSamlIdp;

function provider(over: Record<string, unknown> = {}): SamlProvider {
  const doc = identityProviderSchema.parse({ kind: 'IdentityProvider', name: 'corp', type: 'saml', entryPoint: idp.ssoUrl,
    idpCert: idp.cert, ...over });
  return normalizeProvider(doc) as SamlProvider;
}

/** Runs one SP-initiated sign-in: Warden's AuthnRequest, the IdP's (possibly bent) response, Warden's verdict. */
async function signIn(saml: SamlSignIn, p: SamlProvider, tweaks: ResponseTweaks = {}, user = ALICE) {
  const { url } = await saml.authorize(p, PUBLIC_URL, '/');
  const response = await idp.login(url, user, tweaks);
  return { response, result: saml.verify(p, PUBLIC_URL, response.SAMLResponse) };
}

async function refused(saml: SamlSignIn, p: SamlProvider, tweaks: ResponseTweaks, why: RegExp): Promise<void> {
  const { result } = await signIn(saml, p, tweaks);
  await assert.rejects(result, (err: unknown) => {
    assert.ok(err instanceof WardenError, String(err));
    assert.equal(err.code, 'WARDEN_ERR_UNAUTHENTICATED');
    assert.match(err.message, why);
    assert.match(err.message, /^SAML sign-in with "corp" refused: /);
    return true;
  });
}

before(async () => {
  idp = await startSamlIdp();
  idp.trust(new SamlSignIn().metadata(provider(), PUBLIC_URL));
});
after(async () => idp?.close());

describe('SAML sign-in with a samlify IdP', () => {
  test('a signed assertion yields the user, email, display name and every group', async () => {
    const saml = new SamlSignIn();
    const { response, result } = await signIn(saml, provider());
    assert.deepEqual(await result, { name: 'alice', email: 'alice@example.com', displayName: 'Alice Liddell', groups: ['eng', 'oncall'] });
    assert.equal(response.acsUrl, `${PUBLIC_URL}/auth/saml/corp/acs`);
    assert.equal(response.RelayState, '/');
  });

  test('the AuthnRequest goes to the entry point by HTTP-Redirect and names our entity and ACS', async () => {
    const { url: href, requestId } = await new SamlSignIn().authorize(provider(), PUBLIC_URL, '/next');
    const url = new URL(href);
    assert.match(requestId, /^_[0-9a-f]{40}$/);
    assert.equal(`${url.origin}${url.pathname}`, idp.ssoUrl);
    assert.ok(url.searchParams.get('SAMLRequest'));
    assert.equal(url.searchParams.get('RelayState'), '/next');
  });

  test('usernameAttribute picks the user name from an attribute instead of the NameID', async () => {
    const saml = new SamlSignIn();
    const p = provider({ usernameAttribute: 'uid', groupsAttribute: 'memberOf' });
    const groups = Array.from({ length: 12 }, (_, i) => `group-${i}`);
    const { result } = await signIn(saml, p, {}, { nameId: 'opaque-123', attributes: { uid: ['bob'], memberOf: groups } });
    assert.deepEqual(await result, { name: 'bob', email: null, displayName: null, groups });
  });

  test('a response whose assertion is not signed is refused, even inside a signed Response', async () => {
    await refused(new SamlSignIn(), provider(), { signing: 'response-only' }, /not signed by the identity provider/);
    await refused(new SamlSignIn(), provider(), { signing: 'none' }, /not signed by the identity provider/);
  });

  test('an assertion signed with another key is refused', async () => {
    await refused(new SamlSignIn(), provider(), { key: 'other' }, /not signed by the identity provider/);
  });

  test('a provider configured with another certificate refuses the real IdP', async () => {
    await refused(new SamlSignIn(), provider({ idpCert: [idp.otherCert] }), {}, /not signed by the identity provider/);
  });

  test('an assertion for another audience is refused', async () => {
    await refused(new SamlSignIn(), provider(), { audience: 'some-other-sp' }, /meant for another service/);
  });

  test('an expired assertion is refused (NotOnOrAfter past beyond the skew)', async () => {
    await refused(new SamlSignIn(), provider(), { clockOffsetMs: -10 * 60_000 }, /outside its validity period/);
  });

  test('an IdP clock a bit off, within clockSkew, is accepted either way', async () => {
    const saml = new SamlSignIn();
    // 30 s ahead: NotBefore is in our future.
    assert.equal((await (await signIn(saml, provider(), { clockOffsetMs: 30_000 })).result).name, 'alice');
    // Behind so far that NotOnOrAfter passed 20 s ago.
    assert.equal((await (await signIn(saml, provider(), { clockOffsetMs: -320_000, lifetimeMs: 300_000 })).result).name, 'alice');
  });

  test('the same offset is refused when clockSkew is smaller than it', async () => {
    await refused(new SamlSignIn(), provider({ clockSkew: '5s' }), { clockOffsetMs: 30_000 }, /outside its validity period/);
  });

  test('an unsolicited response (no InResponseTo, or an id we never sent) is refused', async () => {
    await refused(new SamlSignIn(), provider(), { inResponseTo: null }, /answers no sign-in started here/);
    await refused(new SamlSignIn(), provider(), { inResponseTo: '_never-sent' }, /answers no sign-in started here/);
  });

  test('a request id started by another Warden process (another SamlSignIn) is unknown here', async () => {
    const { url } = await new SamlSignIn().authorize(provider(), PUBLIC_URL, '/');
    const response = await idp.login(url, ALICE);
    await assert.rejects(new SamlSignIn().verify(provider(), PUBLIC_URL, response.SAMLResponse), /answers no sign-in started here/);
  });

  test('a response is accepted once: a replay, even concurrent, is refused', async () => {
    const saml = new SamlSignIn();
    const p = provider();
    const { response, result } = await signIn(saml, p);
    assert.equal((await result).name, 'alice');
    await assert.rejects(saml.verify(p, PUBLIC_URL, response.SAMLResponse), /already used/);

    const second = await signIn(saml, p);
    await second.result;
    const { url } = await saml.authorize(p, PUBLIC_URL, '/');
    const fresh = await idp.login(url, ALICE);
    const outcomes = await Promise.allSettled([1, 2, 3].map(() => saml.verify(p, PUBLIC_URL, fresh.SAMLResponse)));
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, 'exactly one of three concurrent copies wins');
  });

  test('bound to a browser\'s request, only the response to that request is accepted; the browser\'s own stays usable', async () => {
    const saml = new SamlSignIn();
    const p = provider();
    const mine = await saml.authorize(p, PUBLIC_URL, '/');
    for (const bound of [mine.requestId, '']) {
      const theirs = await saml.authorize(p, PUBLIC_URL, '/');
      const theirResponse = await idp.login(theirs.url, { nameId: 'mallory' });
      assert.equal(theirResponse.requestId, theirs.requestId);
      await assert.rejects(saml.verify(p, PUBLIC_URL, theirResponse.SAMLResponse, bound), /started in another browser/);
    }
    const myResponse = await idp.login(mine.url, ALICE);
    assert.equal((await saml.verify(p, PUBLIC_URL, myResponse.SAMLResponse, mine.requestId)).name, 'alice');
  });

  test('idpIssuer: the configured issuer is accepted, any other refused', async () => {
    const saml = new SamlSignIn();
    assert.equal((await (await signIn(saml, provider({ idpIssuer: idp.entityId }))).result).name, 'alice');
    await refused(saml, provider({ idpIssuer: idp.entityId }), { issuer: 'https://evil.example/idp' }, /another identity provider/);
  });

  test('a response without a NameID value is refused with a clear reason', async () => {
    await refused(new SamlSignIn(), provider({ usernameAttribute: 'uid' }), {}, /carries no user name \(attribute "uid"\)/);
  });

  test('garbage in SAMLResponse is refused, not a crash', async () => {
    await assert.rejects(new SamlSignIn().verify(provider(), PUBLIC_URL, 'bm90IHhtbA=='), /refused: the SAML response is invalid/);
  });

  test('SP metadata names the entity, the ACS URL and asks for signed assertions', () => {
    const xml = new SamlSignIn().metadata(provider({ spEntityId: 'https://warden.example/saml' }), PUBLIC_URL);
    assert.match(xml, /entityID="https:\/\/warden\.example\/saml"/);
    assert.match(xml, /WantAssertionsSigned="true"/);
    assert.ok(xml.includes(`Location="${samlEndpoints(PUBLIC_URL, 'corp').acs}"`));
  });
});

describe('SAML provider schema', () => {
  const doc = (over: Record<string, unknown>) => identityProviderSchema.safeParse({ kind: 'IdentityProvider', name: 'corp', type: 'saml',
    entryPoint: 'https://idp.example/sso', idpCert: idp.cert, ...over });

  test('idpCert must be a certificate, as PEM or as its bare base64 body', () => {
    const body = idp.cert.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    assert.equal(doc({ idpCert: body }).success, true);
    assert.equal(doc({ idpCert: [idp.cert, idp.otherCert] }).success, true);
    for (const bad of ['not a certificate', body.slice(0, 100), [idp.cert, 'junk']]) {
      const parsed = doc({ idpCert: bad });
      assert.equal(parsed.success, false);
      assert.match(JSON.stringify(parsed.error?.issues), /must be a PEM certificate/);
    }
  });

  test('clockSkew is a duration of at most 10m', () => {
    assert.equal(doc({ clockSkew: '10m' }).success, true);
    for (const bad of ['11m', '1d', 'soon']) assert.equal(doc({ clockSkew: bad }).success, false, bad);
  });
});
