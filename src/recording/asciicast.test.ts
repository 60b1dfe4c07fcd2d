/**
 * Terminal recording tests against a real SQLite store and Recorder: a scripted PTY session (prompt, echoed command,
 * a password typed without echo, a resize, a full-screen program) recorded with keyframes, replayed as asciicast v2
 * that a strict parser of the format accepts; the replayed screen equals the screen the caller saw, from the start
 * and from offsets through the keyframe index (which reads only part of the session); batching bounds.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely } from 'kysely';
import pino from 'pino';
import { migrateToLatest } from '../store/migrations.js';
import { createKyselyStore } from '../store/repositories.js';
import type { Database } from '../store/schema.js';
import { WardenSqliteDialect } from '../store/sqlite.js';
import type { SessionEventRecord, Store } from '../store/types.js';
import { TerminalRecorder } from './asciicast.js';
import { buildCast, loadCastEvents, parseCast } from './cast-replay.js';
import { Recorder } from './recorder.js';
import { ScreenModel } from './screen.js';

async function openStore(file: string): Promise<Store> {
  const handle = new BetterSqlite3(file);
  const db = new Kysely<Database>({ dialect: new WardenSqliteDialect(handle) });
  await migrateToLatest(db);
  return createKyselyStore(db);
}

/** The screen after writing `chunks` to a fresh terminal of the given size, resizes applied in order. */
async function screenOf(width: number, height: number, steps: Array<string | [number, number]>): Promise<string> {
  const screen = new ScreenModel(width, height);
  for (const s of steps) {
    if (typeof s === 'string') screen.write(Buffer.from(s, 'utf8'));
    else screen.resize(s[0], s[1]);
  }
  const out = await screen.snapshot();
  screen.dispose();
  return out;
}

/** The screen a cast draws. */
function replaySteps(cast: string): { width: number; height: number; steps: Array<string | [number, number]> } {
  const { header, events } = parseCast(cast);
  const steps = events.filter(([, code]) => code !== 'i').map(([, code, data]): string | [number, number] => {
    if (code === 'o') return data;
    const [w, h] = data.split('x').map(Number);
    return [w, h];
  });
  return { width: header.width as number, height: header.height as number, steps };
}

describe('TerminalRecorder and cast replay', () => {
  let dir: string;
  let store: Store;
  let recorder: Recorder;
  let clock = 1_700_000_000_000;
  const seen: Array<string | [number, number]> = [];
  let events: SessionEventRecord[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-cast-'));
    store = await openStore(path.join(dir, 'w.db'));
    recorder = new Recorder({ sessions: store.sessions, logger: pino({ level: 'silent' }), flushIntervalMs: 1_000_000 });
    recorder.begin('s1');
    const term = new TerminalRecorder({ recorder, sessionId: 's1', channel: '0', width: 80, height: 24, term: 'xterm-256color',
      now: () => clock, timer: false, keyframeMs: 3000 });
    const out = (s: string) => {
      seen.push(s);
      term.output(Buffer.from(s, 'utf8'));
    };
    const typed = (s: string) => term.input(Buffer.from(s, 'utf8'));
    const tick = (ms: number) => {
      clock += ms;
    };
    out('Welcome\r\n$ ');
    for (let step = 0; step < 40; step++) {
      tick(250);
      for (const ch of `echo line ${step}`) {
        typed(ch);
        out(ch);
      }
      typed('\r');
      tick(30);
      out(`\r\nline ${step} \x1b[32mgreen\x1b[0m é😀\r\n$ `);
      if (step === 10) {
        typed('sudo true\r');
        out('sudo true\r\n[sudo] password for alice: ');
        tick(500);
        for (const ch of 'hunter2') typed(ch);
        typed('\r');
        out('\r\n$ ');
      }
      if (step === 20) {
        term.resize(100, 30);
        seen.push([100, 30]);
      }
      if (step === 30) out('\x1b[?1049h\x1b[H\x1b[2Jfull screen program\x1b[10;5Hhere');
      if (step === 33) out('\x1b[?1049l');
      term.flush();
      // Keyframes are taken asynchronously: let them land before going on.
      await new Promise((r) => setImmediate(r));
    }
    await term.close();
    await recorder.flush();
    events = await store.sessions.events('s1');
  });

  after(async () => {
    await recorder.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a start event, batches, keyframes and an index', () => {
    const types = new Set(events.map((e) => e.type));
    assert.deepEqual([...types].sort(), ['terminal.events', 'terminal.index', 'terminal.keyframe', 'terminal.start']);
    const start = events.find((e) => e.type === 'terminal.start')!;
    assert.deepEqual(start.data, { channel: '0', version: 2, width: 80, height: 24, timestamp: 1_700_000_000, env: { TERM: 'xterm-256color' } });
    const index = events.find((e) => e.type === 'terminal.index')!;
    const keyframes = index.data.keyframes as Array<[number, number, number]>;
    assert.ok(keyframes.length >= 3, `keyframes: ${keyframes.length}`);
    for (const [time, seq] of keyframes) assert.equal(events.find((e) => e.seq === seq)?.data.time, time);
  });

  it('produces asciicast v2 that a strict parser accepts, with the real size, resizes and no withheld input', () => {
    const cast = buildCast(events);
    const { header, events: cast2 } = parseCast(cast);
    assert.equal(header.width, 80);
    assert.equal(header.height, 24);
    assert.deepEqual(header.env, { TERM: 'xterm-256color' });
    assert.ok(cast2.some(([, code, data]) => code === 'r' && data === '100x30'));
    const input = cast2.filter(([, code]) => code === 'i').map(([, , d]) => d).join('');
    assert.ok(input.includes('echo line 7\r'));
    assert.ok(input.includes('sudo true\r'));
    assert.ok(!input.includes('hunter'), 'the password typed without echo is not recorded');
    assert.equal(cast2.filter(([, code]) => code === 'o').map(([, , d]) => d).join(''), seen.filter((s) => typeof s === 'string').join(''));
  });

  it('replays to the screen the caller saw', async () => {
    const { width, height, steps } = replaySteps(buildCast(events));
    assert.equal(await screenOf(width, height, steps), await screenOf(80, 24, seen));
  });

  it('replays from an offset through the nearest keyframe, reading only part of the session, to the same screen', async () => {
    const expected = await screenOf(80, 24, seen);
    for (const from of [1, 4, 9.5, 10, 20]) {
      let reads = 0;
      const counting = {
        events: async (id: string) => { reads += (await store.sessions.events(id)).length; return store.sessions.events(id); },
        eventsRange: async (id: string, a: number, b?: number) => {
          const got = await store.sessions.eventsRange(id, a, b);
          reads += got.length;
          return got;
        },
        lastSeq: (id: string) => store.sessions.lastSeq(id),
      };
      const partial = await loadCastEvents(counting, 's1', { from });
      // From the last keyframe (9.74 s) on, the start, the tail with the index and what follows the keyframe suffice.
      if (from >= 10) assert.ok(reads < events.length / 2, `from ${from}: read ${reads} of ${events.length}`);
      const cast = buildCast(partial, { from });
      assert.equal(cast, buildCast(events, { from }), `from ${from}`);
      const { header, events: evs } = parseCast(cast);
      assert.equal(evs[0][0], 0);
      const { width, height, steps } = replaySteps(cast);
      assert.equal(await screenOf(width, height, steps), expected, `from ${from}`);
      assert.ok((header.timestamp as number) > 1_700_000_000);
    }
  });

  it('starts a cast from an offset with the screen of the nearest keyframe before it', () => {
    const keyframes = events.filter((e) => e.type === 'terminal.keyframe').map((e) => e.data as { time: number; screen: string });
    const from = keyframes[1].time + 0.1;
    const { events: evs } = parseCast(buildCast(events, { from }));
    assert.deepEqual(evs[0], [0, 'o', keyframes[1].screen]);
    assert.ok(evs.slice(1).every(([t]) => t >= 0));
  });
});

describe('TerminalRecorder redaction', () => {
  it('keeps detector hits out of the recorded output and the keyframes even without masking rules', async () => {
    const appended: Array<{ type: string; data: Record<string, unknown> }> = [];
    let clock = 0;
    const term = new TerminalRecorder({ recorder: { append: (_s, type, data) => (appended.push({ type, data }), appended.length) },
      sessionId: 's', channel: '0', width: 80, height: 24, now: () => clock, timer: false, keyframeMs: 1 });
    term.output(Buffer.from('$ cat card\r\n4111 1111'));
    clock += 50;
    term.output(Buffer.from(' 1111 1111\r\nAKIAIOSFODNN7EXAMPLE\r\n$ '));
    clock += 200;
    term.flush();
    await new Promise((r) => setImmediate(r));
    await term.close();
    const all = JSON.stringify(appended);
    assert.ok(!all.includes('4111') && !all.includes('AKIAIOSFODNN7EXAMPLE'), all);
    assert.ok(appended.some((e) => e.type === 'terminal.keyframe' && String(e.data.screen).includes('[REDACTED]')));
  });
});

describe('TerminalRecorder batching', () => {
  it('seals a batch per interval or per size, whichever comes first', async () => {
    const appended: Array<{ type: string; data: Record<string, unknown> }> = [];
    let clock = 0;
    const term = new TerminalRecorder({ recorder: { append: (_s, type, data) => (appended.push({ type, data }), appended.length) },
      sessionId: 's', channel: '1', width: 80, height: 24, now: () => clock, timer: false, batchMs: 100, batchBytes: 1000, keyframeMs: 1e9, keyframeBytes: 1e9 });
    for (let i = 0; i < 10; i++) {
      term.output(Buffer.from(`${'x'.repeat(9)}\n`));
      clock += 5;
    }
    assert.equal(appended.filter((e) => e.type === 'terminal.events').length, 0, 'within 100 ms and 1000 bytes: one open batch');
    clock += 100;
    term.output(Buffer.from('y\n'));
    assert.equal(appended.filter((e) => e.type === 'terminal.events').length, 1);
    term.output(Buffer.from(`${'z'.repeat(1999)}\n`));
    assert.equal(appended.filter((e) => e.type === 'terminal.events').length, 2);
    await term.close();
    assert.equal(appended[appended.length - 1].type, 'terminal.index');
  });
});
