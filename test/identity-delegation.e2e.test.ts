/**
 * End to end: service accounts and API keys, RFC 8693 delegation chains, and the kill switch, with `warden start` as
 * a process in front of a real PostgreSQL and real psql sessions. It shows an API key traded for a token; a
 * three-link chain (alice -> planner -> executor) visible on the recorded session and statement; a sub-agent that
 * tries to widen its scope refused; policies matching a link of the chain; and revocation (of the middle link, of a
 * user, of a service account, of one session) ending live psql sessions with a clear message. That they end promptly
 * is shown by construction, not by a stopwatch: the revocation's own answer lists the sessions it ended (they end
 * inside the request, not at the next sweep), and a psql in the middle of `pg_sleep(30)` exits with the termination
 * message while its statement never returns (the kill switch's 1 s sweep is tested in kill-switch.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openPsql } from './harness/live-psql.js';
import { pollUntil } from './harness/poll.js';
import { startStack, type Stack } from './harness/stack.js';

const POLICY = `kind: Policy
name: agents
rules:
  - name: reads-and-writes
    targets: ["pg-*"]
    match: { classes: [read, write] }
    effect: allow
  - name: no-vendor-x
    targets: ["pg-*"]
    subjects: { chain: { actors: ["vendor-x"] } }
    effect: deny
    message: vendor-x may not act on our databases
`;

/** True while the upstream server is running `query` (read as its superuser over the unix socket). */
async function upstreamRuns(stack: Stack, query: string): Promise<boolean> {
  const rows = await stack.superuserRows("SELECT 1 FROM pg_stat_activity WHERE query = $1 AND state = 'active'", [query]);
  return rows.length === 1;
}

/** Waits until `check` is true (polling), failing with `what` after 15 s. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  await pollUntil(what, async () => ((await check()) ? true : undefined), { timeoutMs: 15_000, intervalMs: 50 });
}

describe('identity: service accounts, delegation chains and the kill switch (e2e)', () => {
  let stack: Stack;
  const api = async <T>(method: string, path: string, body?: unknown, token = stack.warden.adminToken) => {
    const res = await fetch(`${stack.warden.url}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() as T };
  };
  const liveSessionOf = async (user: string) => {
    const { body } = await api<Array<{ id: string; subject: string }>>('GET', `/api/sessions?active=true&subject=${user}`);
    return body[0]?.id;
  };
  const cli = (args: string[], token?: string, stdin?: string) =>
    stack.warden.cli(args, { stdin, ...(token ? { env: { WARDEN_TOKEN: token } } : {}) });
  const delegate = async (parentToken: string, ...args: string[]) => {
    const r = await cli(['tokens', 'delegate', ...args], parentToken);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };

  before(async () => {
    stack = await startStack({ policy: POLICY });
  });
  after(async () => {
    await stack?.stop();
  });

  it('an agent trades its API key for a short-lived token; bad, revoked and disabled keys are refused', async () => {
    assert.equal((await cli(['service-accounts', 'create', 'etl', '--kind', 'agent', '--targets', 'pg-*', '--groups', 'etl'])).code, 0);
    const created = await cli(['service-accounts', 'keys', 'create', 'etl']);
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    assert.match(key, /^wk_[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}$/);

    const exchanged = await cli(['service-accounts', 'token', '--key-stdin'], undefined, `${key}\n`);
    assert.equal(exchanged.code, 0, exchanged.stderr);
    const token = exchanged.stdout.trim();
    const r = await stack.psql(['-c', 'SELECT 40 + 2'], { user: 'etl', token });
    assert.equal(r.stdout.trim(), '42', r.stderr);

    // The same exchange as a plain OAuth client-credentials request, and the key only ever as a hash in the store.
    const res = await fetch(`${stack.warden.url}/api/oauth/token`, { method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'etl', client_secret: key, scope: 'target:pg-main' }) });
    const body = await res.json() as { access_token?: string; token_type?: string; expires_in?: number };
    assert.equal(res.status, 200);
    assert.equal(body.token_type, 'Bearer');
    assert.ok(body.expires_in! > 0 && body.expires_in! <= 900);

    const shown = await cli(['service-accounts', 'show', 'etl', '--json']);
    const account = JSON.parse(shown.stdout) as { keys: Array<{ id: string; lastUsedAt: string | null }> };
    assert.ok(account.keys[0].lastUsedAt, 'last use is recorded');
    assert.ok(!shown.stdout.includes(key.split('.')[1]), 'the key secret is never shown again');

    const wrong = await cli(['service-accounts', 'token', '--key-stdin'], undefined, `${key.slice(0, -2)}xx\n`);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /invalid, expired or revoked API key \(invalid_client\)/);
    // Another account's name with this key is refused too.
    const other = await fetch(`${stack.warden.url}/api/oauth/token`, { method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'someone-else', client_secret: key }) });
    assert.equal(other.status, 401);
    assert.equal((await other.json() as { error: string }).error, 'invalid_client');

    assert.equal((await cli(['service-accounts', 'disable', 'etl'])).code, 0);
    const disabled = await cli(['service-accounts', 'token', '--key-stdin'], undefined, `${key}\n`);
    assert.match(disabled.stderr, /service account "etl" is disabled/);
    const refusedLogin = await stack.psql(['-c', 'SELECT 1'], { user: 'etl', token });
    assert.notEqual(refusedLogin.code, 0);
    assert.match(refusedLogin.stderr, /service account "etl" is disabled/);
    assert.equal((await cli(['service-accounts', 'enable', 'etl'])).code, 0);

    assert.equal((await cli(['service-accounts', 'keys', 'revoke', account.keys[0].id])).code, 0);
    const revoked = await cli(['service-accounts', 'token', '--key-stdin'], undefined, `${key}\n`);
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /invalid, expired or revoked API key/);
  });

  it('a three-link chain is recorded on the session and statement; a narrowed class is enforced', async () => {
    const alice = await stack.token('alice', '--groups', 'eng', '--ttl', '1h');
    const planner = await delegate(alice, '--to', 'planner', '--ttl', '30m');
    const executor = await delegate(planner, '--to', 'executor', '--targets', 'pg-main', '--classes', 'read', '--ttl', '10m');

    const read = await stack.psql(['-c', "SELECT 'chain ok'"], { user: 'executor', token: executor });
    assert.equal(read.stdout.trim(), 'chain ok', read.stderr);
    const write = await stack.psql(['-c', 'CREATE TEMP TABLE t (x int)'], { user: 'executor', token: executor });
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /this token may only run read statements \(this one is ddl\)/);

    const { body: sessions } = await api<Array<{ id: string; chain: Array<{ id: string; kind: string }>; subjectKind: string }>>(
      'GET', '/api/sessions?subject=executor');
    // Newest first: the read ran in the older of the two sessions.
    const session = sessions.filter((s) => s.chain.length > 0).at(-1)!;
    assert.deepEqual(session.chain, [{ id: 'alice', kind: 'user' }, { id: 'planner', kind: 'agent' }]);
    assert.equal(session.subjectKind, 'agent');
    const shown = await cli(['sessions', 'show', session.id]);
    assert.match(shown.stdout, /chain +alice \(user\) -> planner \(agent\) -> executor\n/);
    assert.match(shown.stdout, /SELECT 'chain ok'/);

    // The JWT itself carries the chain in RFC 8693's nested act claim, origin in sub.
    const claims = JSON.parse(Buffer.from(executor.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
    assert.equal(claims.sub, 'alice');
    assert.deepEqual(claims.act, { sub: 'executor', kind: 'agent', act: { sub: 'planner', kind: 'agent' } });
  });

  it('a delegated token can never widen its scope', async () => {
    const alice = await stack.token('alice', '--targets', 'pg-*', '--ttl', '1h');
    const planner = await delegate(alice, '--to', 'planner', '--targets', 'pg-main', '--classes', 'read,write', '--ttl', '20m');
    for (const [args, message] of [
      [['--targets', '*'], /target "\*" is outside the parent's targets/],
      [['--targets', 'pg-*'], /target "pg-\*" is outside the parent's targets/],
      [['--classes', 'ddl'], /statement class "ddl" is not allowed to the parent/],
      [['--groups', 'warden-admins'], /group "warden-admins" is not one of the parent's/],
      [['--ttl', '2h'], /outlives the parent token/],
      [['--to', 'alice'], /already in the delegation chain/],
    ] as const) {
      const r = await cli(['tokens', 'delegate', '--to', 'sub', ...args], planner);
      assert.equal(r.code, 1, `${args.join(' ')} must be refused`);
      assert.match(r.stderr, message);
    }
    // A delegated token with no admin group cannot use the admin API either.
    const sub = await delegate(planner, '--to', 'sub');
    const r = await cli(['tokens', 'create', '--user', 'mallory', '--groups', 'warden-admins'], sub);
    assert.match(r.stderr, /WARDEN_ERR_FORBIDDEN/);
  });

  it('a policy matches any link of the chain; a sub-agent cannot take a registered name', async () => {
    assert.equal((await cli(['service-accounts', 'create', 'vendor-x', '--targets', 'pg-*'])).code, 0);
    const key = (await cli(['service-accounts', 'keys', 'create', 'vendor-x'])).stdout.trim();
    const vendor = (await cli(['service-accounts', 'token', '--key-stdin'], undefined, `${key}\n`)).stdout.trim();
    const helper = await delegate(vendor, '--to', 'helper');
    const r = await stack.psql(['-c', 'SELECT 1'], { user: 'helper', token: helper });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /vendor-x may not act on our databases/);

    // Posing as the service account (or anyone with a name of their own) through delegation is refused.
    const bob = await stack.token('bob', '--ttl', '1h');
    for (const name of ['vendor-x', 'alice']) {
      const posed = await cli(['tokens', 'delegate', '--to', name], bob);
      assert.equal(posed.code, 1);
      assert.match(posed.stderr, /a sub-agent needs a name of its own/);
    }
  });

  it('revoking the middle link ends the sub-agent\'s live psql session in the middle of its statement', async () => {
    const alice = await stack.token('alice', '--ttl', '1h');
    const plannerR = await cli(['tokens', 'delegate', '--to', 'planner2', '--json'], alice);
    const planner = JSON.parse(plannerR.stdout) as { token: string; id: string };
    const executor = await delegate(planner.token, '--to', 'executor2');

    const psql = openPsql(stack, 'executor2', executor);
    psql.send("SELECT 'connected';");
    await until('the sub-agent session', () => psql.output().includes('connected'));
    const sessionId = (await liveSessionOf('executor2'))!;
    psql.send("SELECT pg_sleep(30), 'slept';");
    await until('the statement to run upstream', () => upstreamRuns(stack, "SELECT pg_sleep(30), 'slept';"));

    const before = psql.output();
    const { status, body } = await api<{ revokedIds: string[]; sessionsEnded: string[] }>('POST', '/api/tokens/revoke', { id: planner.id });
    assert.equal(status, 200);
    assert.equal(body.revokedIds.length, 2, 'the middle link and the token delegated from it');
    // Ended by the revocation itself, before it answered: not left to the sweep, nor to the statement's end.
    assert.deepEqual(body.sessionsEnded, [sessionId]);
    // psql, still waiting on pg_sleep(30), hears the termination and exits; the statement never returns a row.
    // (The deadline only bounds a failing run; it is well inside the statement's 30 s.)
    await pollUntil('psql to exit', () => (psql.child.exitCode === null ? undefined : psql.child.exitCode), { timeoutMs: 10_000 });
    assert.match(psql.output(), /terminating connection: Warden token revoked/);
    assert.doesNotMatch(psql.output().slice(before.length), /slept/, 'the statement did not return');

    const again = await stack.psql(['-c', 'SELECT 1'], { user: 'executor2', token: executor });
    assert.match(again.stderr, /Warden token revoked/);
    const alive = await stack.psql(['-c', "SELECT 'alice still here'"], { user: 'alice', token: alice });
    assert.equal(alive.stdout.trim(), 'alice still here', 'links above the revoked one keep working');
    await until('the termination event', async () => {
      const { body: found } = await api<{ events: Array<{ type: string; data: { reason?: string } }> }>('GET', `/api/sessions/${sessionId}`);
      return found.events.some((e) => e.type === 'session.terminated' && /revoked/.test(e.data.reason ?? ''));
    });
  });

  it('disabling a user ends its sessions and those of agents acting for it, and refuses new ones', async () => {
    const carol = await stack.token('carol', '--ttl', '1h');
    const agent = await delegate(carol, '--to', 'carols-agent');
    const own = openPsql(stack, 'carol', carol);
    const delegated = openPsql(stack, 'carols-agent', agent);
    own.send("SELECT 'a';");
    delegated.send("SELECT 'b';");
    await until('both sessions', () => own.output().includes('a') && delegated.output().includes('b'));

    const r = await cli(['users', 'disable', 'carol']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /user carol disabled; 2 live session\(s\) ended/);
    await until('both sessions ended', async () => !(await liveSessionOf('carol')) && !(await liveSessionOf('carols-agent')));
    await Promise.all([own.poke(), delegated.poke()]);
    assert.match(own.output(), /terminating connection: user "carol" was disabled/);
    assert.match(delegated.output(), /terminating connection: user "carol" was disabled/);
    const refused = await stack.psql(['-c', 'SELECT 1'], { user: 'carol', token: carol });
    assert.match(refused.stderr, /user "carol" is disabled/);
    const list = await cli(['users', 'list']);
    assert.match(list.stdout, /carol .*disabled/);

    assert.equal((await cli(['users', 'enable', 'carol'])).code, 0);
    const back = await stack.psql(['-c', "SELECT 'back'"], { user: 'carol', token: carol });
    assert.equal(back.stdout.trim(), 'back', back.stderr);
  });

  it('sessions kill ends one session; --let-statements-finish lets the running statement finish first', async () => {
    const dave = await stack.token('dave', '--ttl', '1h');
    const killed = openPsql(stack, 'dave', dave);
    killed.send("SELECT 'up';");
    await until('the session', () => killed.output().includes('up'));
    const id = (await liveSessionOf('dave'))!;
    const r = await cli(['sessions', 'kill', id]);
    assert.equal(r.code, 0, r.stderr);
    await until('the session ended', async () => !(await liveSessionOf('dave')));
    await killed.poke();
    assert.match(killed.output(), /terminating connection: session killed by an administrator/);
    assert.match((await cli(['sessions', 'kill', id])).stderr, /no live session/);

    const graceful = openPsql(stack, 'dave', dave);
    graceful.send("SELECT 'up2';");
    await until('the second session', () => graceful.output().includes('up2'));
    const id2 = (await liveSessionOf('dave'))!;
    graceful.send("SELECT pg_sleep(1.5), 'finished';");
    await until('the statement to run upstream', () => upstreamRuns(stack, "SELECT pg_sleep(1.5), 'finished';"));
    assert.equal((await cli(['sessions', 'kill', id2, '--let-statements-finish'])).code, 0);
    await until('the statement to finish and the session to end', async () => !(await liveSessionOf('dave')));
    await graceful.poke();
    assert.match(graceful.output(), /\|finished/, 'the running statement returned its result');
    assert.match(graceful.output(), /terminating connection: session killed by an administrator/);
  });
});
