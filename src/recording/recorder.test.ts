/**
 * Recorder tests against a real SQLite store: late events after a session ended (the cancel-and-close race), a
 * flood of cancels and closes, a chunk the store refuses isolated from every other session, a store locked by
 * another connection (the event loop keeps running, nothing is lost, ends are written when it returns), a full
 * store reported as SQLITE_FULL, the memory cap in bytes, and long values recorded as prefix, length and hash.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely } from 'kysely';
import pino from 'pino';
import { migrateToLatest } from '../store/migrations.js';
import { createKyselyStore } from '../store/repositories.js';
import type { Database } from '../store/schema.js';
import { WardenSqliteDialect } from '../store/sqlite.js';
import type { Store } from '../store/types.js';
import { Recorder } from './recorder.js';
import { MAX_RECORDED_PARAM_BYTES, recordedText, recordedTextParam } from './values.js';

/** A store on a real file with its raw handle, and a logger whose lines the test can read. */
async function fixture(file: string) {
  const handle = new BetterSqlite3(file);
  handle.pragma('journal_mode = WAL');
  handle.pragma('busy_timeout = 5');
  const db = new Kysely<Database>({ dialect: new WardenSqliteDialect(handle) });
  await migrateToLatest(db);
  const store = createKyselyStore(db);
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const logger = pino({ level: 'debug' }, sink);
  return { handle, store, lines, logger };
}

function sessionRow(id: string) {
  return { id, protocol: 'postgres' as const, subject: 'bot', subjectKind: 'agent' as const, groups: [], chain: [],
    tokenId: 't', target: 'db', database: 'app', clientAddress: '127.0.0.1:1', startedAt: new Date().toISOString(),
    endedAt: null, endReason: null };
}

async function seqs(store: Store, id: string): Promise<number[]> {
  return (await store.sessions.events(id)).map((e) => e.seq);
}

describe('Recorder', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(path.join(tmpdir(), 'warden-recorder-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('numbers a late event after the end on, and keeps recording later sessions (cancel and close at once)', async () => {
    const { store, logger } = await fixture(path.join(dir, 'late.db'));
    const recorder = new Recorder({ sessions: store.sessions, logger, flushIntervalMs: 1_000_000 });
    recorder.begin('s1');
    recorder.append('s1', 'session.start', {});
    recorder.append('s1', 'session.end', { reason: 'client closed' });
    recorder.end('s1');
    await recorder.flush();
    recorder.append('s1', 'cancel', {}); // the upstream cancel finished after the session ended and was flushed
    recorder.begin('s2');
    recorder.append('s2', 'session.start', {});
    await recorder.flush();
    assert.deepEqual(await seqs(store, 's1'), [1, 2, 3]);
    assert.equal((await store.sessions.events('s1'))[2].type, 'cancel');
    assert.deepEqual(await seqs(store, 's2'), [1]);
    assert.equal(recorder.stats().rejectedChunks, 0);
    await recorder.close();
    await store.close();
  });

  it('drops, with a log line, an event for a session retired long ago instead of renumbering it from 1', async () => {
    const { store, logger, lines } = await fixture(path.join(dir, 'retired.db'));
    const recorder = new Recorder({ sessions: store.sessions, logger, flushIntervalMs: 1_000_000, retireAfterMs: 0 });
    recorder.begin('s1');
    recorder.append('s1', 'session.start', {});
    recorder.end('s1');
    await recorder.flush(); // written, ended, and retired (grace period 0)
    recorder.append('s1', 'cancel', {});
    recorder.begin('s2');
    recorder.append('s2', 'session.start', {});
    await recorder.flush();
    assert.deepEqual(await seqs(store, 's1'), [1]);
    assert.deepEqual(await seqs(store, 's2'), [1]);
    assert.equal(recorder.stats().droppedEvents, 1);
    assert.ok(lines.some((l) => l.session === 's1' && /session is unknown or ended/.test(String(l.msg))));
    await recorder.close();
    await store.close();
  });

  it('survives a flood of cancels and closes: every event of every session lands once, in order', async () => {
    const { store, logger } = await fixture(path.join(dir, 'flood.db'));
    const recorder = new Recorder({ sessions: store.sessions, logger, flushIntervalMs: 1_000_000 });
    const ids = Array.from({ length: 300 }, (_, i) => `s${i}`);
    const flushes: Array<Promise<void>> = [];
    for (const [i, id] of ids.entries()) {
      recorder.begin(id);
      recorder.append(id, 'session.start', {});
      recorder.append(id, 'statement', { text: 'select pg_sleep(10)' });
      if (i % 3 === 0) flushes.push(recorder.flush()); // flushes interleaved with the closes
      recorder.append(id, 'session.end', { reason: 'client closed' });
      recorder.end(id);
      if (i % 2 === 0) flushes.push(recorder.flush());
      recorder.append(id, 'cancel', {}); // the late cancel event of each session
    }
    flushes.push(recorder.flush());
    await Promise.all(flushes);
    for (const id of ids) assert.deepEqual(await seqs(store, id), [1, 2, 3, 4], id);
    assert.deepEqual(recorder.stats(), { bufferedBytes: 0, backlogChunks: 0, droppedEvents: 0, rejectedChunks: 0, pendingEnds: 0 });
    await recorder.close();
    await store.close();
  });

  it('isolates a chunk the store refuses and writes every other session of the same batch', async () => {
    const { store, logger, lines } = await fixture(path.join(dir, 'bad.db'));
    // Another writer already used seqs 1-2 of session "bad": the recorder's chunk 1-3 overlaps and must be refused.
    await store.sessions.appendEvents([
      { sessionId: 'bad', seq: 1, at: 'x', type: 'other', data: {} },
      { sessionId: 'bad', seq: 2, at: 'x', type: 'other', data: {} },
    ]);
    const recorder = new Recorder({ sessions: store.sessions, logger, flushIntervalMs: 1_000_000 });
    const ids = ['a', 'b', 'bad', 'c', 'd', 'e', 'f'];
    for (const id of ids) {
      recorder.begin(id);
      for (let k = 0; k < 3; k++) recorder.append(id, 'statement', { k });
    }
    await recorder.flush();
    for (const id of ids.filter((i) => i !== 'bad')) assert.deepEqual(await seqs(store, id), [1, 2, 3], id);
    assert.deepEqual(await seqs(store, 'bad'), [1, 2]);
    assert.equal(recorder.stats().rejectedChunks, 1);
    assert.equal(recorder.stats().backlogChunks, 0);
    const report = lines.find((l) => /refused by the store/.test(String(l.msg)));
    assert.equal(report?.session, 'bad');
    assert.match(String(report?.cause), /already used/);
    // The session goes on recording: its next events land after the refused ones.
    recorder.append('bad', 'statement', { k: 4 });
    recorder.append('a', 'statement', { k: 4 });
    await recorder.flush();
    assert.deepEqual(await seqs(store, 'bad'), [1, 2, 4]);
    assert.deepEqual(await seqs(store, 'a'), [1, 2, 3, 4]);
    await recorder.close();
    await store.close();
  });

  it('keeps everything while another process holds the write lock, without freezing the event loop', async () => {
    const file = path.join(dir, 'locked.db');
    const { store, logger, lines } = await fixture(file);
    await store.sessions.insert(sessionRow('s1'));
    const recorder = new Recorder({ sessions: store.sessions, logger, flushIntervalMs: 1_000_000 });
    recorder.begin('s1');
    recorder.append('s1', 'session.start', {});
    const other = new BetterSqlite3(file);
    other.exec('BEGIN IMMEDIATE');
    // Ends refused during the outage are written once the store returns.
    await assert.rejects(store.sessions.end('s1', new Date().toISOString(), 'client closed'));
    recorder.deferEnd('s1', new Date().toISOString(), 'client closed');
    // While the flush retries, the event loop keeps turning: a ticker of 50 turns finishes before the flush does.
    let ticks = 0;
    const ticker = (async () => { while (ticks < 50) { await new Promise((r) => setImmediate(r)); ticks++; } return ticks; })();
    const flushed = recorder.flush().then(() => ticks);
    assert.equal(await ticker, 50);
    assert.equal(await flushed, 50);
    assert.equal(recorder.stats().backlogChunks, 1);
    assert.equal(recorder.stats().pendingEnds, 1);
    assert.ok(lines.some((l) => /not accepting recordings/.test(String(l.msg)) && /SQLITE_BUSY/.test(String(l.cause))));
    other.exec('ROLLBACK');
    other.close();
    await recorder.close(); // close writes once more, outage or not
    assert.deepEqual(await seqs(store, 's1'), [1]);
    assert.equal((await store.sessions.get('s1'))?.endReason, 'client closed');
    await store.close();
  });

  it('reports a full store as SQLITE_FULL, keeps the events and writes them once there is room', async () => {
    const { handle, store, logger, lines } = await fixture(path.join(dir, 'full.db'));
    const recorder = new Recorder({ sessions: store.sessions, logger, flushIntervalMs: 1_000_000 });
    handle.pragma('wal_checkpoint(TRUNCATE)');
    const pages = Number(handle.pragma('page_count', { simple: true }));
    handle.pragma(`max_page_count = ${pages}`); // the database cannot grow by a single page: a full disk for SQLite
    recorder.begin('s1');
    for (let k = 0; k < 200; k++) recorder.append('s1', 'statement', { text: 'x'.repeat(500), k });
    await recorder.flush();
    assert.equal(recorder.stats().backlogChunks, 1);
    const outage = lines.find((l) => /not accepting recordings/.test(String(l.msg)));
    assert.match(String(outage?.cause), /^SQLITE_FULL/);
    assert.ok(!lines.some((l) => /cannot rollback/.test(JSON.stringify(l))));
    handle.pragma('max_page_count = 1073741823');
    await recorder.close();
    assert.equal((await store.sessions.events('s1')).length, 200);
    await store.close();
  });

  it('caps its memory in bytes: past the cap the oldest events are dropped and logged', async () => {
    const file = path.join(dir, 'cap.db');
    const { store, logger, lines } = await fixture(file);
    const recorder = new Recorder({ sessions: store.sessions, logger, flushIntervalMs: 1_000_000, maxBufferedBytes: 64 * 1024 });
    const other = new BetterSqlite3(file);
    other.exec('BEGIN IMMEDIATE');
    recorder.begin('s1');
    for (let k = 0; k < 100; k++) {
      recorder.append('s1', 'statement', { text: 'y'.repeat(2000), k });
      if (k % 10 === 9) recorder['seal'](); // one chunk per ten events, as flushes would make
    }
    assert.ok(recorder.stats().bufferedBytes <= 64 * 1024);
    assert.ok(recorder.stats().droppedEvents > 0);
    assert.ok(lines.some((l) => /recording buffer full/.test(String(l.msg))));
    other.exec('ROLLBACK');
    other.close();
    await recorder.close();
    const kept = await store.sessions.events('s1');
    // What is kept is the newest, numbered as appended: nothing renumbered, nothing duplicated.
    assert.equal(kept.length + recorder.stats().droppedEvents, 100);
    assert.deepEqual(kept.map((e) => e.seq), Array.from({ length: kept.length }, (_, i) => 100 - kept.length + 1 + i));
    await store.close();
  });
});

describe('recorded values', () => {
  it('keeps short parameters whole and long ones as prefix, length and SHA-256 of every byte', () => {
    assert.equal(recordedTextParam(Buffer.from('42')), '42');
    const long = Buffer.from(`${'é'.repeat(200)}${'z'.repeat(5000)}`);
    const recorded = recordedTextParam(long);
    assert.ok(typeof recorded === 'object' && recorded !== null);
    assert.equal(recorded.bytes, long.length);
    assert.equal(recorded.sha256, createHash('sha256').update(long).digest('hex'));
    assert.equal(recorded.prefix, 'é'.repeat(128)); // 256 bytes of two-byte characters, never a broken one
    assert.equal(recordedTextParam(Buffer.alloc(MAX_RECORDED_PARAM_BYTES, 0x61)), 'a'.repeat(MAX_RECORDED_PARAM_BYTES));
  });

  it('keeps statement texts whole up to a megabyte and longer ones as a prefix with length and hash', () => {
    assert.equal(recordedText('select 1'), 'select 1');
    const text = `select '${'q'.repeat(2 * 1024 * 1024)}'`;
    const recorded = recordedText(text);
    assert.ok(typeof recorded === 'object');
    assert.equal(recorded.bytes, Buffer.byteLength(text));
    assert.equal(recorded.prefix, text.slice(0, 64 * 1024));
    assert.equal(recorded.sha256, createHash('sha256').update(text).digest('hex'));
  });
});
