/**
 * Fuzz tests of the PostgreSQL wire codec. Every entry point that reads caller or upstream bytes is fed random byte
 * strings and mutations (bit flips, inserted/deleted bytes, corrupted length fields, truncations) of valid messages.
 * Every call must either return or throw a WardenError with WARDEN_ERR_PROTOCOL or WARDEN_ERR_MESSAGE_TOO_LARGE;
 * anything else (a RangeError from a Buffer read, a TypeError, a hang) is a bug. Where a decoder accepts its input,
 * re-encoding the result must give the input back, so "accepted but misread" is caught too; and a stream cut into
 * random chunks must give the same visits as the whole stream. Deterministic: set WARDEN_FUZZ_SEED to replay.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import { WardenError } from '../../errors.js';
import {
  CANCEL_REQUEST_CODE, FrameScanner, PROTOCOL_3_0, StartupReader, bindParamsAsText, decodeBackendKeyData,
  decodeBind, decodeCommandComplete, decodeDescribeOrClose, decodeErrorFields, decodeExecute,
  decodeParameterStatus, decodeParse, decodePassword, decodeQuery, decodeStartupPacket, encodeBackendKeyData,
  encodeCancelRequest, encodeErrorResponse, encodeNegotiateProtocolVersion, encodeNoticeResponse,
  encodeParameterStatus, encodeReadyForQuery, encodeAuthenticationOk, type StartupPacket,
} from './codec.js';

const SEED = Number(process.env.WARDEN_FUZZ_SEED ?? 0x2545f491) >>> 0;
const RANDOM_CASES = 20_000;
const MUTATION_CASES = 20_000;
const MAX_BODY = 1 << 20;
const ALLOWED = new Set(['WARDEN_ERR_PROTOCOL', 'WARDEN_ERR_MESSAGE_TOO_LARGE']);

/** xorshift32: tiny, seedable, good enough to spread bytes. */
class Rng {
  private x: number;
  constructor(seed: number) {
    this.x = seed || 1;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return this.next() % n;
  }
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let k = 0; k < n; k++) out[k] = this.next() & 0xff;
    return out;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** Runs fn; returns its result, or undefined when it threw an allowed WardenError; fails the test otherwise. */
function attempt<T>(what: string, input: Buffer, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof WardenError && ALLOWED.has(err.code)) return undefined;
    unexpected(what, input, err, fn);
  }
}

/** Fails the test; the decoders are pure, so fn is run once more with stack traces on to show where it broke. */
function unexpected(what: string, input: Buffer, err: unknown, rerun?: () => unknown): never {
  let detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (rerun) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 20;
    try {
      rerun();
    } catch (again) {
      detail = again instanceof Error ? String(again.stack) : String(again);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
  assert.fail(`${what} threw ${detail} for input ${input.toString('hex')} (seed ${SEED})`);
}

/**
 * Capturing a stack trace is most of the cost of a thrown WardenError, and the fuzz loops throw about a million of
 * them: without stacks the file runs in a fraction of the time. Failures re-run the input with stacks on.
 */
function withoutStacks(fn: () => void): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

// ---- corpus of valid messages ----

const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const frame = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
};

const FRONTEND_MESSAGES = [
  serialize.query('SELECT * FROM accounts WHERE id = 1'),
  serialize.query('☃ ünïcode'),
  serialize.parse({ name: 's1', text: 'SELECT $1, $2', types: [23, 25] }),
  serialize.parse({ text: 'SELECT 1' }),
  serialize.bind({ portal: 'p', statement: 's1', values: ['42', null, Buffer.from([0, 1, 2, 255])], binary: true }),
  serialize.bind(),
  serialize.execute({ portal: 'p', rows: 5 }),
  serialize.describe({ type: 'S', name: 's1' }),
  serialize.close({ type: 'P', name: 'p' }),
  serialize.password('wdn_token'),
  serialize.sync(),
  serialize.flush(),
  serialize.copyData(Buffer.alloc(300, 7)),
  serialize.copyDone(),
  serialize.end(),
];
const BACKEND_MESSAGES = [
  encodeAuthenticationOk(),
  encodeParameterStatus('server_version', '17.2'),
  encodeBackendKeyData(42, Buffer.alloc(32, 5)),
  encodeErrorResponse({ severity: 'ERROR', code: '42P01', message: 'no such table', detail: 'd', hint: 'h' }),
  encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: 'hello' }),
  encodeNegotiateProtocolVersion(0, ['_pq_.x']),
  encodeReadyForQuery('I'),
  frame('C', cstr('INSERT 0 5')),
  frame('D', Buffer.from([0, 1, 0, 0, 0, 1, 0x31])),
];
const STARTUP_PACKETS = [
  serialize.requestSsl(),
  serialize.startup({ user: 'alice', database: 'prod', application_name: 'psql' }),
  serialize.cancel(7, 1234),
  encodeCancelRequest(8, Buffer.alloc(32, 1)),
];

/** Every body decoder, with a canonical re-encoder where the decoded form determines the bytes exactly. */
const DECODERS: { name: string; decode: (b: Buffer) => unknown; encode?: (v: never) => Buffer }[] = [
  { name: 'decodeQuery', decode: decodeQuery, encode: (s: string) => cstr(s) },
  { name: 'decodePassword', decode: decodePassword, encode: (s: string) => cstr(s) },
  { name: 'decodeParse', decode: decodeParse, encode: encodeParse },
  {
    name: 'decodeBind',
    decode: (b) => {
      const m = decodeBind(b);
      bindParamsAsText(m);
      return m;
    },
    encode: encodeBind,
  },
  {
    name: 'decodeExecute',
    decode: decodeExecute,
    encode: (e: ReturnType<typeof decodeExecute>) => Buffer.concat([cstr(e.portal), int32(e.maxRows)]),
  },
  {
    name: 'decodeDescribeOrClose',
    decode: decodeDescribeOrClose,
    encode: (d: { which: string; name: string }) => Buffer.concat([Buffer.from(d.which), cstr(d.name)]),
  },
  { name: 'decodeCommandComplete', decode: decodeCommandComplete },
  { name: 'decodeErrorFields', decode: decodeErrorFields },
  { name: 'decodeParameterStatus', decode: decodeParameterStatus },
  {
    name: 'decodeBackendKeyData',
    decode: decodeBackendKeyData,
    encode: (k: ReturnType<typeof decodeBackendKeyData>) => body(encodeBackendKeyData(k.processId, k.secretKey)),
  },
];

function body(message: Buffer): Buffer {
  return message.subarray(5);
}
function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}
function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}
function encodeParse(p: ReturnType<typeof decodeParse>): Buffer {
  const types = p.paramTypes.map((oid) => { const b = Buffer.alloc(4); b.writeUInt32BE(oid); return b; });
  return Buffer.concat([cstr(p.name), cstr(p.query), int16(p.paramTypes.length), ...types]);
}
function encodeBind(m: ReturnType<typeof decodeBind>): Buffer {
  const params = m.params.map((p) => (p === null ? int32(-1) : Buffer.concat([int32(p.length), p])));
  return Buffer.concat([
    cstr(m.portal), cstr(m.statement), int16(m.paramFormats.length), ...m.paramFormats.map(int16),
    int16(m.params.length), ...params, int16(m.resultFormats.length), ...m.resultFormats.map(int16),
  ]);
}

// ---- mutations ----

/** Applies 1 to 4 random mutations: bit flip, insert, delete, length corruption, truncation, special bytes. */
function mutate(rng: Rng, input: Buffer, lengthOffsets: number[]): Buffer {
  let out = Buffer.from(input);
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const at = out.length === 0 ? 0 : rng.int(out.length);
    switch (rng.int(7)) {
      case 0: if (out.length) out[at] ^= 1 << rng.int(8); break;
      case 1: out = Buffer.concat([out.subarray(0, at), rng.bytes(1 + rng.int(4)), out.subarray(at)]); break;
      case 2: out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + rng.int(4))]); break;
      case 3: {
        const offset = lengthOffsets.length ? rng.pick(lengthOffsets) : 0;
        if (offset + 4 <= out.length) {
          const values = [0, 3, 4, 5, 7, 8, -1, 0x7fffffff, 0x80000000 | 0, MAX_BODY + 1, rng.next() | 0];
          const current = out.readInt32BE(offset);
          out.writeInt32BE(rng.int(2) ? rng.pick(values) : (current + rng.int(9) - 4) | 0, offset);
        }
        break;
      }
      case 4: out = out.subarray(0, at); break;
      case 5: if (out.length) out[at] = rng.pick([0, 0xff, 0x80, 0x7f, 0xc0, 0xed]); break;
      default: // a count field (Int16) set to an edge value
        if (out.length >= 2) {
          out.writeUInt16BE(rng.pick([0, 1, 2, 0x7fff, 0x8000, 0xffff]), Math.min(at, out.length - 2));
        }
    }
  }
  return out;
}

/** Offsets of the length words in a stream of typed messages (before mutation). */
function typedLengthOffsets(stream: Buffer): number[] {
  const offsets: number[] = [];
  for (let at = 0; at + 5 <= stream.length; at += 1 + stream.readInt32BE(at + 1)) offsets.push(at + 1);
  return offsets;
}

function chunks(rng: Rng, input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < input.length;) {
    const size = 1 + rng.int(rng.int(2) ? 8 : 200);
    out.push(input.subarray(at, at + size));
    at += size;
  }
  return out;
}

// ---- targets ----

/** Runs one decoder; if it accepts the input, its canonical re-encoding must give the input back. */
function decodeChecked(d: (typeof DECODERS)[number], input: Buffer): void {
  const value = attempt(d.name, input, () => d.decode(input));
  if (value !== undefined && d.encode) {
    assert.deepEqual(d.encode(value as never), input, `${d.name} accepted ${input.toString('hex')} but misread it`);
  }
}

/** Every decoder on one body: random bytes reach decoders whatever type byte they would arrive with. */
function fuzzBody(input: Buffer): void {
  for (const d of DECODERS) decodeChecked(d, input);
}

type ScanResult = { visits: string[]; error?: string };

/** Which decoders apply to a visited body of a given type byte (frontend and backend letters overlap). */
const BY_TYPE = new Map<number, typeof DECODERS>();
for (const [letters, names] of [
  ['Q', ['decodeQuery']], ['p', ['decodePassword']], ['P', ['decodeParse']], ['B', ['decodeBind']],
  ['E', ['decodeExecute', 'decodeErrorFields']], ['D', ['decodeDescribeOrClose']],
  ['C', ['decodeDescribeOrClose', 'decodeCommandComplete']], ['N', ['decodeErrorFields']],
  ['S', ['decodeParameterStatus']], ['K', ['decodeBackendKeyData']],
] as const) {
  BY_TYPE.set(letters.charCodeAt(0), DECODERS.filter((d) => (names as readonly string[]).includes(d.name)));
}

/** Scans with every type interesting; when `decode`, runs the decoders of each visited type on its body. */
function scanStream(input: Buffer, parts: Buffer[], decode: boolean): ScanResult {
  const scanner = new FrameScanner(new Uint8Array(256).fill(1), MAX_BODY);
  const visits: string[] = [];
  const visit = (type: number, b: Buffer) => {
    visits.push(`${type}:${b.toString('hex')}`);
    if (decode) for (const d of BY_TYPE.get(type) ?? []) decodeChecked(d, b);
  };
  try {
    for (const part of parts) scanner.scan(part, visit);
  } catch (err) {
    if (err instanceof WardenError && ALLOWED.has(err.code)) return { visits, error: err.code };
    unexpected('FrameScanner', input, err, () => scanStream(input, parts, decode));
  }
  return { visits };
}

function fuzzScanner(rng: Rng, input: Buffer): void {
  const whole = scanStream(input, [input], true);
  const split = scanStream(input, chunks(rng, input), false);
  assert.deepEqual(split, whole, `FrameScanner: chunking changed the result for ${input.toString('hex')}`);
}

type StartupResult = { packets: StartupPacket[]; error?: string };

function readStartup(input: Buffer, parts: Buffer[]): StartupResult {
  const reader = new StartupReader();
  const packets: StartupPacket[] = [];
  try {
    for (const part of parts) {
      let result = reader.push(part);
      while (result) {
        packets.push(result.packet);
        result = result.rest.length ? reader.push(result.rest) : undefined;
      }
    }
  } catch (err) {
    if (err instanceof WardenError && ALLOWED.has(err.code)) return { packets, error: err.code };
    unexpected('StartupReader', input, err, () => readStartup(input, parts));
  }
  return { packets };
}

function fuzzStartup(rng: Rng, input: Buffer): void {
  attempt('decodeStartupPacket', input, () => decodeStartupPacket(input));
  // With a correct length word the decoder gets past the first check and reaches the payload.
  if (input.length >= 4 && input.readInt32BE(0) !== input.length) {
    const fixed = Buffer.from(input);
    fixed.writeInt32BE(fixed.length, 0);
    attempt('decodeStartupPacket', fixed, () => decodeStartupPacket(fixed));
  }
  const whole = readStartup(input, [input]);
  const split = readStartup(input, chunks(rng, input));
  assert.deepEqual(split, whole, `StartupReader: chunking changed the result for ${input.toString('hex')}`);
}

// ---- cases ----

/** One random byte string, fed raw to everything, then behind a plausible startup header and message header. */
function randomCase(rng: Rng): void {
  const length = rng.int(8) === 0 ? rng.int(600) : rng.int(40);
  const input = rng.bytes(length);
  fuzzBody(input);
  fuzzScanner(rng, input);
  fuzzStartup(rng, input);
  const code = rng.pick([PROTOCOL_3_0, PROTOCOL_3_0 | 2, CANCEL_REQUEST_CODE]);
  fuzzStartup(rng, Buffer.concat([int32(input.length + 8), int32(code), input]));
  const type = rng.pick([0x51, 0x50, 0x42, 0x45, 0x44, 0x43, 0x53, 0x4b, 0x70]);
  fuzzScanner(rng, Buffer.concat([Buffer.from([type]), int32(input.length + 4), input]));
}

const FRONTEND_STREAM = Buffer.concat(FRONTEND_MESSAGES);
const BACKEND_STREAM = Buffer.concat(BACKEND_MESSAGES);
const STARTUP_STREAM = Buffer.concat(STARTUP_PACKETS);
const VALID_BODIES = [...FRONTEND_MESSAGES, ...BACKEND_MESSAGES].map(body);

/** One mutation of a valid input; n rotates over bodies, whole streams, single messages and startup packets. */
function mutationCase(rng: Rng, n: number): void {
  switch (n % 4) {
    case 0:
      fuzzBody(mutate(rng, rng.pick(VALID_BODIES), []));
      break;
    case 1: {
      const stream = rng.int(2) ? FRONTEND_STREAM : BACKEND_STREAM;
      fuzzScanner(rng, mutate(rng, stream, typedLengthOffsets(stream)));
      break;
    }
    case 2:
      fuzzScanner(rng, mutate(rng, rng.pick([...FRONTEND_MESSAGES, ...BACKEND_MESSAGES]), [1]));
      break;
    default: {
      const base = rng.int(3) ? rng.pick(STARTUP_PACKETS) : STARTUP_STREAM;
      fuzzStartup(rng, mutate(rng, base, [0, 4, 8]));
    }
  }
}

// ---- tests ----

describe(`codec fuzz (seed ${SEED}, replay with WARDEN_FUZZ_SEED=${SEED})`, () => {
  it(`survives ${RANDOM_CASES} random byte strings`, (t) => {
    t.diagnostic(`seed ${SEED}`);
    const rng = new Rng(SEED);
    withoutStacks(() => {
      for (let n = 0; n < RANDOM_CASES; n++) randomCase(rng);
    });
  });

  it(`survives ${MUTATION_CASES} mutations of valid messages and streams`, (t) => {
    t.diagnostic(`seed ${SEED}`);
    const rng = new Rng(SEED ^ 0x9e3779b9);
    withoutStacks(() => {
      for (let n = 0; n < MUTATION_CASES; n++) mutationCase(rng, n);
    });
  });

  it('starts from a valid corpus (so the mutations explore near-valid input)', () => {
    const all = scanStream(FRONTEND_STREAM, [FRONTEND_STREAM], true);
    assert.equal(all.error, undefined);
    assert.equal(all.visits.length, FRONTEND_MESSAGES.length);
    const frontend: [string, (b: Buffer) => unknown][] = [
      ['Q', decodeQuery], ['P', decodeParse], ['B', decodeBind], ['E', decodeExecute], ['D', decodeDescribeOrClose],
      ['C', decodeDescribeOrClose], ['p', decodePassword],
    ];
    const backend: [string, (b: Buffer) => unknown][] = [
      ['S', decodeParameterStatus], ['K', decodeBackendKeyData], ['E', decodeErrorFields], ['N', decodeErrorFields],
      ['C', decodeCommandComplete],
    ];
    for (const [messages, decoders] of [[FRONTEND_MESSAGES, frontend], [BACKEND_MESSAGES, backend]] as const) {
      for (const message of messages) {
        const decoder = decoders.find(([letter]) => letter.charCodeAt(0) === message[0]);
        if (decoder) assert.notEqual(decoder[1](body(message)), undefined);
      }
    }
    const startup = readStartup(STARTUP_STREAM, [STARTUP_STREAM]);
    assert.deepEqual(startup.packets.map((p) => p.kind), ['ssl', 'startup', 'cancel', 'cancel']);
  });
});
