/**
 * The kill switch (kill-switch.ts) against a real SQLite store, a real token service and a real SessionRegistry.
 * The live sessions' `terminate` callbacks are the engine's side of the contract, so the tests pass recording
 * functions there; every Subject comes from a really issued (and delegated) token. Covered: which sessions each
 * revocation ends (a token with its delegated descendants, a user or a service account as caller or any chain link,
 * one session), the options passed to the engine, the recorded `session.terminated` event, the sweep that catches
 * revocations made straight in the store, and the sweep's fail-safe when the store is down.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { pollUntil } from '../../test/harness/poll.js';
import { WardenError } from '../errors.js';
import { TokenService, type IssuedToken } from '../identity/tokens.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { DEFAULT_GRACE_MS, KillSwitch, SWEEP_INTERVAL_MS } from './kill-switch.js';
import { SessionRegistry, type LiveSession, type TerminateOptions } from './registry.js';
import { TOKEN_EXPIRED_REASON, TokenExpiry } from './token-expiry.js';
import { parsePolicyDocuments } from '../policy/load.js';
import '../protocols/test-install.js';
import type { Policy } from '../policy/schema.js';
import { ServiceAccounts } from '../identity/service-accounts.js';
import type { Subject, Target } from './types.js';

const TARGET: Target = {
  name: 'pg-main', type: 'postgres', host: '127.0.0.1', port: 5432, database: 'app', user: 'app', tls: 'disable', ca: null, labels: {},
};

/** A live session whose engine callback records how it was asked to end. */
interface RecordingSession extends LiveSession {
  calls: Array<{ reason: string; options: TerminateOptions | undefined }>;
  ending: boolean;
}

function liveSession(id: string, subject: Subject, fail = false): RecordingSession {
  const entry: RecordingSession = {
    session: { id, protocol: 'postgres', subject, target: TARGET, database: 'app', clientAddress: '127.0.0.1:40000', startedAt: Date.now() },
    calls: [],
    ending: false,
    async terminate(reason: string, options?: TerminateOptions) {
      entry.calls.push({ reason, options });
      entry.ending = true;
      if (fail) throw new Error('socket already gone');
    },
  };
  return entry;
}

function rejectsWith(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof WardenError, `expected WardenError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

describe('KillSwitch', () => {
  let dir: string;
  let store: Store;
  let tokens: TokenService;
  let n = 0;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-kill-'));
    store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
    tokens = await TokenService.create({ store, dataDir: dir });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh registry and kill switch over the shared store, recording events and log lines. */
  function setup(options: { store?: Store; tokens?: TokenService; graceMs?: number; expiry?: TokenExpiry } = {}) {
    const registry = new SessionRegistry();
    const events: Array<{ session: string; type: string; data: Record<string, unknown> }> = [];
    const logLines: string[] = [];
    const logger = pino({ level: 'debug' }, new Writable({ write(chunk, _e, done) { logLines.push(String(chunk)); done(); } }));
    const killSwitch = new KillSwitch({
      registry, tokens: options.tokens ?? tokens, store: options.store ?? store, logger,
      record: (live, type, data) => events.push({ session: live.session.id, type, data }),
      ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
      ...(options.expiry === undefined ? {} : { expiry: options.expiry }),
    });
    const sessions = new Map<string, RecordingSession>();
    const add = (subject: Subject, fail = false) => {
      const id = `sess-${++n}`;
      const live = liveSession(id, subject, fail);
      registry.add(live);
      sessions.set(id, live);
      return live;
    };
    const ended = () => [...sessions.values()].filter((s) => s.calls.length > 0).map((s) => s.session.id).sort();
    return { registry, killSwitch, events, logLines, add, ended };
  }

  /** A person's token, a planner agent delegated from it and a worker agent delegated from that; unique names per call. */
  async function chain(tag: string) {
    const person = await tokens.issue({ subject: `alice-${tag}`, kind: 'user', groups: ['dev'], targets: ['pg-*'], ttlSeconds: 3600 });
    const personSubject = await tokens.verify(person.token);
    const planner = await tokens.delegate(personSubject, { to: `planner-${tag}` });
    const plannerSubject = await tokens.verify(planner.token);
    const agent = await tokens.delegate(plannerSubject, { to: `worker-${tag}`, classes: ['read'] });
    const agentSubject = await tokens.verify(agent.token);
    return { person, personSubject, planner, plannerSubject, agent, agentSubject };
  }

  const subjectOf = async (issued: IssuedToken) => tokens.verify(issued.token);

  describe('revokeToken', () => {
    it('ends the sessions of the revoked token and of every token delegated from it, and no others', async () => {
      const { registry, killSwitch, events, add, ended } = setup();
      const c = await chain('rt');
      const sibling = await tokens.delegate(c.personSubject, { to: 'sibling-rt' });
      const bob = await tokens.issue({ subject: 'bob-rt', ttlSeconds: 600 });
      const sPerson = add(c.personSubject);
      const sPlanner = add(c.plannerSubject);
      const sAgent = add(c.agentSubject);
      const sAgent2 = add(c.agentSubject);
      const sSibling = add(await subjectOf(sibling));
      const sBob = add(await subjectOf(bob));

      const result = await killSwitch.revokeToken(c.planner.id, { by: 'root' });
      assert.deepEqual(result.sessions.sort(), [sPlanner.session.id, sAgent.session.id, sAgent2.session.id].sort());
      assert.deepEqual(ended(), result.sessions.sort());
      assert.deepEqual(result.record.revokedIds, [c.planner.id, c.agent.id]);
      assert.equal(result.record.id, c.planner.id);
      assert.notEqual(result.record.revokedAt, null);
      for (const s of [sPerson, sSibling, sBob]) assert.equal(s.calls.length, 0, s.session.id);
      const reason = 'Warden token revoked (with the tokens delegated from it)';
      assert.deepEqual(sAgent.calls, [{ reason, options: {} }]);
      assert.deepEqual(events.filter((e) => e.session === sPlanner.session.id),
        [{ session: sPlanner.session.id, type: 'session.terminated', data: { reason, by: 'root', letStatementsFinish: false } }]);
      assert.equal(events.length, 3);
      assert.ok(events.every((e) => e.type === 'session.terminated'));
      // The registry is the engine's to update; the kill switch only asks.
      assert.equal(registry.size, 6);
      // New sessions are refused at once: the store says revoked.
      await assert.rejects(tokens.verify(c.agent.token), rejectsWith('WARDEN_ERR_TOKEN_REVOKED'));
      await tokens.verify(c.person.token);
    });

    it('says just "Warden token revoked" for a token with nothing delegated, and accepts the token text', async () => {
      const { killSwitch, events, add } = setup();
      const lone = await tokens.issue({ subject: 'lone', ttlSeconds: 600 });
      const s = add(await subjectOf(lone));
      const result = await killSwitch.revokeToken(lone.token);
      assert.deepEqual(result.sessions, [s.session.id]);
      assert.equal(s.calls[0].reason, 'Warden token revoked');
      assert.deepEqual(events[0].data, { reason: 'Warden token revoked', letStatementsFinish: false });
    });

    it('does not ask an ending session to end again', async () => {
      const { killSwitch, events, add } = setup();
      const t = await tokens.issue({ subject: 'twice', ttlSeconds: 600 });
      const s = add(await subjectOf(t));
      await killSwitch.revokeToken(t.id);
      await killSwitch.revokeToken(t.id);
      assert.equal(s.calls.length, 1);
      assert.equal(events.length, 1);
    });

    it('reports an unknown token as WARDEN_ERR_NOT_FOUND and ends nothing', async () => {
      const { killSwitch, add, ended } = setup();
      add((await chain('nf')).agentSubject);
      await assert.rejects(killSwitch.revokeToken('tok_unknown'), rejectsWith('WARDEN_ERR_NOT_FOUND'));
      assert.deepEqual(ended(), []);
    });

    it('passes letStatementsFinish and the grace period to the engine and records it', async () => {
      const { killSwitch, events, add } = setup({ graceMs: 1234 });
      const t = await tokens.issue({ subject: 'graceful', ttlSeconds: 600 });
      const s = add(await subjectOf(t));
      await killSwitch.revokeToken(t.id, { letStatementsFinish: true, by: 'ops' });
      assert.deepEqual(s.calls, [{ reason: 'Warden token revoked', options: { letStatementsFinish: true, graceMs: 1234 } }]);
      assert.deepEqual(events[0].data, { reason: 'Warden token revoked', by: 'ops', letStatementsFinish: true });
    });

    it('uses the default grace period when none is configured', async () => {
      const { killSwitch, add } = setup();
      const t = await tokens.issue({ subject: 'graceful-default', ttlSeconds: 600 });
      const s = add(await subjectOf(t));
      await killSwitch.revokeToken(t.id, { letStatementsFinish: true });
      assert.deepEqual(s.calls[0].options, { letStatementsFinish: true, graceMs: DEFAULT_GRACE_MS });
    });

    it('logs, and does not throw, when an engine fails to end its session', async () => {
      const { killSwitch, add, logLines } = setup();
      const t = await tokens.issue({ subject: 'flaky', ttlSeconds: 600 });
      const s = add(await subjectOf(t), true);
      const result = await killSwitch.revokeToken(t.id);
      assert.deepEqual(result.sessions, [s.session.id]);
      // The engine's failure arrives after revokeToken returned; wait for the log line, not for a fixed time.
      await pollUntil('the failure to be logged', () => (/could not end a live session/.test(logLines.join('')) ? true : undefined));
    });
  });

  describe('setUserDisabled', () => {
    it('ends sessions where the user is the caller or any link of the chain, users only', async () => {
      const { killSwitch, events, add, ended } = setup();
      const c = await chain('ud');
      // An agent that happens to be named like the user, and a chain in which it is a link.
      const impostor = await tokens.issue({ subject: 'alice-ud', kind: 'agent', ttlSeconds: 600 });
      const bob = await tokens.issue({ subject: 'bob-ud', kind: 'user', ttlSeconds: 600 });
      const viaImpostor = await tokens.delegate(await subjectOf(impostor), { to: 'helper-ud' });
      const bobsHelper = await tokens.delegate(await subjectOf(bob), { to: 'bob-helper-ud' });
      const sPerson = add(c.personSubject);
      const sPlanner = add(c.plannerSubject);
      const sAgent = add(c.agentSubject);
      const sImpostor = add(await subjectOf(impostor));
      const sViaImpostor = add(await subjectOf(viaImpostor));
      const sBob = add(await subjectOf(bobsHelper));

      const result = await killSwitch.setUserDisabled('alice-ud', true, { by: 'root' });
      assert.equal(result.user.name, 'alice-ud');
      assert.notEqual(result.user.disabledAt, null);
      assert.deepEqual(result.sessions.sort(), [sPerson, sPlanner, sAgent].map((s) => s.session.id).sort());
      assert.deepEqual(ended(), result.sessions.sort());
      for (const s of [sImpostor, sViaImpostor, sBob]) assert.equal(s.calls.length, 0, s.session.id);
      assert.equal(sAgent.calls[0].reason, 'user "alice-ud" was disabled');
      assert.deepEqual(events.map((e) => e.data.reason), Array(3).fill('user "alice-ud" was disabled'));
      assert.ok(events.every((e) => e.data.by === 'root'));
      // The store now refuses the whole chain, and nothing else.
      await assert.rejects(tokens.verify(c.agent.token), rejectsWith('WARDEN_ERR_PRINCIPAL_DISABLED'));
      await tokens.verify(impostor.token);
    });

    it('creates the row for a name never seen, and enabling ends nothing', async () => {
      const { killSwitch, add, ended } = setup();
      const t = await tokens.issue({ subject: 'carol-ud', ttlSeconds: 600 });
      add(await subjectOf(t));
      assert.equal(await store.users.get('never-seen'), undefined);
      const off = await killSwitch.setUserDisabled('never-seen', true);
      assert.deepEqual(off.sessions, []);
      assert.notEqual((await store.users.get('never-seen'))?.disabledAt, null);

      await killSwitch.setUserDisabled('carol-ud', true);
      assert.equal(ended().length, 1);
      const on = await killSwitch.setUserDisabled('carol-ud', false);
      assert.deepEqual(on.sessions, []);
      assert.equal(on.user.disabledAt, null);
      await tokens.verify(t.token);
    });
  });

  describe('setServiceAccountDisabled', () => {
    it('ends sessions where the account is the caller or any link, services and agents only', async () => {
      const { killSwitch, add, ended, events } = setup();
      const at = new Date().toISOString();
      for (const [name, kind] of [['svc-sd', 'service'], ['bot-sd', 'agent']] as const) {
        await store.serviceAccounts.insert({ name, kind, description: null, groups: [], targets: ['*'], disabledAt: null, createdAt: at, updatedAt: at });
      }
      // A service account is in a chain only as its origin: it holds a token of its own and delegates from it.
      const svcRoot = await subjectOf(await tokens.issue({ subject: 'svc-sd', kind: 'service', groups: ['etl'], targets: ['pg-*'], ttlSeconds: 3600 }));
      const svcHelper = await subjectOf(await tokens.delegate(svcRoot, { to: 'svc-helper-sd' }));
      const svcWorker = await subjectOf(await tokens.delegate(svcHelper, { to: 'svc-worker-sd', classes: ['read'] }));
      assert.deepEqual(svcWorker.chain, [{ id: 'svc-sd', kind: 'service' }, { id: 'svc-helper-sd', kind: 'agent' }]);
      const root = add(svcRoot);
      const helper = add(svcHelper);
      const worker = add(svcWorker);
      // An agent-kind account's own token and a sub-agent of it, a person's chain, and bystanders.
      const botRoot = await subjectOf(await tokens.issue({ subject: 'bot-sd', kind: 'agent', ttlSeconds: 600 }));
      const botHelper = await subjectOf(await tokens.delegate(botRoot, { to: 'bot-helper-sd' }));
      const bot = add(botRoot);
      const botSub = add(botHelper);
      const c = await chain('sd');
      const person = add(c.personSubject);
      const planner = add(c.plannerSubject);
      const agent = add(c.agentSubject);
      // A person who happens to be named like the service account.
      const namesake = add(await subjectOf(await tokens.issue({ subject: 'svc-sd', kind: 'user', ttlSeconds: 600 })));
      const other = add(await subjectOf(await tokens.issue({ subject: 'other-sd', kind: 'service', ttlSeconds: 600 })));

      const result = await killSwitch.setServiceAccountDisabled('svc-sd', true, { letStatementsFinish: true });
      assert.notEqual(result.account.disabledAt, null);
      assert.deepEqual(result.sessions.sort(), [root, helper, worker].map((s) => s.session.id).sort());
      assert.deepEqual(ended(), result.sessions.sort());
      for (const s of [bot, botSub, person, planner, agent, namesake, other]) assert.equal(s.calls.length, 0, s.session.id);
      assert.deepEqual(worker.calls, [{ reason: 'service account "svc-sd" was disabled',
        options: { letStatementsFinish: true, graceMs: DEFAULT_GRACE_MS } }]);
      assert.equal(events.length, 3);
      assert.ok(events.every((e) => e.data.letStatementsFinish === true));
      // The store now refuses the account's chain too.
      await assert.rejects(tokens.checkStanding(svcWorker), rejectsWith('WARDEN_ERR_PRINCIPAL_DISABLED'));

      // The agent account as the caller and as a link.
      const second = setup();
      const again = second.add(botRoot);
      const againSub = second.add(botHelper);
      second.add(c.agentSubject);
      const bySelf = await second.killSwitch.setServiceAccountDisabled('bot-sd', true);
      assert.deepEqual(bySelf.sessions.sort(), [again.session.id, againSub.session.id].sort());
      assert.deepEqual(second.ended(), bySelf.sessions.sort());

      const enabled = await killSwitch.setServiceAccountDisabled('svc-sd', false);
      assert.equal(enabled.account.disabledAt, null);
      assert.deepEqual(enabled.sessions, []);
      await tokens.checkStanding(svcWorker);
    });

    it('reports an unknown account as WARDEN_ERR_NOT_FOUND and ends nothing', async () => {
      const { killSwitch, add, ended } = setup();
      add((await chain('snf')).agentSubject);
      await assert.rejects(killSwitch.setServiceAccountDisabled('planner-snf', true), rejectsWith('WARDEN_ERR_NOT_FOUND'));
      assert.deepEqual(ended(), []);
    });
  });

  describe('killSession', () => {
    it('ends exactly one session, and reports an unknown id', async () => {
      const { killSwitch, events, add, ended } = setup();
      const c = await chain('ks');
      const a = add(c.agentSubject);
      add(c.agentSubject);
      const result = killSwitch.killSession(a.session.id, { by: 'root', letStatementsFinish: true });
      assert.deepEqual(result, { sessions: [a.session.id] });
      assert.deepEqual(ended(), [a.session.id]);
      assert.deepEqual(a.calls[0].reason, 'session killed by an administrator');
      assert.deepEqual(a.calls[0].options, { letStatementsFinish: true, graceMs: DEFAULT_GRACE_MS });
      assert.deepEqual(events, [{ session: a.session.id, type: 'session.terminated',
        data: { reason: 'session killed by an administrator', by: 'root', letStatementsFinish: true } }]);
      assert.throws(() => killSwitch.killSession('sess-none'), rejectsWith('WARDEN_ERR_NOT_FOUND'));
      assert.deepEqual(ended(), [a.session.id]);
      // The token itself stays valid: killing a session is not revoking.
      await tokens.verify(c.agent.token);
    });
  });

  describe('sweep', () => {
    it('ends a live session whose token (or an ancestor) was revoked straight in the store, and leaves others', async () => {
      const { killSwitch, events, add, ended } = setup();
      const c = await chain('sw');
      const untouched = await tokens.issue({ subject: 'dave-sw', ttlSeconds: 600 });
      add(c.personSubject);
      const planner = add(c.plannerSubject);
      const agent = add(c.agentSubject);
      add(await subjectOf(untouched));

      await killSwitch.sweep();
      assert.deepEqual(ended(), [], 'nothing to end before the revocation');

      await store.tokens.revoke(c.planner.id, new Date().toISOString());
      await killSwitch.sweep();
      assert.deepEqual(ended(), [planner.session.id, agent.session.id].sort());
      assert.equal(planner.calls[0].reason, 'Warden token revoked');
      assert.equal(agent.calls[0].reason, 'Warden token revoked: a token it was delegated from was revoked');
      assert.deepEqual(agent.calls[0].options, {});
      assert.deepEqual(events.map((e) => e.type), ['session.terminated', 'session.terminated']);

      await killSwitch.sweep();
      assert.equal(agent.calls.length, 1, 'a session already ending is not asked again');
    });

    it('ends a live session whose user was disabled straight in the store', async () => {
      const { killSwitch, add, ended } = setup();
      const c = await chain('swu');
      const agent = add(c.agentSubject);
      const at = new Date().toISOString();
      await store.users.setDisabled('alice-swu', at, at);
      await killSwitch.sweep();
      assert.deepEqual(ended(), [agent.session.id]);
      assert.equal(agent.calls[0].reason, 'user "alice-swu" is disabled');
    });

    it('runs once a second after start(), and stops with stop()', async (t) => {
      const { killSwitch, add, ended } = setup();
      const first = await tokens.issue({ subject: 'timed-1', ttlSeconds: 600 });
      const second = await tokens.issue({ subject: 'timed-2', ttlSeconds: 600 });
      const a = add(await subjectOf(first));
      const b = add(await subjectOf(second));
      // The interval runs on a mocked clock; each sweep it starts is captured so the test can await it.
      t.mock.timers.enable({ apis: ['setInterval'] });
      const sweeps: Promise<void>[] = [];
      const sweep = killSwitch.sweep.bind(killSwitch);
      killSwitch.sweep = () => {
        const run = sweep();
        sweeps.push(run);
        return run;
      };
      killSwitch.start();
      try {
        await store.tokens.revoke(first.id, new Date().toISOString());
        t.mock.timers.tick(SWEEP_INTERVAL_MS - 1);
        assert.equal(sweeps.length, 0, 'no sweep before a second has passed');
        t.mock.timers.tick(1);
        assert.equal(sweeps.length, 1);
        await sweeps[0];
        assert.deepEqual(ended(), [a.session.id]);
      } finally {
        killSwitch.stop();
      }
      await store.tokens.revoke(second.id, new Date().toISOString());
      t.mock.timers.tick(SWEEP_INTERVAL_MS * 5);
      assert.equal(sweeps.length, 1, 'no sweep after stop()');
      assert.equal(b.calls.length, 0);
    });

    it('ends nothing when the store is down: an outage is not a revocation', async () => {
      const own = await openStore({ kind: 'sqlite', path: ':memory:' });
      const ownTokens = await TokenService.create({ store: own, dataDir: dir });
      const { killSwitch, add, ended } = setup({ store: own, tokens: ownTokens });
      const revoked = await ownTokens.issue({ subject: 'outage-1', ttlSeconds: 600 });
      const fine = await ownTokens.issue({ subject: 'outage-2', ttlSeconds: 600 });
      add(await ownTokens.verify(revoked.token));
      add(await ownTokens.verify(fine.token));
      await own.tokens.revoke(revoked.id, new Date().toISOString());
      await own.close();
      await killSwitch.sweep();
      assert.deepEqual(ended(), []);
      // The same outage makes new logins fail closed.
      await assert.rejects(ownTokens.verify(fine.token), rejectsWith('WARDEN_ERR_STORE_UNAVAILABLE'));
    });
  });
  describe('token expiry (issue 9 item 11)', () => {
    const outlive = (value: boolean): Policy[] => parsePolicyDocuments(JSON.stringify([{ kind: 'Policy', name: 'long', rules: [
      { name: 'reports', subjects: { users: ['report-*'] }, effect: 'allow', sessionOutlivesToken: value }] }]), 'json');

    it('warns once in the last minute, then ends the session when the token expires, recorded with the reason', async () => {
      const issued = await tokens.issue({ subject: 'short-lived', ttlSeconds: 600 });
      const subject = await subjectOf(issued);
      let clock = subject.expiresAt * 1000 - 120_000;
      const { killSwitch, events, add } = setup({ expiry: new TokenExpiry(() => [], () => clock) });
      const notices: string[] = [];
      const live = Object.assign(add(subject), { notify: (m: string) => void notices.push(m) });
      await killSwitch.sweep();
      assert.deepEqual([notices.length, live.calls.length], [0, 0], 'two minutes left: nothing yet');
      clock += 70_000;
      await killSwitch.sweep();
      await killSwitch.sweep();
      assert.equal(notices.length, 1, 'warned exactly once');
      assert.match(notices[0], /^your Warden token expires in 50 s; this session will end then/);
      assert.equal(live.calls.length, 0);
      clock += 50_000;
      await killSwitch.sweep();
      assert.deepEqual(live.calls, [{ reason: TOKEN_EXPIRED_REASON, options: {} }]);
      assert.deepEqual(events.filter((e) => e.type === 'session.terminated').map((e) => e.data.reason), [TOKEN_EXPIRED_REASON]);
    });

    it('a session a policy lets outlive its token runs on; another subject\'s does not', async () => {
      const report = await subjectOf(await tokens.issue({ subject: 'report-nightly', ttlSeconds: 600 }));
      const other = await subjectOf(await tokens.issue({ subject: 'not-a-report', ttlSeconds: 600 }));
      let policies = outlive(true);
      const clock = report.expiresAt * 1000 + 5_000;
      const { killSwitch, add } = setup({ expiry: new TokenExpiry(() => policies, () => clock) });
      const sReport = add(report);
      const sOther = add(other);
      await killSwitch.sweep();
      assert.equal(sReport.calls.length, 0, 'the policy lets it outlive the token');
      assert.deepEqual(sOther.calls.map((c) => c.reason), [TOKEN_EXPIRED_REASON]);
      // The policy in force decides: once the rule says false, the next sweep ends it.
      policies = outlive(false);
      await killSwitch.sweep();
      assert.deepEqual(sReport.calls.map((c) => c.reason), [TOKEN_EXPIRED_REASON]);
    });

    it('without an expiry policy source every session ends with its token (the default is on)', async () => {
      const { killSwitch, add } = setup();
      const expired = { ...(await subjectOf(await tokens.issue({ subject: 'gone-already', ttlSeconds: 600 }))), expiresAt: Math.floor(Date.now() / 1000) - 1 };
      const live = add(expired);
      await killSwitch.sweep();
      assert.deepEqual(live.calls.map((c) => c.reason), [TOKEN_EXPIRED_REASON]);
    });
  });

  describe('revokeApiKey (issue 9 item 18)', () => {
    it('revokes the key, every token traded for it and the tokens delegated from those, and ends their sessions', async () => {
      const { killSwitch, add, ended } = setup();
      const accounts = new ServiceAccounts({ store, tokens });
      await accounts.create({ name: 'etl-bot', kind: 'agent', groups: ['etl'] });
      const key = await accounts.createKey('etl-bot');
      const otherKey = await accounts.createKey('etl-bot');
      const fromKey = await subjectOf(await accounts.exchange(key.key));
      const fromKey2 = await subjectOf(await accounts.exchange(key.key));
      const delegated = await subjectOf(await tokens.delegate(fromKey, { to: 'etl-helper' }));
      const fromOther = await subjectOf(await accounts.exchange(otherKey.key));
      const sessions = [add(fromKey), add(fromKey2), add(delegated), add(fromOther)];
      const result = await killSwitch.revokeApiKey(key.record.id, { by: 'root' });
      assert.notEqual(result.key.revokedAt, null);
      assert.deepEqual(result.revokedTokens.sort(), [fromKey.tokenId, fromKey2.tokenId, delegated.tokenId].sort());
      assert.deepEqual(ended(), sessions.slice(0, 3).map((s) => s.session.id).sort());
      for (const s of [fromKey, fromKey2, delegated]) await assert.rejects(tokens.checkStanding(s), rejectsWith('WARDEN_ERR_TOKEN_REVOKED'));
      await tokens.checkStanding(fromOther); // the account's other key and its token are untouched
      await assert.rejects(accounts.exchange(key.key), rejectsWith('WARDEN_ERR_UNAUTHENTICATED'));
      await assert.rejects(killSwitch.revokeApiKey('key_nope'), rejectsWith('WARDEN_ERR_NOT_FOUND'));
    });
  });
});
