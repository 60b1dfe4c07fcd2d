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
import type { Command, CommandContext, Verdict } from './types.js';

const logger = pino({ level: 'silent' });
let dir: string;
let store: Store;
let tokens: TokenService;
let policies: PolicyCatalog;
let approvals: ApprovalService;
let pipeline: SessionPipeline;

before(async () => {
  await initSqlAnalysis();
  dir = await mkdtemp(path.join(tmpdir(), 'warden-pipeline-'));
  store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
  tokens = await TokenService.create({ store, dataDir: dir });
  const vault = Vault.fromKey(Buffer.alloc(32, 7));
  await store.targets.insert({ name: 'pg-main', type: 'postgres', host: '127.0.0.1', port: 5432, database: 'app', user: 'app',
    passwordEnc: null, tls: 'disable', ca: null, labels: {}, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() });
  policies = await PolicyCatalog.load(store);
  await policies.apply(parsePolicyDocuments(GUARDRAILS_YAML));
  approvals = await ApprovalService.create({ store, logger, notifier: new Notifier({ webhookUrls: [], slackWebhookUrls: [], publicUrl: 'http://x', logger }) });
  pipeline = new SessionPipeline({ store, tokens, vault, recorder: new Recorder({ sessions: store.sessions, logger }), policies,
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
    assert.equal((pipeline.onCommand(session, sql('PREPARE "W"(int) AS UPDATE items SET id = $1 WHERE id = 1'), context) as Verdict).effect, 'allow');
    assert.equal((pipeline.onCommand(session, sql('PREPARE w AS SELECT 1'), context) as Verdict).note.classes.join(), 'read');
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
