/**
 * Service accounts and API keys (service-accounts.ts) against a real SQLite store and token service: account
 * creation and validation, key format and hashed storage, and the key-for-token exchange with every refusal giving
 * the same message (wrong secret, unknown id, malformed, revoked, expired, wrong client id), a disabled account, the
 * lifetime ceiling, target narrowing and the last-used time, and delegation from a key's token (the account heads
 * the chain; its name is no sub-agent's).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { WardenError } from '../errors.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import {
  API_KEY_PREFIX, DEFAULT_KEY_TOKEN_TTL_SECONDS, MAX_KEY_TOKEN_TTL_SECONDS, ServiceAccounts,
} from './service-accounts.js';
import { TokenService } from './tokens.js';

const T0 = Date.UTC(2030, 5, 1, 8, 0, 0);
const BAD_KEY_MESSAGE = 'invalid, expired or revoked API key';

function rejectsWith(code: string, message?: string | RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof WardenError, `expected WardenError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  };
}
const BAD_KEY = rejectsWith('WARDEN_ERR_UNAUTHENTICATED', BAD_KEY_MESSAGE);

describe('ServiceAccounts', () => {
  let dir: string;
  let store: Store;
  let clock = T0;
  let tokens: TokenService;
  let accounts: ServiceAccounts;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-sa-'));
    store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
    tokens = await TokenService.create({ store, dataDir: dir, now: () => clock });
    accounts = new ServiceAccounts({ store, tokens, now: () => clock });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    clock = T0;
  });

  describe('create', () => {
    it('stores an account with defaults', async () => {
      const record = await accounts.create({ name: 'etl' });
      const at = new Date(T0).toISOString();
      assert.deepEqual(record, {
        name: 'etl', kind: 'service', description: null, groups: [], targets: ['*'], disabledAt: null, createdAt: at, updatedAt: at,
      });
      assert.deepEqual(await store.serviceAccounts.get('etl'), record);
      assert.deepEqual(await accounts.get('etl'), record);
    });

    it('keeps kind, description, and de-duplicated groups and targets', async () => {
      const record = await accounts.create({
        name: 'Agent_7.b-x', kind: 'agent', description: 'a bot', groups: ['agents', 'agents', 'dev'], targets: ['pg-*', 'pg-*'],
      });
      assert.equal(record.kind, 'agent');
      assert.equal(record.description, 'a bot');
      assert.deepEqual(record.groups, ['agents', 'dev']);
      assert.deepEqual(record.targets, ['pg-*']);
    });

    it('refuses a name that exists with WARDEN_ERR_CONFLICT and keeps the first', async () => {
      await accounts.create({ name: 'dup', description: 'first' });
      await assert.rejects(accounts.create({ name: 'dup', description: 'second' }), rejectsWith('WARDEN_ERR_CONFLICT'));
      assert.equal((await accounts.get('dup')).description, 'first');
    });

    it('refuses bad names, groups and targets', async () => {
      const names = ['', '-lead', '.dot', '_u', 'has space', 'slash/x', 'x'.repeat(64), 'é', 'a\nb', 'a:b'];
      for (const name of names) {
        await assert.rejects(accounts.create({ name }), rejectsWith('WARDEN_ERR_BAD_REQUEST', /service account name/), JSON.stringify(name));
        assert.equal(await store.serviceAccounts.get(name), undefined);
      }
      await accounts.create({ name: 'x'.repeat(63) });
      await accounts.create({ name: '0-digit-first' });
      await assert.rejects(accounts.create({ name: 'g', groups: [''] }), rejectsWith('WARDEN_ERR_BAD_REQUEST', /groups/));
      await assert.rejects(accounts.create({ name: 't', targets: [] }), rejectsWith('WARDEN_ERR_BAD_REQUEST', /targets/));
      await assert.rejects(accounts.create({ name: 't', targets: [''] }), rejectsWith('WARDEN_ERR_BAD_REQUEST', /targets/));
      assert.equal(await store.serviceAccounts.get('g'), undefined);
      assert.equal(await store.serviceAccounts.get('t'), undefined);
    });

    it('reports an unknown account as WARDEN_ERR_NOT_FOUND', async () => {
      await assert.rejects(accounts.get('nobody'), rejectsWith('WARDEN_ERR_NOT_FOUND'));
      await assert.rejects(accounts.setDisabled('nobody', true), rejectsWith('WARDEN_ERR_NOT_FOUND'));
      await assert.rejects(accounts.createKey('nobody'), rejectsWith('WARDEN_ERR_NOT_FOUND'));
    });
  });

  describe('createKey', () => {
    it('returns wk_<16>.<43> once and stores only the SHA-256 of the secret', async () => {
      await accounts.create({ name: 'keyed' });
      const { key, record } = await accounts.createKey('keyed');
      const match = /^wk_([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/.exec(key);
      assert.ok(match, key.slice(0, 3));
      assert.ok(key.startsWith(API_KEY_PREFIX));
      const [, idPart, secret] = match;
      assert.equal(record.id, `key_${idPart}`);
      const stored = await store.serviceAccounts.getKey(record.id);
      assert.deepEqual(stored, record);
      assert.deepEqual(stored, {
        id: `key_${idPart}`, serviceAccount: 'keyed', secretHash: createHash('sha256').update(secret).digest('hex'),
        createdAt: new Date(T0).toISOString(), expiresAt: null, lastUsedAt: null, revokedAt: null,
      });
      const row = JSON.stringify(stored);
      assert.ok(!row.includes(secret), 'the secret is not stored');
      assert.ok(!row.includes(key), 'the key is not stored');
      assert.deepEqual((await store.serviceAccounts.listKeys('keyed')).map((k) => k.id), [record.id]);
    });

    it('gives each key its own id and secret, and an expiry when asked', async () => {
      await accounts.create({ name: 'two-keys' });
      const a = await accounts.createKey('two-keys');
      const b = await accounts.createKey('two-keys', 90 * 86_400);
      assert.notEqual(a.record.id, b.record.id);
      assert.notEqual(a.key.split('.')[1], b.key.split('.')[1]);
      assert.equal(b.record.expiresAt, new Date(T0 + 90 * 86_400_000).toISOString());
    });

    it('refuses a non-positive or fractional key lifetime', async () => {
      await accounts.create({ name: 'bad-ttl' });
      for (const ttl of [0, -1, 1.5, Number.NaN]) {
        await assert.rejects(accounts.createKey('bad-ttl', ttl), rejectsWith('WARDEN_ERR_BAD_REQUEST'), String(ttl));
      }
      assert.deepEqual(await store.serviceAccounts.listKeys('bad-ttl'), []);
    });
  });

  describe('exchange', () => {
    let key: string;
    let keyId: string;
    before(async () => {
      clock = T0;
      await accounts.create({ name: 'reporter', kind: 'agent', groups: ['agents'], targets: ['pg-*', 'stage'] });
      ({ key, record: { id: keyId } } = await accounts.createKey('reporter'));
    });

    it('trades a good key for a token that verifies to the account, and marks the key used', async () => {
      clock = T0 + 5000;
      const issued = await accounts.exchange(key);
      const subject = await tokens.verify(issued.token);
      assert.deepEqual(subject, {
        id: 'reporter', kind: 'agent', groups: ['agents'], chain: [], tokenId: issued.id, targets: ['pg-*', 'stage'],
        expiresAt: (T0 + 5000) / 1000 + DEFAULT_KEY_TOKEN_TTL_SECONDS,
      });
      assert.equal((await store.serviceAccounts.getKey(keyId))?.lastUsedAt, new Date(T0 + 5000).toISOString());
      clock = T0 + 9000;
      await accounts.exchange(key, { clientId: 'reporter' });
      assert.equal((await store.serviceAccounts.getKey(keyId))?.lastUsedAt, new Date(T0 + 9000).toISOString());
    });

    it('narrows targets and sets a lifetime up to the maximum', async () => {
      const issued = await accounts.exchange(key, { targets: ['pg-main'], ttlSeconds: MAX_KEY_TOKEN_TTL_SECONDS });
      const subject = await tokens.verify(issued.token);
      assert.deepEqual(subject.targets, ['pg-main']);
      assert.equal(subject.expiresAt, T0 / 1000 + MAX_KEY_TOKEN_TTL_SECONDS);
      await assert.rejects(accounts.exchange(key, { targets: ['mysql'] }), rejectsWith('WARDEN_ERR_FORBIDDEN'));
      await assert.rejects(accounts.exchange(key, { targets: ['*'] }), rejectsWith('WARDEN_ERR_FORBIDDEN'));
    });

    it('refuses a lifetime over the maximum, or not positive', async () => {
      for (const ttlSeconds of [MAX_KEY_TOKEN_TTL_SECONDS + 1, 0, -5, 1.5]) {
        await assert.rejects(accounts.exchange(key, { ttlSeconds }),
          rejectsWith('WARDEN_ERR_BAD_REQUEST', new RegExp(`at most ${MAX_KEY_TOKEN_TTL_SECONDS} seconds`)), String(ttlSeconds));
      }
    });

    it('gives one message for a wrong secret, unknown id, malformed key or wrong client id', async () => {
      const [prefixAndId, secret] = key.split('.');
      const flipped = `${prefixAndId}.${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
      const unknownId = `wk_${'A'.repeat(16)}.${secret}`;
      const bad = [
        flipped, unknownId, '', 'wk_', key.slice(0, -1), `${key}x`, key.replace('wk_', 'xk_'), key.replace('.', '-'),
        `${prefixAndId}.${secret}.${secret}`, ` ${key}`, 'not a key at all',
      ];
      const before = (await store.serviceAccounts.getKey(keyId))?.lastUsedAt;
      for (const k of bad) await assert.rejects(accounts.exchange(k), BAD_KEY, k.slice(0, 8));
      await assert.rejects(accounts.exchange(undefined as unknown as string), BAD_KEY);
      await assert.rejects(accounts.exchange(key, { clientId: 'someone-else' }), BAD_KEY);
      await assert.rejects(accounts.exchange(key, { clientId: '' }), BAD_KEY);
      assert.equal((await store.serviceAccounts.getKey(keyId))?.lastUsedAt, before, 'a refused exchange does not mark the key used');
    });

    it('refuses a revoked key with the same message, and revoking twice keeps the first time', async () => {
      const { key: k, record } = await accounts.createKey('reporter');
      await accounts.exchange(k);
      clock = T0 + 1000;
      const revoked = await accounts.revokeKey(record.id);
      assert.equal(revoked.revokedAt, new Date(T0 + 1000).toISOString());
      await assert.rejects(accounts.exchange(k), BAD_KEY);
      clock = T0 + 2000;
      assert.equal((await accounts.revokeKey(record.id)).revokedAt, new Date(T0 + 1000).toISOString());
      await assert.rejects(accounts.revokeKey('key_nope'), rejectsWith('WARDEN_ERR_NOT_FOUND'));
      await accounts.exchange(key); // the other key of the account still works
    });

    it('refuses an expired key with the same message', async () => {
      const { key: k } = await accounts.createKey('reporter', 60);
      clock = T0 + 59_999;
      await accounts.exchange(k);
      clock = T0 + 60_000;
      await assert.rejects(accounts.exchange(k), BAD_KEY);
      clock = T0 + 86_400_000;
      await assert.rejects(accounts.exchange(k), BAD_KEY);
    });

    it('refuses a disabled account with WARDEN_ERR_PRINCIPAL_DISABLED, and works again once enabled', async () => {
      await accounts.create({ name: 'pausable' });
      const { key: k } = await accounts.createKey('pausable');
      clock = T0 + 3000;
      const disabled = await accounts.setDisabled('pausable', true);
      assert.equal(disabled.disabledAt, new Date(T0 + 3000).toISOString());
      assert.equal(disabled.updatedAt, new Date(T0 + 3000).toISOString());
      await assert.rejects(accounts.exchange(k), rejectsWith('WARDEN_ERR_PRINCIPAL_DISABLED', 'service account "pausable" is disabled'));
      // A wrong secret for a disabled account still says nothing about the account.
      await assert.rejects(accounts.exchange(`${k.split('.')[0]}.${'A'.repeat(43)}`), BAD_KEY);
      assert.equal((await accounts.setDisabled('pausable', false)).disabledAt, null);
      const subject = await tokens.verify((await accounts.exchange(k)).token);
      assert.equal(subject.id, 'pausable');
      assert.equal(subject.kind, 'service');
    });

    it('a token from a key stops verifying once its account is disabled', async () => {
      await accounts.create({ name: 'later-off', kind: 'agent' });
      const { key: k } = await accounts.createKey('later-off');
      const issued = await accounts.exchange(k);
      await tokens.verify(issued.token);
      await accounts.setDisabled('later-off', true);
      await assert.rejects(tokens.verify(issued.token), rejectsWith('WARDEN_ERR_PRINCIPAL_DISABLED'));
    });

    it('a token from a key delegates: the account heads the chain, and no sub-agent may take its name', async () => {
      await accounts.create({ name: 'nightly', kind: 'service', groups: ['etl'], targets: ['pg-*'] });
      const { key: k } = await accounts.createKey('nightly');
      const own = await tokens.verify((await accounts.exchange(k)).token);
      const sub = await tokens.delegate(own, { to: 'nightly-helper', targets: ['pg-main'] });
      const subject = await tokens.verify(sub.token);
      assert.equal(subject.kind, 'agent');
      assert.deepEqual(subject.chain, [{ id: 'nightly', kind: 'service' }]);
      assert.deepEqual(subject.groups, ['etl']);
      // Neither this account's name nor another account's may be a sub-agent's.
      await assert.rejects(tokens.delegate(subject, { to: 'reporter' }), rejectsWith('WARDEN_ERR_FORBIDDEN', /a sub-agent needs a name of its own/));
      await assert.rejects(tokens.delegate(subject, { to: 'nightly' }), rejectsWith('WARDEN_ERR_BAD_REQUEST', /already in the delegation chain/));
      // Disabling the account refuses the sub-agent too.
      await accounts.setDisabled('nightly', true);
      await assert.rejects(tokens.verify(sub.token), rejectsWith('WARDEN_ERR_PRINCIPAL_DISABLED', 'service account "nightly" is disabled'));
    });
  });
});
