/**
 * Relay on its own, with socket doubles whose write buffers the test fills and drains at will: flow control has one
 * owner, so a slow reader during every kind of hold (a statement waiting for its verdict, masking reading the
 * catalog, the other side slow) keeps its socket paused until no reason remains, and a `drain` never resumes a
 * socket another reason holds. Also: the upstream's close after the caller's Terminate is the normal end, and a
 * malformed frame ends the session with a protocol error; the masked forwarder gives the same bytes at every split
 * point of a result. The byte paths themselves run against real servers in
 * test/postgres-*.e2e.test.ts.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { before, describe, test } from 'node:test';
import { initSqlAnalysis } from '../../analysis/sql/analyze.js';
import assert from 'node:assert/strict';
import pino from 'pino';
import { serialize } from 'pg-protocol';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { Session } from '../../session/session.js';
import type { Command, PostgresTarget, Verdict } from '../../session/types.js';
import { Relay } from './relay.js';
import { TableCatalog } from './catalog.js';
import { ResultMasker, type MaskRules } from './result-masking.js';

/** A socket double: records writes and pause state; `full` makes write() report a full buffer until `drain()`. */
class FakeSocket extends EventEmitter {
  readonly written: Buffer[] = [];
  paused = true;
  full = false;
  destroyed = false;
  writable = true;
  write(bytes: Buffer, cb?: () => void): boolean {
    this.written.push(Buffer.from(bytes));
    cb?.();
    return !this.full;
  }
  pause(): this { this.paused = true; return this; }
  resume(): this { this.paused = false; return this; }
  end(): void {
    this.writable = false;
    setImmediate(() => this.close());
  }
  destroy(): void { this.close(); }
  close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
  /** The peer read everything: the buffer has room again. */
  drain(): void {
    this.full = false;
    this.emit('drain');
  }
  bytes(): Buffer { return Buffer.concat(this.written); }
}

/** Holds every statement containing `-- hold` until `settle`; allows the rest. */
function pipeline() {
  const pending: ((v: Verdict) => void)[] = [];
  const note = { effect: 'allow' as const, classes: [] };
  const p = {
    pending,
    withdrawn: [] as string[],
    onCommand: (_s: Session, command: Command): Verdict | Promise<Verdict> => (command.text.includes('-- hold')
      ? new Promise<Verdict>((resolve) => pending.push(resolve)) : { effect: 'allow', note }),
    onOutcome: () => {}, onEvent: () => {}, drain: () => {},
    withdraw: async (_s: Session, reason: string) => { p.withdrawn.push(reason); },
    approve: () => pending.shift()!({ effect: 'allow', note }),
  };
  return p;
}

/** A masker double whose first RowDescription needs a catalog lookup the test finishes. */
function masker() {
  let finish!: () => void;
  let asked = false;
  const m = {
    lookupStarted: false,
    finish: () => finish(),
    encodingRefusal: () => null, refusal: () => null, forwarding: () => null, close: async () => {},
    editRow: () => false, writeRow: () => {}, transform: () => null,
    lookupBefore: (type: number) => {
      if (type !== 0x54 || asked) return null;
      asked = true;
      return () => {
        m.lookupStarted = true;
        return new Promise<void>((resolve) => (finish = resolve));
      };
    },
  };
  return m;
}

function relay(options: { masked?: boolean } = {}) {
  const client = new FakeSocket();
  const upstream = new FakeSocket();
  const p = pipeline();
  const m = options.masked ? masker() : undefined;
  const r = new Relay({ session: { id: 'ses_test', target: { name: 't' } } as Session, pipeline: p as unknown as SessionPipeline,
    client: client as unknown as Socket, upstream: upstream as unknown as Socket, logger: pino({ level: 'silent' }),
    maxMessageBytes: 1 << 20, masker: m as unknown as ResultMasker });
  const done = r.run(Buffer.alloc(0), Buffer.alloc(0));
  return { r, client, upstream, p, m, done };
}

const ticks = async (n = 3) => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };
const ready = () => Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
const complete = (tag: string) => serialize.query(tag).fill(0x43, 0, 1);
const rowDescription = () => Buffer.from([0x54, 0, 0, 0, 6, 0, 0]);

// Masking analyses statements (derived values) with the real parser, which loads asynchronously.
before(() => initSqlAnalysis());

describe('flow control: one owner, reasons', () => {
  test('a slow caller while a statement waits for its verdict: each drain removes only its own reason', async () => {
    const { client, upstream, p } = relay();
    assert.equal(client.paused, false);
    client.emit('data', serialize.query('SELECT 1'));
    client.full = true;
    upstream.emit('data', Buffer.concat([complete('SELECT 1'), ready()]));
    assert.equal(upstream.paused, true, 'a slow caller pauses the upstream');
    client.emit('data', serialize.query('UPDATE t SET a = 1 -- hold'));
    await ticks();
    assert.equal(client.paused, true, 'held for the verdict');
    upstream.emit('drain');
    assert.equal(client.paused, true, "the upstream's drain does not undo the hold");
    client.drain();
    assert.equal(upstream.paused, false, "the caller's drain resumes the upstream");
    assert.equal(client.paused, true, 'and not the held caller');
    p.approve();
    await ticks();
    assert.equal(client.paused, false);
  });

  test('a slow upstream when the verdict comes: the caller stays paused until the upstream drains', async () => {
    const { client, upstream, p } = relay();
    upstream.full = true;
    client.emit('data', Buffer.concat([serialize.query('SELECT 1'), serialize.query('UPDATE t SET a = 1 -- hold')]));
    await ticks();
    assert.equal(client.paused, true);
    p.approve();
    await ticks();
    assert.ok(upstream.bytes().includes(Buffer.from('UPDATE t')), 'the approved statement went upstream');
    assert.equal(client.paused, true, 'approval does not resume a caller the upstream cannot take');
    upstream.drain();
    assert.equal(client.paused, false);
  });

  test("a catalog lookup during masking: the caller's drain does not resume the upstream", async () => {
    const { client, upstream, m } = relay({ masked: true });
    client.emit('data', serialize.query('SELECT * FROM t'));
    client.full = true;
    upstream.emit('data', Buffer.concat([rowDescription(), complete('SELECT 0'), ready()]));
    await ticks();
    assert.equal(m!.lookupStarted, true);
    assert.equal(upstream.paused, true);
    client.drain();
    assert.equal(upstream.paused, true, 'still looking up the catalog');
    m!.finish();
    await ticks();
    assert.equal(upstream.paused, false);
    assert.ok(client.bytes().includes(ready()), 'the held messages went out after the lookup');
  });

  test('a slow caller when the catalog lookup ends: the upstream stays paused until the caller drains', async () => {
    const { client, upstream, m } = relay({ masked: true });
    client.emit('data', serialize.query('SELECT * FROM t'));
    upstream.emit('data', rowDescription());
    await ticks();
    client.full = true;
    upstream.emit('data', Buffer.concat([complete('SELECT 0'), ready()]));
    m!.finish();
    await ticks();
    assert.equal(upstream.paused, true, 'the caller is still slow');
    client.drain();
    assert.equal(upstream.paused, false);
  });
});

describe('how a session ends', () => {
  test("the upstream's close after the caller's Terminate is the normal end: no error to the caller", async () => {
    const { client, upstream, done } = relay();
    client.emit('data', serialize.end());
    upstream.close();
    assert.equal(await done, 'client terminated the session');
    assert.equal(client.bytes().length, 0, 'nothing written after the Terminate');
  });

  test('the upstream lost without a Terminate is an error the caller is told about', async () => {
    const { client, upstream, done } = relay();
    upstream.close();
    assert.equal(await done, 'upstream connection lost');
    assert.match(client.bytes().toString('latin1'), /08006/);
  });

  test('a malformed frame after a held statement ends the session with 08P01', async () => {
    const { client, p, done } = relay();
    client.emit('data', Buffer.concat([serialize.query('UPDATE t SET a = 1 -- hold'), Buffer.from([0x51, 0, 0, 0, 2])]));
    await ticks();
    p.approve();
    assert.match(await done, /^protocol error/);
    assert.match(client.bytes().toString('latin1'), /08P01/);
  });

  test('a cancel while held withdraws the approval; otherwise it goes upstream', async () => {
    const { r, client, p } = relay();
    let forwarded = 0;
    const forward = async () => { forwarded++; };
    assert.equal(await r.cancel(forward), 'forwarded');
    client.emit('data', serialize.query('UPDATE t SET a = 1 -- hold'));
    await ticks();
    assert.equal(await r.cancel(forward), 'withdrawn');
    assert.deepEqual(p.withdrawn, ['cancelled by the caller']);
    assert.equal(forwarded, 1);
  });
});

/** RowDescription of text columns with no source table (content detectors only: no catalog lookup). */
function rowDescriptionOf(names: string[]): Buffer {
  const fields = names.map((n) => {
    const tail = Buffer.alloc(18);
    tail.writeInt32BE(25, 6); // text
    tail.writeInt16BE(-1, 10);
    tail.writeInt32BE(-1, 12);
    return Buffer.concat([Buffer.from(`${n}\0`), tail]);
  });
  const count = Buffer.alloc(2);
  count.writeInt16BE(names.length);
  return backend('T', Buffer.concat([count, ...fields]));
}

function dataRow(values: string[]): Buffer {
  const parts = values.map((v) => {
    const len = Buffer.alloc(4);
    len.writeInt32BE(Buffer.byteLength(v));
    return Buffer.concat([len, Buffer.from(v)]);
  });
  const count = Buffer.alloc(2);
  count.writeInt16BE(values.length);
  return backend('D', Buffer.concat([count, ...parts]));
}

function backend(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

describe('the masked forwarder at every split point', () => {
  const secrets = ['alice@example.com', '4111 1111 1111 1111'];
  const result = Buffer.concat([
    rowDescriptionOf(['who', 'card']),
    dataRow([secrets[0], 'none']), dataRow(['plain', secrets[1]]), dataRow(['x', 'y']),
    backend('C', Buffer.from('SELECT 3\0')), ready(),
  ]);

  async function masked(chunks: Buffer[]): Promise<Buffer> {
    const client = new FakeSocket();
    const upstream = new FakeSocket();
    const rules: MaskRules = [{ rule: 'p/support', items: [{ detectors: ['email', 'card'], strategy: 'redact' }] }];
    const m = new ResultMasker(rules, Buffer.alloc(32, 1), new TableCatalog({ name: 't' } as PostgresTarget, 'app',
      () => Promise.reject(new Error('no catalog in unit tests'))), { client_encoding: 'UTF8', server_encoding: 'UTF8' });
    const r = new Relay({ session: { id: 'ses_test', target: { name: 't' } } as Session, pipeline: pipeline() as unknown as SessionPipeline,
      client: client as unknown as Socket, upstream: upstream as unknown as Socket, logger: pino({ level: 'silent' }),
      maxMessageBytes: 1 << 20, masker: m });
    r.run(Buffer.alloc(0), Buffer.alloc(0)).catch(() => {});
    client.emit('data', serialize.query('SELECT who, card FROM t'));
    for (const chunk of chunks) upstream.emit('data', chunk);
    await ticks();
    return client.bytes();
  }

  test('the caller gets the same masked bytes however TCP cuts the result, and never a clear value', async () => {
    const whole = await masked([result]);
    for (const secret of secrets) assert.equal(whole.includes(Buffer.from(secret)), false, secret);
    assert.ok(whole.includes(ready()), 'the result went through');
    for (let cut = 1; cut < result.length; cut++) {
      const out = await masked([result.subarray(0, cut), result.subarray(cut)]);
      assert.deepEqual(out, whole, `cut at ${cut}`);
    }
  });
});
