/**
 * ClientGate on its own: a scripted pipeline (allow, deny, hold then approve, deny or time out), a real
 * StatementTracker answered by a scripted upstream, and the caller's bytes cut at every split point. Then the
 * state machine fuzzed with scripted verdicts interleaved with random and malformed frames: every failure goes to
 * the session's failure path (never an unhandled rejection), and a second session driven beside it is untouched.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import { WardenError } from '../../errors.js';
import { prng } from '../../masking/test-random.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { Session } from '../../session/session.js';
import type { Command, CommandContext, Verdict } from '../../session/types.js';
import { ClientGate, type GateIo } from './gate.js';
import { StatementTracker } from './statements.js';

type Script = 'allow' | 'deny' | 'hold';
/** A held verdict the test settles: approve, deny or time out. */
interface Pending { command: Command; settle(v: 'approve' | 'deny' | 'timeout'): void }

/** A pipeline whose verdict is spelled in the statement: `-- deny`, `-- hold`, anything else allows. */
class ScriptedPipeline {
  readonly judged: { command: Command; deferred: boolean }[] = [];
  readonly pending: Pending[] = [];
  onCommand(_s: Session, command: Command, context: CommandContext): Verdict | Promise<Verdict> {
    this.judged.push({ command, deferred: context.deferApproval === true });
    const script: Script = command.text.includes('-- deny') ? 'deny' : command.text.includes('-- hold') ? 'hold' : 'allow';
    const note = { effect: 'allow' as const, classes: [] };
    if (script === 'allow' || (script === 'hold' && context.deferApproval)) return { effect: 'allow', note };
    if (script === 'deny') return { effect: 'deny', message: 'denied by script', note: { ...note, effect: 'deny' } };
    return new Promise<Verdict>((resolve) => this.pending.push({ command, settle: (v) => resolve(v === 'approve'
      ? { effect: 'allow', note }
      : { effect: 'deny', message: v === 'timeout' ? 'approval request timed out' : 'denied by approver', note: { ...note, effect: 'deny' } }) }));
  }
  onEvent(): void {}
}

/** The gate's two sockets, recorded; the upstream answers each forwarded message through the tracker. */
class Harness implements GateIo {
  readonly upstream: Buffer[] = [];
  readonly client: Buffer[] = [];
  readonly failures: unknown[] = [];
  paused = false;
  readonly pipeline = new ScriptedPipeline();
  readonly tracker = new StatementTracker(() => {});
  readonly gate: ClientGate;

  constructor() {
    this.gate = new ClientGate({ session: { id: 'ses_test' } as Session, pipeline: this.pipeline as unknown as SessionPipeline,
      tracker: this.tracker, io: this, maxMessageBytes: 1 << 20 });
  }
  toUpstream(bytes: Buffer): void { this.upstream.push(Buffer.from(bytes)); this.answer(bytes); }
  toClient(bytes: Buffer): void { this.client.push(Buffer.from(bytes)); }
  whenClientAtBoundary(): Promise<void> { return Promise.resolve(); }
  pauseClient(): void { this.paused = true; }
  resumeClient(): void { this.paused = false; }
  readonly fail = (err: unknown): void => { this.failures.push(err); this.gate.close(); };

  /** The scripted server: whole messages among the forwarded bytes are answered at once, in order. */
  private partial = Buffer.alloc(0);
  private answer(bytes: Buffer): void {
    let buf = Buffer.concat([this.partial, bytes]);
    while (buf.length >= 5 && buf.length >= 1 + buf.readInt32BE(1)) {
      const type = String.fromCharCode(buf[0]);
      buf = buf.subarray(1 + buf.readInt32BE(1));
      const t = this.tracker;
      if (type === 'Q' || type === 'F') { t.completed('SELECT 1'); t.ready('I'); }
      else if (type === 'P') t.answered('parse');
      else if (type === 'B') t.answered('bind');
      else if (type === 'D') t.answered('describe');
      else if (type === 'C') t.answered('close');
      else if (type === 'E') t.completed('SELECT 1');
      else if (type === 'S' || type === 'H') { if (type === 'S') t.ready('I'); }
    }
    this.partial = Buffer.from(buf);
  }

  /** Feeds bytes as the relay does: a throw is the session's failure path too. */
  push(chunk: Buffer): void {
    try {
      this.gate.push(chunk);
    } catch (err) {
      this.fail(err);
    }
  }
  sent(): Buffer { return Buffer.concat(this.upstream); }
  answered(): string { return Buffer.concat(this.client).toString('latin1'); }
}

const FLUSH = Buffer.from([0x48, 0, 0, 0, 4]);
const ticks = () => new Promise((r) => setImmediate(r));
const q = (sql: string) => serialize.query(sql);
const extended = (sql: string, values: string[] = []) => Buffer.concat([
  serialize.parse({ text: sql }), serialize.bind({ values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]);

let unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);
beforeEach(() => { unhandled = []; process.on('unhandledRejection', onUnhandled); });
afterEach(() => { process.off('unhandledRejection', onUnhandled); assert.deepEqual(unhandled, []); });

describe('ClientGate at every split point', () => {
  const allowed = [q('SELECT 1'), extended('SELECT $1::int', ['7']), q('SELECT 2')];
  const denied = q('DELETE FROM t -- deny');
  const input = Buffer.concat([allowed[0], allowed[1], denied, allowed[2]]);

  test('allowed messages pass byte for byte, the denied one never reaches the upstream, however TCP cuts them', async () => {
    for (let cut = 0; cut <= input.length; cut++) {
      for (const cut2 of [cut, Math.min(input.length, cut + 1), Math.min(input.length, cut + 7)]) {
        const h = new Harness();
        h.push(input.subarray(0, cut));
        h.push(input.subarray(cut, cut2));
        h.push(input.subarray(cut2));
        await ticks();
        assert.deepEqual(h.sent(), Buffer.concat(allowed), `cut at ${cut}/${cut2}`);
        assert.match(h.answered(), /denied by script/);
        assert.deepEqual(h.failures, []);
        assert.equal(h.paused, false);
      }
    }
  });

  test('a malformed frame right after a denied statement ends the session through its failure path', async () => {
    const bad = Buffer.from([0x51, 0, 0, 0, 2]);
    const bytes = Buffer.concat([q('TRUNCATE t -- deny'), bad]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const h = new Harness();
      h.push(bytes.subarray(0, cut));
      h.push(bytes.subarray(cut));
      await ticks();
      assert.equal(h.failures.length, 1, `cut at ${cut}`);
      assert.equal((h.failures[0] as WardenError).code, 'WARDEN_ERR_PROTOCOL');
      assert.equal(h.sent().length, 0);
    }
  });
});

describe('ClientGate holds', () => {
  for (const outcome of ['approve', 'deny', 'timeout'] as const) {
    test(`a held query, then ${outcome}: later messages wait behind it and keep their order`, async () => {
      const h = new Harness();
      const after = q('SELECT 3');
      h.push(Buffer.concat([q('UPDATE t SET a = 1 -- hold'), after]));
      await ticks();
      assert.equal(h.sent().length, 0);
      assert.equal(h.paused, true, 'the caller is not read while a statement waits');
      h.pipeline.pending[0].settle(outcome);
      await ticks();
      const expected = outcome === 'approve' ? Buffer.concat([q('UPDATE t SET a = 1 -- hold'), after]) : after;
      assert.deepEqual(h.sent(), expected);
      assert.equal(h.paused, false);
      if (outcome !== 'approve') assert.match(h.answered(), outcome === 'deny' ? /denied by approver/ : /timed out/);
    });
  }

  test('extended protocol: Parse defers approval, the Bind is held with the bound values', async () => {
    const h = new Harness();
    h.push(extended('UPDATE t SET a = $1 -- hold', ['42']));
    await ticks();
    assert.deepEqual(h.pipeline.judged.map((j) => [j.deferred, j.command.params ?? null]), [[true, null], [false, ['42']]]);
    assert.equal(h.pipeline.pending.length, 1);
    assert.deepEqual(h.pipeline.pending[0].command.params, ['42']);
    h.pipeline.pending[0].settle('deny');
    await ticks();
    // The Parse ran; the refused Bind and everything after it up to the Sync did not; the Sync closes the batch.
    assert.deepEqual(h.sent(), Buffer.concat([serialize.parse({ text: 'UPDATE t SET a = $1 -- hold' }), FLUSH, serialize.sync()]));
    assert.match(h.answered(), /denied by approver/);
  });

  test('an approved Bind runs once; binding the statement again with other values asks again', async () => {
    const h = new Harness();
    h.push(extended('UPDATE t SET a = $1 -- hold', ['1']));
    await ticks();
    h.pipeline.pending.shift()!.settle('approve');
    await ticks();
    assert.ok(h.sent().includes(serialize.execute({})));
    h.push(Buffer.concat([serialize.bind({ values: ['2'] }), serialize.execute({}), serialize.sync()]));
    await ticks();
    assert.equal(h.pipeline.pending.length, 1, 'a new Bind is a new execution');
    assert.deepEqual(h.pipeline.pending[0].command.params, ['2']);
  });

  test('a cancel while held answers 57014 once the verdict is in, and nothing runs even when approved', async () => {
    const h = new Harness();
    h.push(q('UPDATE t SET a = 1 -- hold'));
    await ticks();
    assert.equal(h.gate.cancelHeld(), true);
    assert.equal(h.gate.cancelHeld(), false, 'one cancel per hold');
    h.pipeline.pending[0].settle('approve');
    await ticks();
    assert.equal(h.sent().length, 0);
    assert.match(h.answered(), /57014/);
    assert.equal(h.gate.cancelHeld(), false, 'nothing held any more: a cancel goes upstream');
    h.push(q('SELECT 4'));
    assert.deepEqual(h.sent(), q('SELECT 4'), 'the session goes on');
  });

  test('a portal resumed after PortalSuspended is judged again but not asked for approval again', async () => {
    const h = new Harness();
    h.push(Buffer.concat([serialize.parse({ text: 'UPDATE t SET a = 1 RETURNING a -- hold' }), serialize.bind({ portal: 'p' }),
      serialize.execute({ portal: 'p', rows: 1 })]));
    await ticks();
    h.pipeline.pending[0].settle('approve');
    await ticks();
    h.push(Buffer.concat([serialize.execute({ portal: 'p', rows: 1 }), serialize.sync()]));
    await ticks();
    assert.equal(h.pipeline.pending.length, 1);
    // Parse (deferred), Bind (asks), each Execute judged again without asking again.
    assert.deepEqual(h.pipeline.judged.map((j) => j.deferred), [true, false, true, true]);
  });
});

describe('ClientGate fuzzed', () => {
  const valid = [
    () => q('SELECT 1'), () => q('DELETE FROM t -- deny'), () => q('UPDATE t SET a = 1 -- hold'),
    () => extended('SELECT $1::int', ['1']), () => extended('UPDATE t SET a = $1 -- hold', ['2']),
    () => extended('DROP TABLE t -- deny'), () => serialize.sync(), () => serialize.flush(),
    () => serialize.close({ type: 'S', name: 'x' }), () => serialize.describe({ type: 'S', name: 'nope' }),
  ];
  const malformed = [
    () => Buffer.from([0x51, 0, 0, 0, 2]), () => Buffer.from([0x50, 0, 0, 0, 0]), () => Buffer.from([0x42, 0x7f, 0xff, 0xff, 0xff]),
    () => Buffer.from([0x42, 0, 0, 0, 6, 0, 1]), () => Buffer.from([0x45, 0, 0, 0, 5, 1]), () => Buffer.from([0x51, 0, 0, 0, 5, 0x41]),
  ];

  test('scripted verdicts, random and malformed frames: failures only through the failure path, a neighbour untouched', async () => {
    for (let seed = 1; seed <= 150; seed++) {
      const random = prng(seed);
      const fuzzed = new Harness();
      const neighbour = new Harness();
      const neighbourInput: Buffer[] = [];
      for (let step = 0; step < 40 && fuzzed.failures.length === 0; step++) {
        const roll = random();
        let bytes: Buffer;
        if (roll < 0.6) bytes = valid[Math.floor(random() * valid.length)]();
        else if (roll < 0.75) bytes = malformed[Math.floor(random() * malformed.length)]();
        else bytes = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 12) }, () => Math.floor(random() * 256)));
        const cut = Math.floor(random() * (bytes.length + 1));
        fuzzed.push(bytes.subarray(0, cut));
        fuzzed.push(bytes.subarray(cut));
        const ok = q(`SELECT ${seed * 100 + step}`);
        neighbourInput.push(ok);
        neighbour.push(ok);
        // Settle some held verdicts in a random order and way; let the continuations run.
        while (fuzzed.pipeline.pending.length > 0 && random() < 0.7) {
          const p = fuzzed.pipeline.pending.shift()!;
          if (random() < 0.2) fuzzed.gate.cancelHeld();
          p.settle((['approve', 'deny', 'timeout'] as const)[Math.floor(random() * 3)]);
        }
        await ticks();
      }
      for (const p of fuzzed.pipeline.pending.splice(0)) p.settle('timeout');
      await ticks();
      for (const err of fuzzed.failures) assert.ok(err instanceof WardenError, `seed ${seed}: ${String(err)}`);
      assert.deepEqual(neighbour.sent(), Buffer.concat(neighbourInput), `seed ${seed}: the neighbour's bytes`);
      assert.deepEqual(neighbour.failures, []);
    }
  });
});
