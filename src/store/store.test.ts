/**
 * Store tests against a real SQLite file in a temporary directory: every repository method, conflicts, event
 * ordering, JSON round trips, recovery after a crash (endDangling), durability across reopen, and fail-closed
 * behaviour once the store is closed.
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
import { migrateToLatest } from './migrations.js';
import { createKyselyStore } from './repositories.js';
import type { Database } from './schema.js';
import type { SessionRecord, Store, TargetRecord, TokenRecord } from './types.js';

function target(name: string, extra: Partial<Extract<TargetRecord, { type: 'postgres' }>> = {}): TargetRecord {
  return {
    name, type: 'postgres', host: 'db.internal', port: 5432, database: 'app', user: 'app_rw',
    passwordEnc: 'v1.aaa.bbb.ccc', tls: 'verify-full', ca: '-----BEGIN CERTIFICATE-----\nx\n', labels: { env: 'prod', 'team/x': 'é ünïcode' },
    createdAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:00:00.000Z', ...extra,
  };
}

function token(id: string, extra: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id, subject: 'alice', subjectKind: 'user', groups: ['dba', 'warden-admins'], targets: ['prod-*'],
    issuedAt: '2025-01-01T00:00:00.000Z', expiresAt: '2025-01-02T00:00:00.000Z', revokedAt: null, parentId: null, chain: [],
    classes: null, ...extra,
  };
}

function session(id: string, startedAt: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id, protocol: 'postgres', subject: 'bot', subjectKind: 'agent', groups: ['agents'],
    chain: [{ id: 'alice', kind: 'user' }, { id: 'bot', kind: 'agent' }], tokenId: 'tok_1', target: 'prod-db',
    database: 'app', clientAddress: '127.0.0.1:5555', startedAt, endedAt: null, endReason: null, ...extra,
  };
}

function isCode(code: string) {
  return (err: unknown) => err instanceof WardenError && err.code === code;
}

describe('SQLite store', () => {
  let dir: string;
  let file: string;
  let store: Store;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-store-'));
    file = path.join(dir, 'nested', 'warden.db');
    store = await openStore({ kind: 'sqlite', path: file });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('inserts, gets, lists and removes targets with JSON labels intact', async () => {
    await store.targets.insert(target('prod-db'));
    await store.targets.insert(target('a-db', { passwordEnc: null, ca: null, labels: {} }));
    assert.deepEqual(await store.targets.get('prod-db'), target('prod-db'));
    assert.equal(await store.targets.get('missing'), undefined);
    assert.deepEqual((await store.targets.list()).map((t) => t.name), ['a-db', 'prod-db']);
    assert.equal(await store.targets.remove('a-db'), true);
    assert.equal(await store.targets.remove('a-db'), false);
    assert.deepEqual((await store.targets.list()).map((t) => t.name), ['prod-db']);
  });

  it('refuses a duplicate target with WARDEN_ERR_CONFLICT and keeps the original', async () => {
    await assert.rejects(store.targets.insert(target('prod-db', { host: 'evil' })), (err: unknown) => {
      assert.ok(err instanceof WardenError);
      assert.equal(err.code, 'WARDEN_ERR_CONFLICT');
      assert.equal(err.message, 'target "prod-db" already exists');
      return true;
    });
    const stored = await store.targets.get('prod-db');
    assert.equal(stored?.type === 'postgres' ? stored.host : undefined, 'db.internal');
  });

  it('stores tokens and revokes them once', async () => {
    await store.tokens.insert(token('tok_1'));
    await store.tokens.insert(token('tok_2', { issuedAt: '2025-01-03T00:00:00.000Z', subjectKind: 'service' }));
    assert.deepEqual(await store.tokens.get('tok_1'), token('tok_1'));
    assert.equal(await store.tokens.get('tok_x'), undefined);
    assert.deepEqual((await store.tokens.list()).map((t) => t.id), ['tok_2', 'tok_1']);
    await assert.rejects(store.tokens.insert(token('tok_1')), isCode('WARDEN_ERR_CONFLICT'));

    assert.equal(await store.tokens.revoke('tok_1', '2025-01-01T12:00:00.000Z'), true);
    assert.equal(await store.tokens.revoke('tok_1', '2025-01-01T13:00:00.000Z'), true);
    assert.equal((await store.tokens.get('tok_1'))?.revokedAt, '2025-01-01T12:00:00.000Z');
    assert.equal(await store.tokens.revoke('tok_x', '2025-01-01T12:00:00.000Z'), false);
  });

  it('inserts, gets, ends and lists sessions newest first with filters', async () => {
    await store.sessions.insert(session('s1', '2025-01-01T00:00:01.000Z'));
    await store.sessions.insert(session('s2', '2025-01-01T00:00:02.000Z', { subject: 'alice', chain: [] }));
    await store.sessions.insert(session('s3', '2025-01-01T00:00:03.000Z', { target: 'stage-db' }));
    assert.deepEqual(await store.sessions.get('s1'), session('s1', '2025-01-01T00:00:01.000Z'));
    assert.equal(await store.sessions.get('nope'), undefined);
    await assert.rejects(store.sessions.insert(session('s1', 'x')), isCode('WARDEN_ERR_CONFLICT'));

    await store.sessions.end('s1', '2025-01-01T00:01:00.000Z', 'client closed');
    await store.sessions.end('s1', '2025-01-01T00:02:00.000Z', 'again');
    await store.sessions.end('unknown', '2025-01-01T00:02:00.000Z', 'ignored');
    const s1 = await store.sessions.get('s1');
    assert.equal(s1?.endedAt, '2025-01-01T00:01:00.000Z');
    assert.equal(s1?.endReason, 'client closed');

    const ids = async (q?: Parameters<Store['sessions']['list']>[0]) => (await store.sessions.list(q)).map((s) => s.id);
    assert.deepEqual(await ids(), ['s3', 's2', 's1']);
    assert.deepEqual(await ids({ limit: 2 }), ['s3', 's2']);
    assert.deepEqual(await ids({ subject: 'bot' }), ['s3', 's1']);
    assert.deepEqual(await ids({ target: 'stage-db' }), ['s3']);
    assert.deepEqual(await ids({ active: true }), ['s3', 's2']);
    assert.deepEqual(await ids({ active: false }), ['s1']);
    assert.deepEqual(await ids({ subject: 'bot', active: true }), ['s3']);
    for (const limit of [0, -1, 1.5, 1001]) {
      await assert.rejects(store.sessions.list({ limit }), isCode('WARDEN_ERR_BAD_REQUEST'));
    }
  });

  it('appends events in one transaction and reads them in seq order', async () => {
    await store.sessions.appendEvents([
      { sessionId: 's2', seq: 2, at: '2025-01-01T00:00:02.200Z', type: 'command', data: { text: 'select 1', n: [1, null] } },
      { sessionId: 's2', seq: 1, at: '2025-01-01T00:00:02.100Z', type: 'start', data: {} },
      { sessionId: 's3', seq: 1, at: '2025-01-01T00:00:03.100Z', type: 'start', data: { nested: { ok: true } } },
    ]);
    await store.sessions.appendEvents([]);
    const events = await store.sessions.events('s2');
    assert.deepEqual(events.map((e) => e.seq), [1, 2]);
    assert.deepEqual(events[1], {
      sessionId: 's2', seq: 2, at: '2025-01-01T00:00:02.200Z', type: 'command', data: { text: 'select 1', n: [1, null] },
    });
    assert.deepEqual((await store.sessions.events('s3'))[0].data, { nested: { ok: true } });
    assert.deepEqual(await store.sessions.events('none'), []);
  });

  it('rolls back a whole batch when one event repeats a seq', async () => {
    await assert.rejects(
      store.sessions.appendEvents([
        { sessionId: 's2', seq: 3, at: '2025-01-01T00:00:02.300Z', type: 'result', data: {} },
        { sessionId: 's2', seq: 1, at: '2025-01-01T00:00:02.400Z', type: 'dup', data: {} },
      ]),
      isCode('WARDEN_ERR_CONFLICT'),
    );
    assert.deepEqual((await store.sessions.events('s2')).map((e) => e.seq), [1, 2]);
  });

  it('appends a batch larger than one INSERT', async () => {
    const many = Array.from({ length: 1234 }, (_, i) => ({
      sessionId: 's-big', seq: i, at: '2025-01-01T00:00:00.000Z', type: 'result', data: { i },
    }));
    await store.sessions.appendEvents(many);
    const read = await store.sessions.events('s-big');
    assert.equal(read.length, 1234);
    assert.ok(read.every((e, i) => e.seq === i && e.data.i === i));
  });

  it('ends dangling sessions and counts them', async () => {
    assert.equal(await store.sessions.endDangling('2025-01-02T00:00:00.000Z', 'gateway restarted'), 2);
    assert.equal(await store.sessions.endDangling('2025-01-02T00:00:00.000Z', 'gateway restarted'), 0);
    assert.equal((await store.sessions.get('s3'))?.endReason, 'gateway restarted');
    assert.equal((await store.sessions.get('s1'))?.endReason, 'client closed');
    assert.deepEqual(await store.sessions.list({ active: true }), []);
  });

  it('keeps everything after closing and reopening the file', async () => {
    await store.close();
    store = await openStore({ kind: 'sqlite', path: file });
    assert.equal((await store.targets.get('prod-db'))?.labels['team/x'], 'é ünïcode');
    assert.equal((await store.tokens.get('tok_1'))?.revokedAt, '2025-01-01T12:00:00.000Z');
    assert.equal((await store.sessions.list()).length, 3);
    assert.equal((await store.sessions.events('s-big')).length, 1234);
  });

  it('raises WARDEN_ERR_STORE_UNAVAILABLE from every method once closed', async () => {
    const closed = await openStore({ kind: 'sqlite', path: file });
    await closed.close();
    await closed.close();
    const calls: Array<() => Promise<unknown>> = [
      () => closed.targets.insert(target('x')), () => closed.targets.get('x'), () => closed.targets.list(),
      () => closed.targets.remove('x'), () => closed.tokens.insert(token('x')), () => closed.tokens.get('x'),
      () => closed.tokens.list(), () => closed.tokens.revoke('x', 'now'), () => closed.sessions.insert(session('x', 'y')),
      () => closed.sessions.end('x', 'y', 'z'), () => closed.sessions.get('x'), () => closed.sessions.list(),
      () => closed.sessions.appendEvents([{ sessionId: 'x', seq: 1, at: 'y', type: 't', data: {} }]),
      () => closed.sessions.events('x'), () => closed.sessions.endDangling('y', 'z'),
    ];
    for (const call of calls) await assert.rejects(call(), isCode('WARDEN_ERR_STORE_UNAVAILABLE'));
  });

  it('maps a driver failure under an open store to WARDEN_ERR_STORE_UNAVAILABLE', async () => {
    // Closing the raw handle behind the repositories' back stands in for a disk or connection failure.
    const handle = new BetterSqlite3(':memory:');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: handle }) });
    await migrateToLatest(db);
    const broken = createKyselyStore(db);
    await broken.targets.insert(target('m'));
    handle.close();
    await assert.rejects(broken.targets.get('m'), (err: unknown) => {
      assert.ok(err instanceof WardenError);
      assert.equal(err.code, 'WARDEN_ERR_STORE_UNAVAILABLE');
      assert.match(err.detail ?? '', /targets\.get/);
      return true;
    });
    await assert.rejects(broken.sessions.appendEvents([{ sessionId: 'x', seq: 1, at: 'y', type: 't', data: {} }]),
      isCode('WARDEN_ERR_STORE_UNAVAILABLE'));
  });

  it('waits for another connection\'s write lock on timers, not on the event loop, and then writes', async () => {
    const other = new BetterSqlite3(file);
    other.exec('BEGIN IMMEDIATE');
    const insert = store.targets.insert(target('after-lock'));
    let turns = 0;
    while (turns < 20) { await new Promise((r) => setImmediate(r)); turns++; } // the loop turns while the insert waits
    other.exec('COMMIT');
    other.close();
    await insert;
    assert.equal((await store.targets.get('after-lock'))?.name, 'after-lock');
    assert.equal(await store.targets.remove('after-lock'), true);
  });

  it('puts a file store in WAL mode', () => {
    const raw = new BetterSqlite3(file, { readonly: true });
    try {
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      raw.close();
    }
  });

  it('reports a path it cannot create as WARDEN_ERR_STORE_UNAVAILABLE', async () => {
    await assert.rejects(
      openStore({ kind: 'sqlite', path: path.join(file, 'not-a-dir', 'x.db') }),
      isCode('WARDEN_ERR_STORE_UNAVAILABLE'),
    );
  });
});
