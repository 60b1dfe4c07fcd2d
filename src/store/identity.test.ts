/**
 * The identity repositories (identity.ts) and the delegation queries of the token repository against a real SQLite
 * file: users upserted at sign-in without ever being re-enabled, disabling an unknown name, service accounts and
 * their keys, identity providers upserted keeping `createdAt`, `tokens.children` and `tokens.activeFor` (LIKE
 * wildcards in names must not over-match), and fail-closed errors once the store is closed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WardenError } from '../errors.js';
import { openStore } from './index.js';
import type { ApiKeyRecord, ServiceAccountRecord, Store, TokenRecord } from './types.js';

const at = (minute: number) => new Date(Date.UTC(2030, 0, 1, 0, minute)).toISOString();

function isCode(code: string) {
  return (err: unknown) => err instanceof WardenError && err.code === code;
}

function account(name: string, extra: Partial<ServiceAccountRecord> = {}): ServiceAccountRecord {
  return {
    name, kind: 'agent', description: 'reports bot', groups: ['agents', 'dev'], targets: ['pg-*', 'stage'], disabledAt: null,
    createdAt: at(0), updatedAt: at(0), ...extra,
  };
}

function apiKey(id: string, serviceAccount: string, extra: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id, serviceAccount, secretHash: 'a'.repeat(64), createdAt: at(1), expiresAt: null, lastUsedAt: null, revokedAt: null, ...extra,
  };
}

function token(id: string, extra: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id, subject: 'alice', subjectKind: 'user', groups: [], targets: ['*'], issuedAt: at(0), expiresAt: at(60), revokedAt: null,
    parentId: null, chain: [], classes: null, ...extra,
  };
}

describe('SQLite identity store', () => {
  let dir: string;
  let file: string;
  let store: Store;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-identity-store-'));
    file = path.join(dir, 'warden.db');
    store = await openStore({ kind: 'sqlite', path: file });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('users', () => {
    it('recordLogin creates a user, then refreshes it keeping createdAt', async () => {
      const first = await store.users.recordLogin({
        name: 'alice', email: 'alice@example.com', displayName: 'Alice', groups: ['dev'], provider: 'corp', at: at(1),
      });
      assert.deepEqual(first, {
        name: 'alice', email: 'alice@example.com', displayName: 'Alice', groups: ['dev'], provider: 'corp', disabledAt: null,
        createdAt: at(1), updatedAt: at(1), lastLoginAt: at(1),
      });
      const second = await store.users.recordLogin({
        name: 'alice', email: 'alice@new.example', displayName: null, groups: ['dev', 'dba'], provider: 'saml-corp', at: at(5),
      });
      assert.deepEqual(second, {
        name: 'alice', email: 'alice@new.example', displayName: null, groups: ['dev', 'dba'], provider: 'saml-corp', disabledAt: null,
        createdAt: at(1), updatedAt: at(5), lastLoginAt: at(5),
      });
      assert.deepEqual(await store.users.get('alice'), second);
    });

    it('recordLogin never re-enables a disabled user', async () => {
      await store.users.recordLogin({ name: 'mallory', email: null, displayName: null, groups: [], provider: 'corp', at: at(1) });
      await store.users.setDisabled('mallory', at(2), at(2));
      const again = await store.users.recordLogin({ name: 'mallory', email: 'm@x', displayName: 'M', groups: ['dev'], provider: 'corp', at: at(3) });
      assert.equal(again.disabledAt, at(2));
      assert.equal(again.email, 'm@x');
      assert.equal(again.lastLoginAt, at(3));
      assert.equal((await store.users.get('mallory'))?.disabledAt, at(2));
    });

    it('setDisabled creates a row for an unknown name, and clears it again', async () => {
      assert.equal(await store.users.get('preemptive'), undefined);
      const created = await store.users.setDisabled('preemptive', at(7), at(7));
      assert.deepEqual(created, {
        name: 'preemptive', email: null, displayName: null, groups: [], provider: null, disabledAt: at(7),
        createdAt: at(7), updatedAt: at(7), lastLoginAt: null,
      });
      const enabled = await store.users.setDisabled('preemptive', null, at(9));
      assert.equal(enabled.disabledAt, null);
      assert.equal(enabled.createdAt, at(7));
      assert.equal(enabled.updatedAt, at(9));
      // A later sign-in of a user disabled in advance stays disabled.
      await store.users.setDisabled('preemptive', at(10), at(10));
      const login = await store.users.recordLogin({ name: 'preemptive', email: 'p@x', displayName: null, groups: [], provider: 'corp', at: at(11) });
      assert.equal(login.disabledAt, at(10));
      assert.equal(login.createdAt, at(7));
    });

    it('setDisabled on an existing user keeps what the sign-in recorded', async () => {
      await store.users.recordLogin({ name: 'keeps', email: 'k@x', displayName: 'K', groups: ['g'], provider: 'corp', at: at(1) });
      const off = await store.users.setDisabled('keeps', at(2), at(2));
      assert.deepEqual({ ...off }, {
        name: 'keeps', email: 'k@x', displayName: 'K', groups: ['g'], provider: 'corp', disabledAt: at(2), createdAt: at(1),
        updatedAt: at(2), lastLoginAt: at(1),
      });
    });

    it('lists users by name', async () => {
      const names = (await store.users.list()).map((u) => u.name);
      assert.deepEqual(names, [...names].sort());
      for (const n of ['alice', 'mallory', 'preemptive', 'keeps']) assert.ok(names.includes(n), n);
    });
  });

  describe('service accounts', () => {
    it('inserts, gets and lists accounts with JSON lists intact', async () => {
      const a = account('reporter', { groups: ['agents', 'é ünïcode'], targets: ['pg-*'] });
      await store.serviceAccounts.insert(a);
      await store.serviceAccounts.insert(account('etl', { kind: 'service', description: null }));
      assert.deepEqual(await store.serviceAccounts.get('reporter'), a);
      assert.equal(await store.serviceAccounts.get('nobody'), undefined);
      const list = await store.serviceAccounts.list();
      assert.deepEqual(list.map((x) => x.name), ['etl', 'reporter']);
      assert.equal(list[0].kind, 'service');
      assert.equal(list[0].description, null);
    });

    it('refuses a duplicate with WARDEN_ERR_CONFLICT and keeps the original', async () => {
      await assert.rejects(store.serviceAccounts.insert(account('reporter', { description: 'other' })), isCode('WARDEN_ERR_CONFLICT'));
      assert.equal((await store.serviceAccounts.get('reporter'))?.description, 'reports bot');
    });

    it('setDisabled sets and clears the time, and returns undefined for an unknown name', async () => {
      const off = await store.serviceAccounts.setDisabled('reporter', at(3), at(3));
      assert.equal(off?.disabledAt, at(3));
      assert.equal(off?.updatedAt, at(3));
      assert.equal(off?.createdAt, at(0));
      const on = await store.serviceAccounts.setDisabled('reporter', null, at(4));
      assert.equal(on?.disabledAt, null);
      assert.equal(on?.updatedAt, at(4));
      assert.equal(await store.serviceAccounts.setDisabled('ghost', at(3), at(3)), undefined);
      assert.equal(await store.serviceAccounts.get('ghost'), undefined, 'no row is created for an unknown account');
    });

    it('stores keys per account, touches them and revokes once', async () => {
      const k1 = apiKey('key_1', 'reporter', { expiresAt: at(90) });
      const k2 = apiKey('key_2', 'reporter', { createdAt: at(2) });
      await store.serviceAccounts.insertKey(k2);
      await store.serviceAccounts.insertKey(k1);
      await store.serviceAccounts.insertKey(apiKey('key_3', 'etl'));
      assert.deepEqual(await store.serviceAccounts.getKey('key_1'), k1);
      assert.equal(await store.serviceAccounts.getKey('key_none'), undefined);
      assert.deepEqual((await store.serviceAccounts.listKeys('reporter')).map((k) => k.id), ['key_1', 'key_2'], 'oldest first');
      assert.deepEqual((await store.serviceAccounts.listKeys('etl')).map((k) => k.id), ['key_3']);
      assert.deepEqual(await store.serviceAccounts.listKeys('nobody'), []);

      await store.serviceAccounts.touchKey('key_1', at(10));
      await store.serviceAccounts.touchKey('key_1', at(11));
      assert.equal((await store.serviceAccounts.getKey('key_1'))?.lastUsedAt, at(11));
      assert.equal((await store.serviceAccounts.getKey('key_2'))?.lastUsedAt, null);
      await store.serviceAccounts.touchKey('key_none', at(10)); // no error, no row

      assert.equal(await store.serviceAccounts.revokeKey('key_1', at(20)), true);
      assert.equal(await store.serviceAccounts.revokeKey('key_1', at(30)), true);
      assert.equal((await store.serviceAccounts.getKey('key_1'))?.revokedAt, at(20), 'revoking twice keeps the first time');
      assert.equal((await store.serviceAccounts.getKey('key_2'))?.revokedAt, null);
      assert.equal(await store.serviceAccounts.revokeKey('key_none', at(20)), false);
      assert.equal(await store.serviceAccounts.getKey('key_none'), undefined);
    });
  });

  describe('identity providers', () => {
    it('put reports created then updated, keeps createdAt and replaces the rest', async () => {
      const doc = { kind: 'IdentityProvider', name: 'corp', type: 'oidc', issuer: 'https://idp.example', clientId: 'warden' };
      assert.equal(await store.identityProviders.put({
        name: 'corp', type: 'oidc', document: doc, secretEnc: 'v1.enc', createdAt: at(1), updatedAt: at(1),
      }), 'created');
      assert.deepEqual(await store.identityProviders.get('corp'), {
        name: 'corp', type: 'oidc', document: doc, secretEnc: 'v1.enc', createdAt: at(1), updatedAt: at(1),
      });
      const doc2 = { ...doc, clientId: 'warden-2', scopes: ['openid', 'email'] };
      assert.equal(await store.identityProviders.put({
        name: 'corp', type: 'oidc', document: doc2, secretEnc: null, createdAt: at(5), updatedAt: at(5),
      }), 'updated');
      assert.deepEqual(await store.identityProviders.get('corp'), {
        name: 'corp', type: 'oidc', document: doc2, secretEnc: null, createdAt: at(1), updatedAt: at(5),
      });
      await store.identityProviders.put({ name: 'aaa-saml', type: 'saml', document: { name: 'aaa-saml' }, secretEnc: null, createdAt: at(2), updatedAt: at(2) });
      assert.deepEqual((await store.identityProviders.list()).map((p) => [p.name, p.type]), [['aaa-saml', 'saml'], ['corp', 'oidc']]);
      assert.equal(await store.identityProviders.get('none'), undefined);
    });

    it('remove deletes once', async () => {
      assert.equal(await store.identityProviders.remove('aaa-saml'), true);
      assert.equal(await store.identityProviders.remove('aaa-saml'), false);
      assert.equal(await store.identityProviders.get('aaa-saml'), undefined);
      assert.deepEqual((await store.identityProviders.list()).map((p) => p.name), ['corp']);
    });
  });

  describe('token delegation queries', () => {
    it('children lists tokens delegated directly from a parent, by id', async () => {
      await store.tokens.insert(token('tok_root'));
      await store.tokens.insert(token('tok_c2', { subject: 'b', subjectKind: 'agent', parentId: 'tok_root', chain: [{ id: 'alice', kind: 'user' }] }));
      await store.tokens.insert(token('tok_c1', { subject: 'a', subjectKind: 'agent', parentId: 'tok_root', chain: [{ id: 'alice', kind: 'user' }], classes: ['read'] }));
      await store.tokens.insert(token('tok_gc', { subject: 'c', subjectKind: 'agent', parentId: 'tok_c1', chain: [{ id: 'alice', kind: 'user' }, { id: 'a', kind: 'agent' }] }));
      const children = await store.tokens.children('tok_root');
      assert.deepEqual(children.map((t) => t.id), ['tok_c1', 'tok_c2']);
      assert.deepEqual(children[0], token('tok_c1', { subject: 'a', subjectKind: 'agent', parentId: 'tok_root', chain: [{ id: 'alice', kind: 'user' }], classes: ['read'] }));
      assert.deepEqual((await store.tokens.children('tok_c1')).map((t) => t.id), ['tok_gc']);
      assert.deepEqual(await store.tokens.children('tok_gc'), []);
      assert.deepEqual(await store.tokens.children('tok_none'), []);
    });

    it('activeFor finds unrevoked tokens naming the principal as subject or chain link, exactly', async () => {
      const links = (...ids: string[]) => ids.map((id) => ({ id, kind: 'agent' as const }));
      await store.tokens.insert(token('tok_p1', { subject: 'a_b' }));
      await store.tokens.insert(token('tok_p2', { subject: 'x', chain: links('a_b') }));
      await store.tokens.insert(token('tok_p3', { subject: 'y', chain: links('q', 'a_b') }));
      // Names a LIKE with `_` or `%` would also match.
      await store.tokens.insert(token('tok_n1', { subject: 'axb' }));
      await store.tokens.insert(token('tok_n2', { subject: 'z', chain: links('axb') }));
      await store.tokens.insert(token('tok_n3', { subject: 'z2', chain: links('a_bc') }));
      await store.tokens.insert(token('tok_n4', { subject: 'z3', chain: links('A_B') }));
      await store.tokens.insert(token('tok_n5', { subject: 'a_b-suffix' }));
      // Revoked tokens are not active.
      await store.tokens.insert(token('tok_r1', { subject: 'a_b', revokedAt: at(3) }));
      await store.tokens.insert(token('tok_r2', { subject: 'w', chain: links('a_b'), revokedAt: at(3) }));
      assert.deepEqual((await store.tokens.activeFor('a_b')).map((t) => t.id).sort(), ['tok_p1', 'tok_p2', 'tok_p3']);

      await store.tokens.insert(token('tok_pct', { subject: '50%' }));
      await store.tokens.insert(token('tok_pct2', { subject: 'k', chain: links('50%') }));
      await store.tokens.insert(token('tok_pct_n1', { subject: '50%off' }));
      await store.tokens.insert(token('tok_pct_n2', { subject: 'k2', chain: links('500') }));
      await store.tokens.insert(token('tok_pct_n3', { subject: 'k3', chain: links('50%off') }));
      assert.deepEqual((await store.tokens.activeFor('50%')).map((t) => t.id).sort(), ['tok_pct', 'tok_pct2']);
      assert.deepEqual((await store.tokens.activeFor('%')).map((t) => t.id), []);
      assert.deepEqual((await store.tokens.activeFor('_')).map((t) => t.id), []);

      // A name with a JSON-escaped character is still found in the chain.
      await store.tokens.insert(token('tok_q', { subject: 'k4', chain: links('say"hi\\') }));
      assert.deepEqual((await store.tokens.activeFor('say"hi\\')).map((t) => t.id), ['tok_q']);
    });

    it('activeFor is exact about case', async () => {
      await store.tokens.insert(token('tok_case', { subject: 'Zed' }));
      await store.tokens.insert(token('tok_case2', { subject: 'k5', chain: [{ id: 'Zed', kind: 'user' }] }));
      assert.deepEqual((await store.tokens.activeFor('zed')).map((t) => t.id), []);
      assert.deepEqual((await store.tokens.activeFor('Zed')).map((t) => t.id).sort(), ['tok_case', 'tok_case2']);
    });
  });

  it('keeps identity rows after closing and reopening the file', async () => {
    await store.close();
    store = await openStore({ kind: 'sqlite', path: file });
    assert.equal((await store.users.get('mallory'))?.disabledAt, at(2));
    assert.equal((await store.serviceAccounts.getKey('key_1'))?.revokedAt, at(20));
    assert.equal((await store.identityProviders.get('corp'))?.createdAt, at(1));
    assert.deepEqual((await store.tokens.children('tok_root')).map((t) => t.id), ['tok_c1', 'tok_c2']);
  });

  it('raises WARDEN_ERR_STORE_UNAVAILABLE from identity methods once closed', async () => {
    const own = await openStore({ kind: 'sqlite', path: ':memory:' });
    await own.close();
    const calls: Array<() => Promise<unknown>> = [
      () => own.users.recordLogin({ name: 'a', email: null, displayName: null, groups: [], provider: 'p', at: at(0) }),
      () => own.users.get('a'), () => own.users.list(), () => own.users.setDisabled('a', at(0), at(0)),
      () => own.serviceAccounts.insert(account('a')), () => own.serviceAccounts.get('a'), () => own.serviceAccounts.list(),
      () => own.serviceAccounts.setDisabled('a', null, at(0)), () => own.serviceAccounts.insertKey(apiKey('k', 'a')),
      () => own.serviceAccounts.getKey('k'), () => own.serviceAccounts.listKeys('a'), () => own.serviceAccounts.touchKey('k', at(0)),
      () => own.serviceAccounts.revokeKey('k', at(0)),
      () => own.identityProviders.put({ name: 'p', type: 'oidc', document: {}, secretEnc: null, createdAt: at(0), updatedAt: at(0) }),
      () => own.identityProviders.get('p'), () => own.identityProviders.list(), () => own.identityProviders.remove('p'),
      () => own.tokens.children('t'), () => own.tokens.activeFor('a'),
    ];
    for (const call of calls) await assert.rejects(call(), isCode('WARDEN_ERR_STORE_UNAVAILABLE'), call.toString());
  });
});
