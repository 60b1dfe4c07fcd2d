/**
 * End to end (issue 9 items 4, 8, 11, 16, 18), `warden start` as a process in front of a real PostgreSQL, driven
 * with real psql and the CLI:
 *  - delegation only narrows: a sub-agent delegated without the `masked` group still reads masked values, and one
 *    delegated without the `agents` group still needs approval for its UPDATE (the row stays unchanged when denied);
 *  - a service account in the approvers' group cannot approve;
 *  - mallory cannot take alice's sub-agent name through RFC 8693 token exchange;
 *  - revoking an API key ends the live session of a token traded for it;
 *  - a session ends when its token expires, after a NOTICE in psql, recorded as session.terminated with the reason;
 *    an idle session (a raw client that sends nothing) gets that NOTICE pushed when it falls due.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openPsql as openLivePsql } from './harness/live-psql.js';
import { errorFields, rawLogin } from './harness/raw-pg.js';
import { startStack, type Stack } from './harness/stack.js';

const EMAIL = 'carla.customer@example.com';
const CARD = '4111111111111111';

const POLICY = `kind: Policy
name: narrowing
rules:
  - name: agents-write-approval
    targets: ["pg-*"]
    subjects: { groups: [agents] }
    match: { classes: [write] }
    effect: require_approval
    approvers: { groups: [dba] }
    timeout: 2m
  - name: reads-and-writes
    targets: ["pg-*"]
    match: { classes: [read, write] }
    effect: allow
  - name: mask-for-masked
    targets: ["pg-*"]
    subjects: { groups: [masked] }
    mask:
      - columns: ["public.customers.email", "public.customers.card_number"]
        strategy: redact
      - detectors: [email, card]
        strategy: redact
`;

let stack: Stack;

const rows = (sql: string): Promise<unknown[]> => stack.superuserRows(sql);

/** Waits until `check` is true (polling), failing with `what` after 20 s. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const openPsql = (user: string, token: string) => openLivePsql(stack, user, token);

const cli = (args: string[], token?: string, stdin?: string) =>
  stack.warden.cli(args, { stdin, ...(token ? { env: { WARDEN_TOKEN: token } } : {}) });
async function delegate(parent: string, ...args: string[]): Promise<string> {
  const r = await cli(['tokens', 'delegate', ...args], parent);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}
async function events(subject: string): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
  const list = JSON.parse((await cli(['sessions', 'list', '--json', '--subject', subject])).stdout) as { id: string }[];
  const all = [];
  for (const s of list) all.push(...(JSON.parse((await cli(['sessions', 'show', s.id, '--json'])).stdout).events));
  return all;
}

before(async () => {
  stack = await startStack({ policy: POLICY });
  await rows(`CREATE TABLE public.customers (id int PRIMARY KEY, name text, email text, card_number text);
    INSERT INTO public.customers VALUES (1, 'Carla', '${EMAIL}', '${CARD}');
    ALTER TABLE public.customers OWNER TO ${stack.pg.scram.user}`);
});
after(async () => stack?.stop());

describe('delegation only narrows (item 4)', () => {
  it('a sub-agent delegated without the masked group still reads masked values', async () => {
    const ana = await stack.token('ana', '--groups', 'masked,analysts');
    const sub = await delegate(ana, '--to', 'ana-reader', '--groups', 'analysts');
    const claims = JSON.parse(Buffer.from(sub.split('.')[1], 'base64url').toString()) as { groups: string[] };
    assert.deepEqual(claims.groups, ['analysts'], 'the token really was narrowed');
    const r = await stack.psql(['-c', 'SELECT name, email, card_number FROM customers'], { user: 'ana-reader', token: sub });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'Carla|[REDACTED]|[REDACTED]');
    assert.ok(!r.stdout.includes(EMAIL) && !r.stdout.includes(CARD), 'a clear value reached the sub-agent');
    const recorded = JSON.stringify(await events('ana-reader'));
    assert.ok(!recorded.includes(EMAIL) && !recorded.includes(CARD), 'a clear value reached the recording');
    // Control: the mask is group-bound (someone never in `masked` reads clear values).
    const clear = await stack.psql(['-c', 'SELECT email FROM customers'], { user: 'bea', token: await stack.token('bea', '--groups', 'analysts') });
    assert.equal(clear.stdout.trim(), EMAIL);
  });

  it('a sub-agent delegated without the agents group still needs approval to UPDATE; a service account cannot approve (item 16)', async () => {
    const bob = await stack.token('bob', '--groups', 'agents,eng');
    const sub = await delegate(bob, '--to', 'bob-writer', '--groups', 'eng');
    const dora = await stack.token('dora', '--groups', 'dba');
    assert.equal((await cli(['service-accounts', 'create', 'approver-bot', '--groups', 'dba'])).code, 0);
    const key = (await cli(['service-accounts', 'keys', 'create', 'approver-bot'])).stdout.trim();
    const bot = (await cli(['service-accounts', 'token', '--key-stdin'], undefined, `${key}\n`)).stdout.trim();

    const update = "UPDATE customers SET name = 'changed' WHERE id = 1";
    const running = stack.psql(['-c', update], { user: 'bob-writer', token: sub });
    let id = '';
    await until('an approval request for the UPDATE', async () => {
      const list = JSON.parse((await cli(['approvals', 'list', '--json'], dora)).stdout) as Array<{ id: string; statement: string; requester: string }>;
      id = list.find((p) => p.statement === update && p.requester === 'bob-writer')?.id ?? '';
      return id !== '';
    });
    const byBot = await cli(['approvals', 'approve', id], bot);
    assert.equal(byBot.code, 1);
    assert.match(byBot.stderr, /a service account cannot approve requests/);
    assert.equal((await cli(['approvals', 'deny', id, '--comment', 'no'], dora)).code, 0);
    const r = await running;
    assert.notEqual(r.code, 0);
    assert.deepEqual(await rows('SELECT name FROM customers WHERE id = 1'), [{ name: 'Carla' }], 'the row is unchanged');
    assert.equal(stack.pg.log().includes(update), false, 'the UPDATE never reached the server');
  });
});

describe('a sub-agent name belongs to its origin (item 8)', () => {
  it('mallory cannot become alice\'s helper through token exchange', async () => {
    const alice = await stack.token('alice', '--groups', 'eng');
    await delegate(alice, '--to', 'alices-helper');
    const mallory = await stack.token('mallory');
    const res = await fetch(`${stack.warden.url}/api/oauth/token`, { method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: mallory,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', actor: 'alices-helper' }) });
    const body = await res.json() as { error?: string; error_description?: string; access_token?: string };
    assert.equal(res.status, 400);
    assert.equal(body.access_token, undefined);
    assert.match(body.error_description ?? '', /already used by another principal's delegation/);
    const viaCli = await cli(['tokens', 'delegate', '--to', 'alices-helper'], mallory);
    assert.equal(viaCli.code, 1);
  });
});

describe('revocation and expiry reach live sessions', () => {
  it('revoking an API key ends the live session of a token traded for it (item 18)', async () => {
    assert.equal((await cli(['service-accounts', 'create', 'etl-bot', '--kind', 'agent', '--targets', 'pg-*'])).code, 0);
    const key = (await cli(['service-accounts', 'keys', 'create', 'etl-bot'])).stdout.trim();
    const token = (await cli(['service-accounts', 'token', '--key-stdin'], undefined, `${key}\n`)).stdout.trim();
    const psql = openPsql('etl-bot', token);
    psql.send("SELECT 'alive';");
    await until('the first answer', () => psql.output().includes('alive'));
    const shown = JSON.parse((await cli(['service-accounts', 'show', 'etl-bot', '--json'])).stdout) as { keys: Array<{ id: string }> };
    const revoked = await cli(['service-accounts', 'keys', 'revoke', shown.keys[0].id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked \(with 1 token\(s\) traded for it; 1 live session\(s\) ended\)/);
    psql.child.stdin!.end("SELECT 'after';\n");
    await psql.exited;
    assert.ok(!psql.output().includes('after\n'), psql.output());
    assert.match(psql.output(), /API key this token came from was revoked/);
    const again = await stack.psql(['-c', 'SELECT 1'], { user: 'etl-bot', token });
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /revoked/);
  });

  it('a session ends when its token expires, after a NOTICE, recorded with the reason (item 11)', async () => {
    const token = await stack.token('shorty', '--ttl', '8s');
    const psql = openPsql('shorty', token);
    psql.send("SELECT 'first';");
    await until('the first answer', () => psql.output().includes('first'));
    assert.match(psql.output(), /NOTICE: {2}your Warden token expires in \d+ s; this session will end then/);
    await until('the session to be recorded as ended', async () =>
      (await events('shorty')).some((e) => e.type === 'session.terminated'));
    const ended = (await events('shorty')).find((e) => e.type === 'session.terminated')!;
    assert.equal(ended.data.reason, 'the Warden token this session was opened with expired');
    psql.child.stdin!.end("SELECT 'too late';\n");
    await psql.exited;
    assert.ok(!psql.output().includes('too late\n'), psql.output());
  });

  it('an idle session hears the expiry NOTICE when it falls due, without sending anything (raw client)', async () => {
    const token = await stack.token('idler', '--ttl', '8s');
    const session = await rawLogin(stack.warden.ports.postgres, 'idler', stack.target, token);
    // Nothing more is sent: the notice comes from the sweep, in its own message, before the session ends.
    const notice = await session.next();
    assert.equal(notice?.type, 'N', `expected a NoticeResponse, got ${notice?.type}`);
    assert.match(errorFields(notice!).M, /your Warden token expires in \d+ s; this session will end then/);
    const end = await session.next();
    assert.equal(end?.type, 'E');
    assert.match(errorFields(end!).M, /terminating connection: the Warden token this session was opened with expired/);
    assert.equal(await session.next(), null);
  });
});
