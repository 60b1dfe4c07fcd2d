/**
 * Tests of the policy repository against a real SQLite file: upsert semantics (created, then updated with the first
 * createdAt kept), JSON round trips, ordering, removal, durability across reopen, the migration's name and down step,
 * corrupt rows and fail-closed behaviour once the store is closed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { WardenError } from '../errors.js';
import { openStore } from './index.js';
import { MIGRATIONS } from './migrations.js';
import { policyFromRow, policyToRow } from './policies.js';
import type { PolicyRecord, Store } from './types.js';

const T0 = '2030-01-01T00:00:00.000Z';
const T1 = '2030-01-02T00:00:00.000Z';

function policy(name: string, extra: Partial<PolicyRecord> = {}): PolicyRecord {
  return {
    name,
    document: {
      kind: 'Policy', name, description: 'é ünïcode "quoted"',
      rules: [{ name: 'r1', targets: ['pg-*'], match: { classes: ['write'] }, effect: 'deny', message: 'no' }],
    },
    createdAt: T0,
    updatedAt: T0,
    ...extra,
  };
}

function isCode(code: string) {
  return (err: unknown) => err instanceof WardenError && err.code === code;
}

describe('policy repository (SQLite file)', () => {
  let dir: string;
  let file: string;
  let store: Store;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-policies-'));
    file = path.join(dir, 'warden.db');
    store = await openStore({ kind: 'sqlite', path: file });
  });
  after(async () => {
    await store.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('is registered as migration 002_policies', () => {
    assert.ok(Object.hasOwn(MIGRATIONS, '002_policies'));
    const names = Object.keys(MIGRATIONS).sort();
    assert.ok(names.indexOf('002_policies') > names.indexOf('001_initial'));
  });

  it('creates, reads back exactly and lists by name', async () => {
    assert.equal(await store.policies.put(policy('zeta')), 'created');
    assert.equal(await store.policies.put(policy('alpha')), 'created');
    assert.deepEqual(await store.policies.get('alpha'), policy('alpha'));
    assert.deepEqual((await store.policies.list()).map((p) => p.name), ['alpha', 'zeta']);
    assert.equal(await store.policies.get('missing'), undefined);
  });

  it('updates in place, keeping the first createdAt', async () => {
    const changed = policy('alpha', {
      document: { kind: 'Policy', name: 'alpha', rules: [] }, createdAt: T1, updatedAt: T1,
    });
    assert.equal(await store.policies.put(changed), 'updated');
    const stored = await store.policies.get('alpha');
    assert.deepEqual(stored, { ...changed, createdAt: T0 });
    assert.equal((await store.policies.list()).length, 2, 'an update never adds a row');
  });

  it('removes once', async () => {
    assert.equal(await store.policies.remove('zeta'), true);
    assert.equal(await store.policies.remove('zeta'), false);
    assert.equal(await store.policies.get('zeta'), undefined);
  });

  it('keeps policies across a reopen', async () => {
    await store.close();
    store = await openStore({ kind: 'sqlite', path: file });
    assert.deepEqual((await store.policies.list()).map((p) => p.name), ['alpha']);
    assert.equal((await store.policies.get('alpha'))?.createdAt, T0);
  });

  it('reports a corrupt document as the store being unavailable', async () => {
    // Written behind the store's back, as a broken disk or a hand edit would.
    const raw = new BetterSqlite3(file);
    try {
      raw.prepare('INSERT INTO policies (name, document, created_at, updated_at) VALUES (?, ?, ?, ?)')
        .run('broken', '[1,2]', T0, T0);
    } finally {
      raw.close();
    }
    await assert.rejects(store.policies.get('broken'), isCode('WARDEN_ERR_STORE_UNAVAILABLE'));
    await assert.rejects(store.policies.list(), isCode('WARDEN_ERR_STORE_UNAVAILABLE'));
    assert.equal(await store.policies.remove('broken'), true);
  });

  it('fails closed once the store is closed', async () => {
    await store.close();
    await assert.rejects(store.policies.put(policy('x')), isCode('WARDEN_ERR_STORE_UNAVAILABLE'));
    await assert.rejects(store.policies.list(), isCode('WARDEN_ERR_STORE_UNAVAILABLE'));
    await assert.rejects(store.policies.get('x'), isCode('WARDEN_ERR_STORE_UNAVAILABLE'));
    await assert.rejects(store.policies.remove('x'), isCode('WARDEN_ERR_STORE_UNAVAILABLE'));
  });
});

describe('policy rows', () => {
  it('round-trip a record', () => {
    const record = policy('p');
    assert.deepEqual(policyFromRow(policyToRow(record)), record);
  });

  it('refuse a document that is not a JSON object', () => {
    for (const document of ['null', '"x"', '[]', '{']) {
      assert.throws(() => policyFromRow({ name: 'p', document, created_at: T0, updated_at: T0 }),
        { message: 'column policies.document of "p" does not hold a JSON object' }, document);
    }
  });

  it('the migration goes down and up again', async () => {
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });
    try {
      const migration = MIGRATIONS['002_policies'];
      await migration.up(db);
      await db.insertInto('policies').values(policyToRow(policy('p'))).execute();
      await migration.down!(db);
      await migration.up(db);
      assert.deepEqual(await db.selectFrom('policies').selectAll().execute(), []);
    } finally {
      await db.destroy();
    }
  });
});
