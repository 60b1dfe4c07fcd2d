/**
 * End to end: SAML sign-in with `warden start` as a process, a SAML identity provider built with samlify on loopback
 * and a real PostgreSQL behind Warden. The provider is applied with `warden apply -f`, a person signs in through the
 * browser flow (login -> IdP -> auto-posted form -> ACS -> portal cookie), the portal shows who they are, and the
 * token from the cookie is a psql password whose mapped group (`eng` -> `engineers`) is what the policy allows.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAutoPostForm, startSamlIdp, type SamlUser, type TestSamlIdp } from './harness/saml-idp.js';
import { startStack, type Stack } from './harness/stack.js';

/** Only engineers may read; everything else falls to the default (deny). */
const POLICY = `kind: Policy
name: engineers-read
rules:
  - name: engineers-read
    subjects: { groups: [engineers] }
    match: { classes: [read] }
    effect: allow
`;

let stack: Stack;
let idp: TestSamlIdp;
let dir: string;

/** What a browser does: Warden's login redirect, the IdP's page, its form posted to the ACS. */
async function browserSignIn(user: SamlUser): Promise<{ acs: Response; form: { action: string; fields: Record<string, string> } }> {
  idp.setLogin(user);
  const login = await fetch(`${stack.warden.url}/auth/saml/corp/login`, { redirect: 'manual' });
  assert.equal(login.status, 302, await login.text());
  const page = await fetch(login.headers.get('location')!);
  assert.equal(page.status, 200);
  const form = parseAutoPostForm(await page.text());
  const acs = await post(form);
  return { acs, form };
}

function post(form: { action: string; fields: Record<string, string> }): Promise<Response> {
  return fetch(form.action, { method: 'POST', redirect: 'manual', headers: { accept: 'text/html' }, body: new URLSearchParams(form.fields) });
}

/** The portal token in a response's Set-Cookie headers. */
function portalToken(res: Response): string {
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('warden_token='));
  assert.ok(cookie, 'the portal cookie is set');
  return cookie.slice('warden_token='.length, cookie.indexOf(';'));
}

before(async () => {
  [stack, idp] = await Promise.all([startStack({ policy: POLICY }), startSamlIdp()]);
  dir = await mkdtemp(join(tmpdir(), 'warden-saml-e2e-'));
  const cert = idp.cert.trim().split('\n').map((line) => `      ${line}`).join('\n');
  await writeFile(join(dir, 'corp.yaml'), `kind: IdentityProvider
name: corp
type: saml
description: Corp SSO
entryPoint: ${idp.ssoUrl}
idpIssuer: ${idp.entityId}
idpCert: |
${cert}
groupMap:
  eng: [engineers]
`);
  const applied = await stack.warden.cli(['apply', '-f', join(dir, 'corp.yaml')]);
  assert.equal(applied.code, 0, applied.stderr);
  // The IdP learns Warden's entity id and ACS URL from Warden's own metadata, as an IdP administrator would.
  const metadata = await fetch(`${stack.warden.url}/auth/saml/corp/metadata`);
  assert.equal(metadata.status, 200);
  idp.trust(await metadata.text());
});
after(async () => {
  await Promise.all([stack?.stop(), idp?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('SAML sign-in end to end', () => {
  test('the portal lists the SAML provider', async () => {
    const home = await (await fetch(`${stack.warden.url}/`)).text();
    assert.match(home, /href="\/auth\/saml\/corp\/login"/);
  });

  test('sign in, see yourself on the portal, and use the token with psql under the mapped group', async () => {
    const { acs } = await browserSignIn({ nameId: 'alice', email: 'alice@example.com', groups: ['eng', 'contractors'] });
    assert.equal(acs.status, 303, await acs.text());
    assert.equal(acs.headers.get('location'), '/');
    const token = portalToken(acs);

    const home = await (await fetch(`${stack.warden.url}/`, { headers: { cookie: `warden_token=${token}` } })).text();
    assert.match(home, /<strong id="user">corp:alice<\/strong>/);
    assert.match(home, /<code>engineers<\/code>/);
    assert.doesNotMatch(home, /contractors/, 'unmapped provider groups are dropped');

    const r = await stack.psql(['-c', 'SELECT 40 + 2'], { user: 'corp:alice', token });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '42');

    const { stdout, stderr } = stack.warden.output();
    assert.ok(!`${stdout}${stderr}`.includes(token), 'the token never reaches the log');
  });

  test('a person whose IdP groups map to nothing is refused by the policy at psql login', async () => {
    const { acs } = await browserSignIn({ nameId: 'carol', groups: ['sales'] });
    assert.equal(acs.status, 303);
    const r = await stack.psql(['-c', 'SELECT 1'], { user: 'corp:carol', token: portalToken(acs) });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no policy gives user "corp:carol" access to target "pg-main"/);
    assert.match(r.stderr, /WARDEN_ERR_ACCESS_DENIED/);
  });

  test('posting the same response again is refused with a clear page, and nothing is logged of it', async () => {
    const { acs, form } = await browserSignIn({ nameId: 'alice', groups: ['eng'] });
    assert.equal(acs.status, 303);
    const replay = await post(form);
    assert.equal(replay.status, 401);
    assert.match(await replay.text(), /already used or answers no sign-in started here/);
    assert.equal(replay.headers.getSetCookie().some((c) => c.startsWith('warden_token=')), false);
    const { stdout, stderr } = stack.warden.output();
    assert.ok(!`${stdout}${stderr}`.includes(form.fields.SAMLResponse.slice(0, 40)), 'the response never reaches the log');
  });
});
