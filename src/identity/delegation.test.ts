/**
 * Delegation (TokenService.delegate, revoke, checkStanding) against a real SQLite store and signing key in a temp
 * dir: a three-link chain and the JWT it yields (RFC 8693 `sub`/`act`), the Subject a delegated token verifies to,
 * every way of widening refused (targets, classes, groups, lifetime, a name already in the chain, too many links),
 * a sub-agent always an agent under a name of its own (never a user's, a service account's or a root token holder's),
 * revoking a link revoking its whole subtree only, and standing checks that follow the chain up the store
 * (an ancestor revoked directly, a disabled user or service account anywhere in the chain).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { WardenError } from '../errors.js';
import type { Subject } from '../session/types.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { MAX_CHAIN_LINKS } from './claims.js';
import { DEFAULT_DELEGATION_TTL_SECONDS, TokenService, type IssuedToken } from './tokens.js';

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const S0 = T0 / 1000;

function rejectsWith(code: string, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof WardenError, `expected WardenError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}
const WIDEN = rejectsWith('WARDEN_ERR_FORBIDDEN', /^delegation cannot widen scope/);
const REVOKED = rejectsWith('WARDEN_ERR_TOKEN_REVOKED');

describe('TokenService delegation', () => {
  let dir: string;
  let store: Store;
  let clock = T0;
  let tokens: TokenService;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-delegation-'));
    store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
    tokens = await TokenService.create({ store, dataDir: dir, now: () => clock });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    clock = T0;
  });

  /** alice (a person) -> planner (an agent) -> worker (an agent), each narrower than the one before. */
  async function threeLinks(suffix = '') {
    const alice = await tokens.issue({
      subject: `alice${suffix}`, kind: 'user', groups: ['dev', 'dba'], targets: ['pg-*', 'stage'], ttlSeconds: 3600,
    });
    const aliceSubject = await tokens.verify(alice.token);
    const planner = await tokens.delegate(aliceSubject, {
      to: `planner${suffix}`, targets: ['pg-*'], classes: ['read', 'write'], groups: ['dev'], ttlSeconds: 1800,
    });
    const plannerSubject = await tokens.verify(planner.token);
    const worker = await tokens.delegate(plannerSubject, { to: `worker${suffix}`, targets: ['pg-main'], classes: ['read'], ttlSeconds: 600 });
    const workerSubject = await tokens.verify(worker.token);
    return { alice, aliceSubject, planner, plannerSubject, worker, workerSubject };
  }

  it('mints a three-link chain whose JWTs carry the origin in sub and the actors in act, caller outermost', async () => {
    const { alice, planner, worker } = await threeLinks();
    const pClaims = decodeJwt(planner.token);
    assert.equal(pClaims.sub, 'alice');
    assert.equal(pClaims.kind, 'user');
    assert.deepEqual(pClaims.act, { sub: 'planner', kind: 'agent' });
    assert.deepEqual(pClaims.classes, ['read', 'write']);
    assert.deepEqual(pClaims.targets, ['pg-*']);
    assert.deepEqual(pClaims.groups, ['dev']);
    assert.equal(pClaims.exp, S0 + 1800);
    assert.equal(pClaims.jti, planner.id);

    const wClaims = decodeJwt(worker.token);
    assert.equal(wClaims.sub, 'alice');
    assert.equal(wClaims.kind, 'user');
    assert.deepEqual(wClaims.act, { sub: 'worker', kind: 'agent', act: { sub: 'planner', kind: 'agent' } });
    assert.deepEqual(wClaims.classes, ['read']);
    assert.deepEqual(wClaims.targets, ['pg-main']);
    assert.deepEqual(wClaims.groups, ['dev'], 'groups default to the parent\'s');
    assert.equal(wClaims.exp, S0 + 600);

    assert.equal(decodeJwt(alice.token).act, undefined);
    assert.equal('classes' in decodeJwt(alice.token), false);
  });

  it('verifies a delegated token to the caller, its chain origin first, and its narrowed scope', async () => {
    const { planner, plannerSubject, worker, workerSubject } = await threeLinks();
    assert.deepEqual(plannerSubject, {
      id: 'planner', kind: 'agent', groups: ['dev'], chain: [{ id: 'alice', kind: 'user' }], tokenId: planner.id,
      targets: ['pg-*'], expiresAt: S0 + 1800, classes: ['read', 'write'], chainGroups: ['dba', 'dev'],
    });
    assert.deepEqual(workerSubject, {
      id: 'worker', kind: 'agent', groups: ['dev'], chain: [{ id: 'alice', kind: 'user' }, { id: 'planner', kind: 'agent' }],
      tokenId: worker.id, targets: ['pg-main'], expiresAt: S0 + 600, classes: ['read'], chainGroups: ['dba', 'dev'],
    });
  });

  it('records each delegated token with its parent, chain and classes', async () => {
    const { alice, planner, worker } = await threeLinks();
    assert.deepEqual(await store.tokens.get(planner.id), {
      id: planner.id, subject: 'planner', subjectKind: 'agent', groups: ['dev'], targets: ['pg-*'],
      issuedAt: new Date(T0).toISOString(), expiresAt: new Date(T0 + 1800_000).toISOString(), revokedAt: null,
      parentId: alice.id, chain: [{ id: 'alice', kind: 'user' }], classes: ['read', 'write'],
    });
    const w = await store.tokens.get(worker.id);
    assert.equal(w?.parentId, planner.id);
    assert.deepEqual(w?.chain, [{ id: 'alice', kind: 'user' }, { id: 'planner', kind: 'agent' }]);
    assert.deepEqual(w?.classes, ['read']);
    assert.equal(w?.subjectKind, 'agent', 'a sub-agent is always an agent');
    assert.deepEqual((await store.tokens.children(alice.id)).map((t) => t.id), [planner.id]);
  });

  it('makes every sub-agent an agent, whatever the caller is and whatever kind a request carries', async () => {
    for (const kind of ['user', 'service', 'agent'] as const) {
      const root = await tokens.issue({ subject: `kind-root-${kind}`, kind, ttlSeconds: 3600 });
      // A `kind` smuggled past the type (as an old client would send it) is not read.
      const sub = await tokens.delegate(await tokens.verify(root.token), { to: `kind-sub-${kind}`, kind: 'user' } as never);
      assert.equal(sub.record.subjectKind, 'agent', kind);
      assert.deepEqual(sub.record.chain, [{ id: `kind-root-${kind}`, kind }]);
      const claims = decodeJwt(sub.token);
      assert.equal(claims.kind, kind, 'the JWT kind is the origin\'s');
      assert.deepEqual(claims.act, { sub: `kind-sub-${kind}`, kind: 'agent' });
      assert.equal((await tokens.verify(sub.token)).kind, 'agent');
    }
  });

  it('keeps every class open when neither the parent nor the request limits them', async () => {
    const root = await tokens.issue({ subject: 'open', ttlSeconds: 3600 });
    const sub = await tokens.delegate(await tokens.verify(root.token), { to: 'open-bot' });
    assert.equal('classes' in decodeJwt(sub.token), false);
    const subject = await tokens.verify(sub.token);
    assert.equal(subject.classes, undefined);
    assert.deepEqual(subject.targets, ['*']);
    assert.equal(subject.expiresAt, S0 + DEFAULT_DELEGATION_TTL_SECONDS);
    assert.equal(sub.record.classes, null);
  });

  it('defaults the lifetime to what is left of the parent when that is shorter than the default', async () => {
    const root = await tokens.issue({ subject: 'short', ttlSeconds: 3600 });
    const parent = await tokens.verify(root.token);
    clock = T0 + (3600 - 100) * 1000;
    const sub = await tokens.delegate(parent, { to: 'short-bot' });
    assert.equal((await tokens.verify(sub.token)).expiresAt, parent.expiresAt);
    assert.equal(sub.expiresAt, new Date(parent.expiresAt * 1000).toISOString());
  });

  describe('every widening is refused, and nothing is issued', () => {
    let links: Awaited<ReturnType<typeof threeLinks>>;
    before(async () => {
      clock = T0;
      links = await threeLinks('-w');
    });

    async function refused(parent: Subject, req: Parameters<TokenService['delegate']>[1], check: (err: unknown) => boolean) {
      const count = (await store.tokens.list()).length;
      await assert.rejects(tokens.delegate(parent, req), check, JSON.stringify(req));
      assert.equal((await store.tokens.list()).length, count, 'a refused delegation stores no token');
    }

    it('targets outside the parent\'s', async () => {
      await refused(links.workerSubject, { to: 'x', targets: ['pg-*'] }, WIDEN);
      await refused(links.workerSubject, { to: 'x', targets: ['pg-main', 'pg-other'] }, WIDEN);
      await refused(links.workerSubject, { to: 'x', targets: ['*'] }, WIDEN);
      await refused(links.plannerSubject, { to: 'x', targets: ['stage'] }, WIDEN); // alice had it, planner does not
      await refused(links.plannerSubject, { to: 'x', targets: ['*'] }, WIDEN);
      // the control case: a narrower pattern is fine
      assert.deepEqual((await tokens.delegate(links.plannerSubject, { to: 'x', targets: ['pg-m*'] })).record.targets, ['pg-m*']);
    });

    it('classes outside the parent\'s, and unknown classes', async () => {
      await refused(links.workerSubject, { to: 'x', classes: ['write'] }, WIDEN);
      await refused(links.plannerSubject, { to: 'x', classes: ['read', 'ddl'] }, WIDEN);
      await refused(links.plannerSubject, { to: 'x', classes: ['destructive'] }, WIDEN);
      await refused(links.plannerSubject, { to: 'x', classes: ['select'] }, rejectsWith('WARDEN_ERR_BAD_REQUEST'));
    });

    it('groups the parent does not have', async () => {
      await refused(links.plannerSubject, { to: 'x', groups: ['dba'] }, WIDEN); // alice had it, planner does not
      await refused(links.workerSubject, { to: 'x', groups: ['warden-admins'] }, WIDEN);
    });

    it('a lifetime beyond the parent\'s remaining life', async () => {
      await refused(links.workerSubject, { to: 'x', ttlSeconds: 601 }, WIDEN);
      clock = T0 + 500_000;
      await refused(links.workerSubject, { to: 'x', ttlSeconds: 101 }, WIDEN);
      const ok = await tokens.delegate(links.workerSubject, { to: 'x', ttlSeconds: 100 });
      assert.equal(decodeJwt(ok.token).exp, links.workerSubject.expiresAt);
      clock = T0 + 600_000;
      await refused(links.workerSubject, { to: 'x' }, rejectsWith('WARDEN_ERR_TOKEN_EXPIRED'));
    });

    it('a non-positive lifetime', async () => {
      await refused(links.workerSubject, { to: 'x', ttlSeconds: 0 }, rejectsWith('WARDEN_ERR_BAD_REQUEST'));
      await refused(links.workerSubject, { to: 'x', ttlSeconds: -1 }, rejectsWith('WARDEN_ERR_BAD_REQUEST'));
    });

    it('a name already in the chain, the caller included', async () => {
      // The chain is checked first, so a root holder's name in the chain (alice-w) reads as a loop, not a taken name.
      for (const to of ['alice-w', 'planner-w', 'worker-w']) {
        await refused(links.workerSubject, { to }, rejectsWith('WARDEN_ERR_BAD_REQUEST', /already in the delegation chain \(alice-w -> planner-w -> worker-w\)/));
      }
      await refused(links.plannerSubject, { to: 'planner-w' }, rejectsWith('WARDEN_ERR_BAD_REQUEST', /already in the delegation chain \(alice-w -> planner-w\)/));
      await refused(links.aliceSubject, { to: 'alice-w' }, rejectsWith('WARDEN_ERR_BAD_REQUEST', /already in the delegation chain \(alice-w\)/));
    });

    it('an invalid sub-agent name', async () => {
      await refused(links.workerSubject, { to: 'has space' }, rejectsWith('WARDEN_ERR_BAD_REQUEST'));
      await refused(links.workerSubject, { to: '' }, rejectsWith('WARDEN_ERR_BAD_REQUEST'));
    });

    it('the name of a user, a service account or another token holder', async () => {
      const at = new Date().toISOString();
      await store.users.setDisabled('known-person', null, at);
      await store.serviceAccounts.insert({ name: 'known-service', kind: 'service', description: null, groups: [], targets: ['*'],
        disabledAt: null, createdAt: at, updatedAt: at });
      await store.serviceAccounts.insert({ name: 'known-bot', kind: 'agent', description: null, groups: [], targets: ['*'],
        disabledAt: null, createdAt: at, updatedAt: at });
      await tokens.issue({ subject: 'token-holder', ttlSeconds: 600 });
      // An agent-kind root token counts too: it is a caller of its own, not a sub-agent.
      await tokens.issue({ subject: 'agent-holder', kind: 'agent', ttlSeconds: 600 });
      for (const to of ['known-person', 'known-service', 'known-bot', 'token-holder', 'agent-holder']) {
        await refused(links.workerSubject, { to }, rejectsWith('WARDEN_ERR_FORBIDDEN', /a sub-agent needs a name of its own/));
        await refused(links.aliceSubject, { to }, rejectsWith('WARDEN_ERR_FORBIDDEN', /a sub-agent needs a name of its own/));
      }
    });

    it('a sub-agent name another origin already delegated to (issue 9 item 8), however the first token ended', async () => {
      // planner-w is alice-w's sub-agent: mallory may not name hers so, not even after alice-w's token is revoked.
      const mallory = await tokens.verify((await tokens.issue({ subject: 'mallory-w', ttlSeconds: 600 })).token);
      await refused(mallory, { to: 'planner-w' }, rejectsWith('WARDEN_ERR_FORBIDDEN', /already used by another principal's delegation/));
      await refused(mallory, { to: 'worker-w' }, rejectsWith('WARDEN_ERR_FORBIDDEN', /already used by another principal's delegation/));
      // A name that ever held a token of its own stays a principal's name, revoked or not.
      const gone = await tokens.issue({ subject: 'former-holder', ttlSeconds: 600 });
      await tokens.revoke(gone.id);
      await refused(links.workerSubject, { to: 'former-holder' }, rejectsWith('WARDEN_ERR_FORBIDDEN', /a name of its own/));
      // ":" marks external identities (provider:name).
      await refused(links.workerSubject, { to: 'corp:alice' }, rejectsWith('WARDEN_ERR_BAD_REQUEST', /must not contain ":"/));
    });

    it('a sub-agent\'s name cannot be given a token of its own afterwards (admin-issued, sign-in, API key exchange)', async () => {
      await assert.rejects(tokens.issue({ subject: 'planner-w', ttlSeconds: 600 }), rejectsWith('WARDEN_ERR_CONFLICT', /name of a sub-agent/));
      await assert.rejects(tokens.issue({ subject: 'planner-w', kind: 'agent', ttlSeconds: 600 }), rejectsWith('WARDEN_ERR_CONFLICT'));
    });

    it('control: the same origin may reuse its sub-agent name, through another link too', async () => {
      assert.equal((await tokens.delegate(links.aliceSubject, { to: 'planner-w' })).record.subject, 'planner-w');
      assert.equal((await tokens.delegate(links.plannerSubject, { to: 'helper-w' })).record.subject, 'helper-w');
      assert.equal((await tokens.delegate(links.aliceSubject, { to: 'helper-w' })).record.subject, 'helper-w');
    });
  });

  it(`allows a chain of ${MAX_CHAIN_LINKS} links and refuses one more`, async () => {
    const root = await tokens.issue({ subject: 'deep-0', ttlSeconds: 3600 });
    let subject = await tokens.verify(root.token);
    let last: IssuedToken = root;
    for (let i = 1; i < MAX_CHAIN_LINKS; i++) {
      last = await tokens.delegate(subject, { to: `deep-${i}` });
      subject = await tokens.verify(last.token);
    }
    assert.equal(subject.id, `deep-${MAX_CHAIN_LINKS - 1}`);
    assert.equal(subject.chain.length + 1, MAX_CHAIN_LINKS);
    assert.deepEqual(subject.chain.map((a) => a.id), Array.from({ length: MAX_CHAIN_LINKS - 1 }, (_, i) => `deep-${i}`));
    const count = (await store.tokens.list()).length;
    await assert.rejects(tokens.delegate(subject, { to: 'one-too-many' }),
      rejectsWith('WARDEN_ERR_BAD_REQUEST', new RegExp(`at most ${MAX_CHAIN_LINKS} links`)));
    assert.equal((await store.tokens.list()).length, count);
    // Revoking the root reaches the deepest link.
    const { revokedIds } = await tokens.revoke(root.id);
    assert.equal(revokedIds.length, MAX_CHAIN_LINKS);
    assert.equal(revokedIds[0], root.id);
    assert.equal(revokedIds.at(-1), last.id);
    await assert.rejects(tokens.verify(last.token), REVOKED);
  });

  it('revokes a link with its whole subtree and leaves the parent above and siblings valid', async () => {
    const { alice, aliceSubject, planner, plannerSubject, worker } = await threeLinks('-r');
    const sibling = await tokens.delegate(aliceSubject, { to: 'sibling-r', targets: ['stage'] });
    const second = await tokens.delegate(plannerSubject, { to: 'second-r' });
    const grandchild = await tokens.delegate(await tokens.verify(worker.token), { to: 'grand-r', classes: ['read'] });
    clock = T0 + 2000;

    const result = await tokens.revoke(planner.id);
    assert.equal(result.id, planner.id);
    assert.equal(result.revokedAt, new Date(T0 + 2000).toISOString());
    assert.equal(result.revokedIds[0], planner.id);
    assert.deepEqual([...result.revokedIds].sort(), [planner.id, worker.id, second.id, grandchild.id].sort());

    for (const t of [planner, worker, second, grandchild]) await assert.rejects(tokens.verify(t.token), REVOKED);
    assert.equal((await tokens.verify(alice.token)).id, 'alice-r');
    assert.equal((await tokens.verify(sibling.token)).id, 'sibling-r');
    assert.equal((await store.tokens.get(alice.id))?.revokedAt, null);
    assert.equal((await store.tokens.get(grandchild.id))?.revokedAt, new Date(T0 + 2000).toISOString());
  });

  it('revokes a middle link given as the whole token text', async () => {
    const { alice, planner, worker } = await threeLinks('-t');
    const result = await tokens.revoke(planner.token);
    assert.deepEqual(result.revokedIds, [planner.id, worker.id]);
    await assert.rejects(tokens.verify(worker.token), REVOKED);
    await tokens.verify(alice.token);
  });

  it('refuses a token whose ancestor was revoked straight in the store', async () => {
    const { alice, planner, worker, workerSubject } = await threeLinks('-s');
    assert.equal(await store.tokens.revoke(alice.id, new Date(T0).toISOString()), true);
    // Only the root row says revoked; the descendants are refused by walking up.
    assert.equal((await store.tokens.get(worker.id))?.revokedAt, null);
    await assert.rejects(tokens.checkStanding(workerSubject),
      rejectsWith('WARDEN_ERR_TOKEN_REVOKED', /a token it was delegated from was revoked/));
    await assert.rejects(tokens.verify(planner.token), rejectsWith('WARDEN_ERR_TOKEN_REVOKED', /delegated from/));
    await assert.rejects(tokens.verify(alice.token), rejectsWith('WARDEN_ERR_TOKEN_REVOKED', /^Warden token revoked$/));
  });

  it('refuses when any principal of the chain is a disabled user, and accepts again once enabled', async () => {
    const { worker, workerSubject } = await threeLinks('-u');
    await tokens.checkStanding(workerSubject);
    await store.users.setDisabled('alice-u', new Date(T0).toISOString(), new Date(T0).toISOString());
    await assert.rejects(tokens.checkStanding(workerSubject), rejectsWith('WARDEN_ERR_PRINCIPAL_DISABLED', /user "alice-u" is disabled/));
    await assert.rejects(tokens.verify(worker.token), rejectsWith('WARDEN_ERR_PRINCIPAL_DISABLED'));
    await store.users.setDisabled('alice-u', null, new Date(T0).toISOString());
    await tokens.checkStanding(workerSubject);
  });

  it('only looks up users for user links: a disabled user named like an agent link changes nothing', async () => {
    const { workerSubject } = await threeLinks('-k');
    await store.users.setDisabled('planner-k', new Date(T0).toISOString(), new Date(T0).toISOString());
    await store.users.setDisabled('worker-k', new Date(T0).toISOString(), new Date(T0).toISOString());
    await tokens.checkStanding(workerSubject);
  });

  it('refuses when any principal of the chain is a disabled service account, the caller included', async () => {
    const at = new Date(T0).toISOString();
    const DISABLED = (name: string) => rejectsWith('WARDEN_ERR_PRINCIPAL_DISABLED', new RegExp(`service account "${name}" is disabled`));
    // A service account is in a chain only as its origin: it holds a root token of its own and delegates from it.
    await store.serviceAccounts.insert({
      name: 'svc-sa', kind: 'service', description: null, groups: [], targets: ['*'], disabledAt: null, createdAt: at, updatedAt: at,
    });
    const root = await tokens.issue({ subject: 'svc-sa', kind: 'service', groups: ['dev'], targets: ['pg-*'], ttlSeconds: 3600 });
    const rootSubject = await tokens.verify(root.token);
    const helperSubject = await tokens.verify((await tokens.delegate(rootSubject, { to: 'helper-sa' })).token);
    const worker = await tokens.delegate(helperSubject, { to: 'worker-sa', classes: ['read'] });
    const workerSubject = await tokens.verify(worker.token);
    assert.deepEqual(workerSubject.chain, [{ id: 'svc-sa', kind: 'service' }, { id: 'helper-sa', kind: 'agent' }]);
    // An agent-kind service account with its own token, and a sub-agent of it.
    await store.serviceAccounts.insert({
      name: 'bot-sa', kind: 'agent', description: null, groups: [], targets: ['*'], disabledAt: null, createdAt: at, updatedAt: at,
    });
    const botSubject = await tokens.verify((await tokens.issue({ subject: 'bot-sa', kind: 'agent', ttlSeconds: 3600 })).token);
    const botHelperSubject = await tokens.verify((await tokens.delegate(botSubject, { to: 'bot-helper-sa' })).token);
    for (const s of [rootSubject, helperSubject, workerSubject, botSubject, botHelperSubject]) await tokens.checkStanding(s);

    await store.serviceAccounts.setDisabled('svc-sa', at, at);
    for (const s of [rootSubject, helperSubject, workerSubject]) await assert.rejects(tokens.checkStanding(s), DISABLED('svc-sa'), s.id);
    await assert.rejects(tokens.verify(worker.token), DISABLED('svc-sa'));
    for (const s of [botSubject, botHelperSubject]) await tokens.checkStanding(s);
    await store.serviceAccounts.setDisabled('svc-sa', null, at);
    await tokens.checkStanding(workerSubject);

    await store.serviceAccounts.setDisabled('bot-sa', at, at);
    await assert.rejects(tokens.checkStanding(botSubject), DISABLED('bot-sa'));
    await assert.rejects(tokens.checkStanding(botHelperSubject), DISABLED('bot-sa'));
    await tokens.checkStanding(workerSubject);
  });

  it('also refuses when a service account registered later under a sub-agent\'s name is disabled', async () => {
    const { workerSubject, plannerSubject } = await threeLinks('-a');
    const at = new Date(T0).toISOString();
    for (const [name, kind] of [['planner-a', 'service'], ['worker-a', 'agent']] as const) {
      await store.serviceAccounts.insert({
        name, kind, description: null, groups: [], targets: ['*'], disabledAt: null, createdAt: at, updatedAt: at,
      });
    }
    await tokens.checkStanding(workerSubject);
    await store.serviceAccounts.setDisabled('planner-a', at, at);
    await assert.rejects(tokens.checkStanding(workerSubject), rejectsWith('WARDEN_ERR_PRINCIPAL_DISABLED', /service account "planner-a" is disabled/));
    await assert.rejects(tokens.checkStanding(plannerSubject), rejectsWith('WARDEN_ERR_PRINCIPAL_DISABLED'));
    await store.serviceAccounts.setDisabled('planner-a', null, at);
    await tokens.checkStanding(workerSubject);
    await store.serviceAccounts.setDisabled('worker-a', at, at);
    await assert.rejects(tokens.checkStanding(workerSubject), rejectsWith('WARDEN_ERR_PRINCIPAL_DISABLED', /service account "worker-a" is disabled/));
    await tokens.checkStanding(plannerSubject);
  });

  it('refuses a subject that does not match its token record, or whose parent is unknown', async () => {
    const { workerSubject } = await threeLinks('-m');
    await assert.rejects(tokens.checkStanding({ ...workerSubject, id: 'someone-else' }), rejectsWith('WARDEN_ERR_TOKEN_INVALID'));
    await assert.rejects(tokens.checkStanding({ ...workerSubject, tokenId: 'tok_unknown' }), rejectsWith('WARDEN_ERR_TOKEN_INVALID'));
    await store.tokens.insert({
      id: 'tok_orphan', subject: 'orphan', subjectKind: 'agent', groups: [], targets: ['*'], issuedAt: new Date(T0).toISOString(),
      expiresAt: new Date(T0 + 60_000).toISOString(), revokedAt: null, parentId: 'tok_gone', chain: [{ id: 'x', kind: 'user' }], classes: null,
    });
    const orphan: Subject = { id: 'orphan', kind: 'agent', groups: [], chain: [{ id: 'x', kind: 'user' }], tokenId: 'tok_orphan', targets: ['*'], expiresAt: S0 + 60 };
    await assert.rejects(tokens.checkStanding(orphan), rejectsWith('WARDEN_ERR_TOKEN_INVALID'));
  });
});
