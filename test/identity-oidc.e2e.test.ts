/**
 * End to end: people sign in with OIDC. `warden start` as a process in front of a real PostgreSQL, a real OpenID
 * Provider on loopback (oidc-provider) applied with `warden apply -f` as an IdentityProvider, the real `warden login`
 * CLI (code flow with a loopback redirect, device flow, refresh) driven through the provider's own pages by a
 * cookie-keeping HTTP client, real `psql` with the token, group mapping reaching a policy decision, the portal's
 * browser sign-in, and a disabled user refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestBrowser } from './harness/browser.js';
import { spawnCli } from './harness/cli-process.js';
import { cliClient, completeSignIn, portalClient, startIdp, type TestIdp } from './harness/oidc.js';
import { pollUntil } from './harness/poll.js';
import { startStack, type Stack } from './harness/stack.js';

const SECRET = 'portal-secret-e2e-0123456789';
const POLICY = `kind: Policy
name: engineers-read
rules:
  - name: engineers-read
    targets: ["pg-*"]
    subjects: { groups: [engineers] }
    match: { classes: [read] }
    effect: allow
`;

let stack: Stack;
let idp: TestIdp;
const dirs: string[] = [];

before(async () => {
  stack = await startStack({ policy: POLICY });
  idp = await startIdp({
    accounts: [
      { id: 'alice', email: 'alice@example.com', groups: ['eng'] },
      { id: 'carol', email: 'carol@example.com', groups: ['eng'] },
      { id: 'bob', email: 'bob@example.com', groups: ['contractors'] },
      { id: 'dora', email: 'dora@example.com', groups: ['eng'] },
      // As some providers send it: a string, and it says false.
      { id: 'eve', email: 'alice@example.com', emailVerified: 'false', groups: ['eng'] },
    ],
    clients: [portalClient([`${stack.warden.url}/auth/oidc/corp/callback`], SECRET), cliClient(), cliClient('warden-cli-short')],
  });
  await stack.warden.applyPolicy(`kind: IdentityProvider
name: corp
type: oidc
issuer: ${idp.issuer}
clientId: warden-portal
clientSecret: ${SECRET}
cliClientId: warden-cli
scopes: [openid, email, profile, groups]
groupMap: { eng: [engineers] }
---
kind: IdentityProvider
name: corp-short
type: oidc
issuer: ${idp.issuer}
clientId: warden-cli-short
scopes: [openid, email, profile, groups]
groupMap: { eng: [engineers] }
tokenTtl: 10s
`);
});
after(async () => {
  await stack?.stop();
  await idp?.stop();
  // The harness leaves Warden's data dir behind; this test owns it.
  if (stack) dirs.push(stack.warden.dataDir);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A fresh config home for one person's CLI. */
async function home(): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-login-'));
  dirs.push(dir);
  // No WARDEN_TOKEN: the stored login must be what the CLI uses.
  return { XDG_CONFIG_HOME: dir, WARDEN_URL: stack.warden.url, WARDEN_TOKEN: '' };
}

/** `warden login` (code flow, --no-browser) completed in the provider's pages as `login`; returns the CLI's result. */
async function codeLogin(env: Record<string, string>, login: string, provider = 'corp') {
  const cli = spawnCli(['login', '--provider', provider, '--no-browser'], env);
  try {
    const [, url] = await cli.waitForStderr(/^ {2}(http:\/\/\S+)$/m);
    const tab = await completeSignIn(new TestBrowser(), url, { login });
    return { ...(await cli.result), tab };
  } finally {
    cli.kill();
  }
}

async function loginToken(env: Record<string, string>): Promise<string> {
  const r = await stack.warden.cli(['login', 'token'], { env });
  assert.equal(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.equal(r.stdout, `${token}\n`, 'the token is printed alone');
  return token;
}

async function stored(env: Record<string, string>) {
  return JSON.parse(await readFile(join(env.XDG_CONFIG_HOME, 'warden', 'credentials.json'), 'utf8')) as
    { token: string; expiresAt: string; refreshToken: string | null; user: string; groups: string[] };
}

describe('warden login', () => {
  test('several providers: login names them and asks for --provider', async () => {
    const r = await stack.warden.cli(['login', '--no-browser'], { env: await home() });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /choose one with --provider \(corp, corp-short\)/);
  });

  test('a. code flow: the token works with psql as that user; the file is private; other commands use it', async () => {
    const env = await home();
    const r = await codeLogin(env, 'alice');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.tab.body, /Signed in to Warden as corp:alice@example\.com/);
    assert.match(r.stderr, /Signed in to .* as corp:alice@example\.com \(groups: engineers\)/);
    const file = join(env.XDG_CONFIG_HOME, 'warden', 'credentials.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(env.XDG_CONFIG_HOME, 'warden'))).mode & 0o777, 0o700);
    const saved = await stored(env);
    assert.ok(saved.refreshToken, 'the provider issued a refresh token');
    assert.ok(!r.stderr.includes(saved.token) && !r.stdout.includes(saved.token), 'login printed the token');

    const token = await loginToken(env);
    assert.equal(token, saved.token, 'a token with an hour left is not refreshed');
    const q = await stack.psql(['-c', "SELECT 'hello ' || current_user IS NOT NULL"], { user: 'corp:alice@example.com', token });
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout.trim(), 't');

    // The stored login is the CLI's credential now: alice is no admin, so an admin route says forbidden (not "no token").
    const list = await stack.warden.cli(['tokens', 'list'], { env });
    assert.equal(list.code, 1);
    assert.match(list.stderr, /WARDEN_ERR_FORBIDDEN/);

    const out = await stack.warden.cli(['logout'], { env });
    assert.equal(out.code, 0, out.stderr);
    const again = await stack.warden.cli(['login', 'token'], { env });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not signed in/);

    // Logout revoked the provider's refresh token: an old copy of the file, expired, cannot be refreshed.
    await mkdir(join(env.XDG_CONFIG_HOME, 'warden'), { recursive: true });
    await writeFile(join(env.XDG_CONFIG_HOME, 'warden', 'credentials.json'),
      JSON.stringify({ ...saved, expiresAt: new Date(Date.now() - 1000).toISOString() }), { mode: 0o600 });
    const stale = await stack.warden.cli(['login', 'token'], { env });
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /refused to refresh your sign-in \(invalid_grant.*run `warden login`/);
    assert.ok(!stale.stderr.includes(saved.refreshToken!), 'the refresh token was printed');
  });

  test('b. device flow: the code is entered on the provider\'s device page', async () => {
    const env = await home();
    const cli = spawnCli(['login', '--provider', 'corp', '--device'], env);
    try {
      const [, uri, code] = await cli.waitForStderr(/open (http:\/\/\S+) in a browser and enter the code:\n {2}(\S+)\n/);
      const done = await completeSignIn(new TestBrowser(), uri, { login: 'carol', userCode: code });
      assert.match(done.body, /Sign-in Success/);
      const r = await cli.result;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /as corp:carol@example\.com \(groups: engineers\)/);
    } finally {
      cli.kill();
    }
    const token = await loginToken(env);
    const q = await stack.psql(['-c', 'SELECT 2'], { user: 'corp:carol@example.com', token });
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout.trim(), '2');
  });

  test('c. group mapping decides: an engineer reads, an unmapped contractor is refused', async () => {
    const env = await home();
    const r = await codeLogin(env, 'bob');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /as corp:bob@example\.com \(groups: none\)/);
    const token = await loginToken(env);
    const q = await stack.psql(['-c', 'SELECT 1'], { user: 'corp:bob@example.com', token });
    assert.notEqual(q.code, 0);
    const err = await stack.client({ user: 'corp:bob@example.com', password: token }).then(async (c) => {
      try {
        await c.query('SELECT 1');
        return undefined;
      } finally {
        await c.end();
      }
    }, (e: { code?: string }) => e);
    // The README: a caller no rule could ever let in is refused at login with SQLSTATE 28000.
    assert.equal(err?.code, '28000', JSON.stringify(err));
  });

  test('d. refresh: after the first token expired, `warden login token` gives a new valid one without a new login', async () => {
    const env = await home();
    const r = await codeLogin(env, 'alice', 'corp-short');
    assert.equal(r.code, 0, r.stderr);
    const first = await stored(env);
    // Warden accepts 5 s of clock skew on its own tokens: poll until it refuses the first one as expired.
    const dead = await pollUntil('the first token to expire', async () => {
      const q = await stack.psql(['-c', 'SELECT 1'], { user: 'corp-short:alice@example.com', token: first.token });
      // Within the skew the login still passes, and the statement is then refused because the session's token has
      // expired (sessions end with their token); wait for the login itself to be refused.
      return q.code === 0 || /this session was opened with expired/.test(q.stderr) ? undefined : q;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    assert.match(dead.stderr, /Warden token expired/);

    const token = await loginToken(env);
    assert.notEqual(token, first.token);
    const q = await stack.psql(['-c', 'SELECT 3'], { user: 'corp-short:alice@example.com', token });
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout.trim(), '3');
    const second = await stored(env);
    assert.equal(second.token, token, 'the refreshed token is saved');
    assert.notEqual(second.refreshToken, first.refreshToken, 'the rotated refresh token is saved');
  });
});

describe('portal and refusals', () => {
  test('e. portal sign-in through the provider: the cookie is set and / shows the user', async () => {
    const browser = new TestBrowser();
    const providers = await browser.open(`${stack.warden.url}/`);
    assert.match(providers.body, /href="\/auth\/oidc\/corp\/login"/);
    const home = await completeSignIn(browser, `${stack.warden.url}/auth/oidc/corp/login`, { login: 'alice' });
    assert.equal(home.status, 200);
    assert.match(home.body, /Signed in as <strong id="user">corp:alice@example\.com<\/strong>/);
    assert.match(home.body, /<code>engineers<\/code>/);
    assert.ok(browser.cookie(`${stack.warden.url}/`, 'warden_token'));
    const log = stack.warden.output();
    assert.ok(!`${log.stdout}${log.stderr}`.includes(browser.cookie(`${stack.warden.url}/`, 'warden_token')!), 'token in the log');
  });

  test('g. an email the provider sends as email_verified: "false" is not verified: no sign-in as its owner', async () => {
    const env = await home();
    const r = await codeLogin(env, 'eve');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /email is not verified/);
    const browser = new TestBrowser();
    const page = await completeSignIn(browser, `${stack.warden.url}/auth/oidc/corp/login`, { login: 'eve' });
    assert.equal(page.status, 401);
    assert.equal(browser.cookie(`${stack.warden.url}/`, 'warden_token'), undefined);
  });

  test('f. a disabled user is refused by warden login and by the portal', async () => {
    // dora has never signed in: disabling her name in advance needs --force (a name nobody has is likely a typo).
    const unknown = await stack.warden.cli(['users', 'disable', 'corp:dora@example.com']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no user "corp:dora@example\.com" is known to Warden/);
    const disabled = await stack.warden.cli(['users', 'disable', 'corp:dora@example.com', '--force']);
    assert.equal(disabled.code, 0, disabled.stderr);
    const env = await home();
    const r = await codeLogin(env, 'dora');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /disabled.*WARDEN_ERR_PRINCIPAL_DISABLED/);
    assert.match(r.tab.body, /Sign-in failed: .*disabled/);
    const browser = new TestBrowser();
    const page = await completeSignIn(browser, `${stack.warden.url}/auth/oidc/corp/login`, { login: 'dora' });
    assert.equal(page.status, 401);
    assert.match(page.body, /corp:dora@example\.com.* is disabled/);
    assert.equal(browser.cookie(`${stack.warden.url}/`, 'warden_token'), undefined);
  });
});
