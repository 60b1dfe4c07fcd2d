/**
 * SessionPipeline against a real SQLite store, real tokens, policies, approvals and recorder (no engine): a
 * statement prepared at Parse defers its approval to the execution, where the approver sees the bound values; a
 * caller's cancel withdraws the pending request (recorded as cancelled by the caller); prepared statement names are
 * case-sensitive as the server's are; and every command is judged against the policy in force when it is asked.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { initSqlAnalysis } from '../analysis/sql/analyze.js';
import { ApprovalService } from '../approvals/service.js';
import { Notifier } from '../approvals/notifier.js';
import { TokenService } from '../identity/tokens.js';
import { parsePolicyDocuments } from '../policy/load.js';
import { GUARDRAILS_YAML } from '../policy/test-fixtures.js';
import { Recorder } from '../recording/recorder.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { Vault } from '../vault/vault.js';
import { SessionPipeline } from './pipeline.js';
import { builtinProtocols } from '../protocols/builtin.js';
import { PolicyCatalog } from './policy-catalog.js';
import type { Session } from './session.js';
import type { Command, CommandContext, Subject, Verdict } from './types.js';

const logger = pino({ level: 'silent' });
let dir: string;
let store: Store;
let tokens: TokenService;
let policies: PolicyCatalog;
let approvals: ApprovalService;
let pipeline: SessionPipeline;
let recorder: Recorder;

before(async () => {
  await initSqlAnalysis();
  dir = await mkdtemp(path.join(tmpdir(), 'warden-pipeline-'));
  store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
  tokens = await TokenService.create({ store, dataDir: dir });
  const vault = Vault.fromKey(Buffer.alloc(32, 7));
  await store.targets.insert({ name: 'pg-main', type: 'postgres', host: '127.0.0.1', port: 5432, database: 'app', user: 'app',
    passwordEnc: null, tls: 'disable', ca: null, labels: {}, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() });
  await store.targets.insert({ name: 'k8s-main', type: 'kubernetes', server: 'https://127.0.0.1:6443', caCert: null,
    tlsServerName: null, clientCert: null, impersonate: false, passwordEnc: null, labels: {},
    createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() });
  policies = await PolicyCatalog.load(store);
  await policies.apply(parsePolicyDocuments(`${GUARDRAILS_YAML}---\n${KUBE_WRITES_HELD_YAML}`));
  approvals = await ApprovalService.create({ store, logger, notifier: new Notifier({ webhookUrls: [], slackWebhookUrls: [], publicUrl: 'http://x', logger }) });
  recorder = new Recorder({ sessions: store.sessions, logger });
  pipeline = new SessionPipeline({ store, tokens, vault, recorder, policies,
    approvals, defaultEffect: 'deny', logger, protocols: builtinProtocols() });
});
after(async () => {
  await approvals?.shutdown('test over');
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(user: string, groups: string[]): Promise<Session> {
  const { token } = await tokens.issue({ subject: user, groups, ttlSeconds: 600, kind: groups.includes('agents') ? 'agent' : 'user' });
  return pipeline.open({ protocol: 'postgres', credential: { kind: 'token', token }, user, targetName: 'pg-main', clientAddress: '127.0.0.1:1' });
}

/** Agents' Kubernetes writes are held for a dba, like their SQL writes. */
const KUBE_WRITES_HELD_YAML = `kind: Policy
name: kube-writes-held
rules:
  - name: kube-reads
    targets: ["k8s-*"]
    match: { classes: [read] }
    effect: allow
  - name: kube-writes-need-approval
    targets: ["k8s-*"]
    subjects: { groups: [agents] }
    match: { classes: [write] }
    effect: require_approval
    approvers: { groups: [dba], count: 1 }
    timeout: 2m
`;

const sql = (text: string, params?: (string | null)[]): Command => ({ protocol: 'postgres', kind: 'sql', text, ...(params ? { params } : {}) });
const context: CommandContext = { notify: () => {} };
const parse: CommandContext = { notify: () => {}, deferApproval: true };

async function pendingRequest(session: Session): Promise<{ id: string; statement: string | null }> {
  for (let i = 0; i < 100; i++) {
    const found = (await approvals.list({ status: 'pending' })).find((r) => r.sessionId === session.id);
    if (found) return found;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('no pending request');
}

describe('SessionPipeline: one approval, one execution', () => {
  test('a Parse that needs approval is let through; its Bind asks, showing the bound values', async () => {
    const session = await open('bot', ['agents']);
    const atParse = pipeline.onCommand(session, sql('UPDATE items SET note = $1 WHERE id = $2'), parse) as Verdict;
    assert.equal(atParse.effect, 'allow');
    assert.equal(atParse.note.effect, 'require_approval');
    const atBind = pipeline.onCommand(session, sql('UPDATE items SET note = $1 WHERE id = $2', ["it's\n-- with bound values: $1 = 'x'", null]), context);
    assert.ok(atBind instanceof Promise);
    const request = await pendingRequest(session);
    // A value cannot fake the layout the approver reads: control characters and quotes are escaped.
    assert.equal(request.statement, 'UPDATE items SET note = $1 WHERE id = $2\n-- with bound values: $1 = "it\'s\\n-- with bound values: $1 = \'x\'", $2 = NULL');
    await pipeline.withdraw(session, 'cancelled by the caller');
    const verdict = await atBind;
    assert.equal(verdict.effect, 'deny');
    const stored = await approvals.get(request.id);
    assert.equal(stored?.status, 'cancelled');
    assert.equal(stored?.statusReason, 'cancelled by the caller');
  });

  test('a deny at Parse still refuses at once', () => {
    return open('bot', ['agents']).then((session) => {
      const v = pipeline.onCommand(session, sql('DROP TABLE items'), parse) as Verdict;
      assert.equal(v.effect, 'deny');
    });
  });

  test('prepared statement names are case-sensitive: EXECUTE "W" is the PREPARE "W", not the later w', async () => {
    const session = await open('alice', []);
    // Each PREPARE counts once the server answered that it ran (statement-state.ts).
    const prepared = (text: string): Verdict => {
      const verdict = pipeline.onCommand(session, sql(text), context) as Verdict;
      pipeline.onOutcome(session, sql(text), { durationMs: 1, tag: 'PREPARE' });
      return verdict;
    };
    assert.equal(prepared('PREPARE "W"(int) AS UPDATE items SET id = $1 WHERE id = 1').effect, 'allow');
    assert.equal(prepared('PREPARE w AS SELECT 1').note.classes.join(), 'read');
    assert.deepEqual((pipeline.onCommand(session, sql('EXECUTE "W"(2)'), context) as Verdict).note.classes, ['write']);
    assert.deepEqual((pipeline.onCommand(session, sql('EXECUTE w'), context) as Verdict).note.classes, ['read']);
    assert.deepEqual((pipeline.onCommand(session, sql('EXECUTE W'), context) as Verdict).note.classes, ['read'], 'unquoted folds to w');
  });

  test('every command is judged against the policy in force when it is asked', async () => {
    const session = await open('alice', []);
    const insert = sql('INSERT INTO items VALUES ($1)', ['1']);
    assert.equal((pipeline.onCommand(session, insert, context) as Verdict).effect, 'allow');
    await policies.apply(parsePolicyDocuments(GUARDRAILS_YAML.replace('classes: [read, write]', 'classes: [read]')));
    try {
      assert.equal((pipeline.onCommand(session, insert, context) as Verdict).effect, 'deny');
    } finally {
      await policies.apply(parsePolicyDocuments(GUARDRAILS_YAML));
    }
  });
});

/** bob of dba, a person signed in as themself: an eligible approver of GUARDRAILS_YAML's held writes. */
const bob: Subject = { id: 'bob', kind: 'user', groups: ['dba'], chain: [], tokenId: 'tok_bob', targets: ['*'], expiresAt: 2e9 };

/** Runs a command that needs approval and lets bob approve it (with a window when asked); returns the verdict. */
async function approved(session: Session, command: Command, windowSeconds?: number): Promise<Verdict> {
  const verdict = pipeline.onCommand(session, command, context);
  assert.ok(verdict instanceof Promise, `${command.text} is held`);
  const request = await pendingRequest(session);
  await approvals.approve(request.id, bob, windowSeconds === undefined ? {} : { windowSeconds });
  return verdict;
}

/** A command's verdict when it is decided without a human (allowed or refused at once, or by a window). */
async function unattended(session: Session, command: Command): Promise<Verdict | 'held'> {
  const verdict = pipeline.onCommand(session, command, context);
  if (!(verdict instanceof Promise)) return verdict;
  // A window is looked up in the store; a statement it does not cover becomes a pending request.
  const settled = await Promise.race([verdict, (async () => {
    for (let i = 0; i < 200; i++) {
      if ((await approvals.list({ status: 'pending' })).some((r) => r.sessionId === session.id)) return 'held' as const;
      await new Promise((r) => setImmediate(r));
    }
    throw new Error('neither decided nor held');
  })()]);
  if (settled === 'held') {
    await pipeline.withdraw(session, 'test over');
    await verdict;
  }
  return settled;
}

describe('SessionPipeline: a window on a Kubernetes write covers that body only (issue 13)', () => {
  const patch = (body: string | undefined, extra: Record<string, string> = {}): Command => ({ protocol: 'kubernetes',
    kind: 'request', text: 'PATCH /api/v1/namespaces/dev/configmaps/web',
    attributes: { ...(body === undefined ? { bodyUnread: 'true' } : { body }), ...extra } });

  test('the same body runs in the window; another body or an unread body waits', async () => {
    const { token } = await tokens.issue({ subject: 'kbot', groups: ['agents'], ttlSeconds: 600, kind: 'agent' });
    const session = await pipeline.open({ protocol: 'kubernetes', credential: { kind: 'token', token }, user: 'kbot',
      targetName: 'k8s-main', clientAddress: '127.0.0.1:1' });
    const image = '{"data":{"image":"web:2"}}';
    assert.equal((await approved(session, patch(image), 600)).effect, 'allow');
    const again = await unattended(session, patch(image));
    assert.ok(again !== 'held' && again.effect === 'allow' && /^grt_/.test(again.note.approval ?? ''), JSON.stringify(again));
    // Same method, path and classes (write): only the approved body is covered.
    assert.equal(await unattended(session, patch(image.replace('web:2', 'evil:1'))), 'held');
    // A body Warden did not read is never covered by a window, even one granted for an unread body.
    assert.equal((await approved(session, patch(undefined), 600)).effect, 'allow');
    assert.equal(await unattended(session, patch(undefined)), 'held');
  });
});

describe('SessionPipeline: a window covers the statement the approver saw (issue 9)', () => {
  test('the same statement runs in the window; another of the same classes, or other literals, needs its own approval', async () => {
    const session = await open('bot', ['agents']);
    const update = sql("UPDATE items SET note = 'checked' WHERE id = 1");
    assert.equal((await approved(session, update, 600)).effect, 'allow');
    const again = await unattended(session, update);
    assert.ok(again !== 'held' && again.effect === 'allow' && /^grt_/.test(again.note.approval ?? ''), JSON.stringify(again));
    // Same classes (write), same table: before, the window covered these too.
    assert.equal(await unattended(session, sql("UPDATE items SET note = 'checked' WHERE id = 2")), 'held');
    assert.equal(await unattended(session, sql("INSERT INTO items (note) VALUES ('checked')")), 'held');
    assert.equal(await unattended(session, sql("UPDATE items SET note = 'checked' WHERE id = 1; UPDATE items SET note = 'x' WHERE id = 9")), 'held');
  });

  test('a window on a prepared statement covers it with other values, and an EXECUTE only while the name runs the same text', async () => {
    const session = await open('bot', ['agents']);
    const prepared = (values: string[]) => sql('UPDATE items SET note = $1 WHERE id = $2', values);
    assert.equal((await approved(session, prepared(['a', '1']), 600)).effect, 'allow');
    const other = await unattended(session, prepared(['b', '2']));
    assert.ok(other !== 'held' && other.effect === 'allow', 'the approver granted a window for this statement');

    // PREPARE and DEALLOCATE count once the server answered that they ran (the engine reports each outcome).
    const ran = (command: Command) => pipeline.onOutcome(session, command, { durationMs: 1 });
    const prepare = sql("PREPARE w AS UPDATE items SET note = 'p' WHERE id = 3");
    assert.equal((await approved(session, prepare)).effect, 'allow');
    ran(prepare);
    assert.equal((await approved(session, sql('EXECUTE w'), 600)).effect, 'allow');
    const rerun = await unattended(session, sql('EXECUTE w'));
    assert.ok(rerun !== 'held' && rerun.effect === 'allow');
    const deallocate = sql('DEALLOCATE w');
    assert.equal((pipeline.onCommand(session, deallocate, context) as Verdict).effect, 'allow');
    ran(deallocate);
    const prepareAgain = sql('PREPARE w AS UPDATE items SET note = $$p$$ WHERE id = 4');
    assert.equal((await approved(session, prepareAgain)).effect, 'allow');
    ran(prepareAgain);
    assert.equal(await unattended(session, sql('EXECUTE w')), 'held', 'the same EXECUTE text now runs another statement');
  });

  test('an approver asked about EXECUTE w sees the statement w runs; the recorded copy has its literals redacted', async () => {
    const session = await open('bot', ['agents']);
    const card = '4111111111111111';
    const prepare = sql(`PREPARE w AS UPDATE items SET note = '${card}' WHERE id = 5`);
    assert.equal((await approved(session, prepare)).effect, 'allow');
    pipeline.onOutcome(session, prepare, { durationMs: 1 });
    const verdict = pipeline.onCommand(session, sql('EXECUTE w'), context);
    const request = (await approvals.get((await pendingRequest(session)).id))!;
    assert.equal(request.statement, `EXECUTE w\n-- it runs the prepared statement: ${prepare.text}`);
    assert.ok(request.recordedStatement?.startsWith('EXECUTE w\n-- it runs the prepared statement: PREPARE w AS UPDATE'), request.recordedStatement ?? '');
    assert.ok(!request.recordedStatement?.includes(card), request.recordedStatement ?? '');
    await approvals.approve(request.id, bob);
    assert.equal((await verdict).effect, 'allow');
  });

  test('the approver sees the bound values; the recording and the notification copy have them redacted', async () => {
    const session = await open('bot', ['agents']);
    const card = '4111111111111111';
    const command = sql(`UPDATE items SET note = $1, owner = 'alice@example.com' WHERE id = $2`, [card, '7']);
    const verdict = pipeline.onCommand(session, command, context);
    const request = (await approvals.get((await pendingRequest(session)).id))!;
    assert.ok(request.statement?.includes(card) && request.statement.includes('alice@example.com'), request.statement ?? '');
    assert.ok(request.recordedStatement?.includes('[redacted]'), request.recordedStatement ?? '');
    assert.ok(!request.recordedStatement?.includes(card) && !request.recordedStatement?.includes('alice@example'), request.recordedStatement ?? '');
    await approvals.approve(request.id, bob);
    assert.equal((await verdict).effect, 'allow');
    pipeline.onOutcome(session, { ...command, decision: { effect: 'require_approval', classes: ['write'], approval: request.id } },
      { durationMs: 1, tag: 'UPDATE 1', rows: 1 });
    await recorder.flush();
    const events = await store.sessions.events(session.id);
    const approvalEvents = events.filter((e) => e.type.startsWith('approval.'));
    assert.deepEqual(approvalEvents.map((e) => e.type), ['approval.requested', 'approval.approved']);
    const recorded = JSON.stringify(events);
    assert.ok(!recorded.includes(card) && !recorded.includes('alice@example'), recorded);
    assert.ok(recorded.includes('[redacted]'));
  });

  test('a statement over 1 MiB is recorded redacted, then cut; its approval request is bounded too', async () => {
    const session = await open('alice', []);
    const text = `INSERT INTO items (note) VALUES ('alice@example.com', '${'x'.repeat(1024 * 1024)}')`;
    pipeline.onOutcome(session, sql(text), { durationMs: 1, tag: 'INSERT 0 1', rows: 1 });
    await recorder.flush();
    const event = (await store.sessions.events(session.id)).find((e) => e.type === 'statement')!;
    const recorded = event.data.text as { prefix: string; bytes: number };
    assert.ok(recorded.prefix.startsWith("INSERT INTO items (note) VALUES ('[redacted]', 'xxx"), recorded.prefix.slice(0, 80));
    assert.ok(!JSON.stringify(event).includes('alice@example'));
  });
});
