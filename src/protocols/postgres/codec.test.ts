/**
 * Unit tests of the PostgreSQL wire codec: exact bytes of the encoders, round trips through the decoders, cross-checks
 * against pg-protocol (an independent implementation of the client side), every split point of message streams, and
 * the malformed inputs each decoder must refuse with a WardenError.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { WardenError, type ErrorCode } from '../../errors.js';
import {
  BACKEND, CANCEL_REQUEST_CODE, FRONTEND, FrameScanner, GSSENC_REQUEST_CODE, MAX_STARTUP_PACKET, PROTOCOL_3_0,
  SSL_REQUEST_CODE, StartupReader, bindParamsAsText, decodeBackendKeyData, decodeBind, decodeCommandComplete,
  decodeDescribeOrClose, decodeErrorFields, decodeExecute, decodeParameterStatus, decodeParse, decodePassword,
  decodeQuery, decodeStartupPacket, encodeAuthenticationCleartextPassword, encodeAuthenticationOk,
  encodeBackendKeyData, encodeCancelRequest, encodeErrorResponse, encodeNegotiateProtocolVersion,
  encodeNoticeResponse, encodeParameterStatus, encodeReadyForQuery, rowsFromCommandTag, type StartupPacket,
} from './codec.js';

// ---- helpers ----

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const cstr = (s: string) => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
const i16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };

/** A typed message: type byte, int32 length including itself, body. */
function frame(type: string | number, body: Buffer): Buffer {
  const code = typeof type === 'string' ? type.charCodeAt(0) : type;
  return Buffer.concat([Buffer.from([code]), i32(body.length + 4), body]);
}
/** A startup-phase packet: int32 length including itself, then the payload. */
function packet(payload: Buffer): Buffer {
  return Buffer.concat([i32(payload.length + 4), payload]);
}
const body = (message: Buffer) => message.subarray(5);

function throwsCode(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WardenError, `expected a WardenError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** Seeded xorshift32 so failures reproduce. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 0x100000000;
  };
}

/** Parses backend bytes with pg-protocol and returns its messages. */
function pgParse(bytes: Buffer): any[] {
  const out: any[] = [];
  new Parser().parse(bytes, (msg) => out.push(msg));
  return out;
}

// ---- encoders ----

describe('backend encoders: exact bytes', () => {
  it('ReadyForQuery', () => {
    assert.deepEqual(encodeReadyForQuery('I'), hex('5a 00000005 49'));
    assert.deepEqual(encodeReadyForQuery('T'), hex('5a 00000005 54'));
    assert.deepEqual(encodeReadyForQuery('E'), hex('5a 00000005 45'));
  });

  it('AuthenticationOk and AuthenticationCleartextPassword', () => {
    assert.deepEqual(encodeAuthenticationOk(), hex('52 00000008 00000000'));
    assert.deepEqual(encodeAuthenticationCleartextPassword(), hex('52 00000008 00000003'));
  });

  it('ParameterStatus', () => {
    assert.deepEqual(encodeParameterStatus('a', 'b'), hex('53 00000008 6100 6200'));
    assert.deepEqual(encodeParameterStatus('TimeZone', ''), hex('53 0000000e 54696d655a6f6e6500 00'));
  });

  it('BackendKeyData with a 3.0 key and a 3.2 key', () => {
    assert.deepEqual(encodeBackendKeyData(1, hex('01020304')), hex('4b 0000000c 00000001 01020304'));
    const long = Buffer.alloc(32, 0xab);
    assert.deepEqual(encodeBackendKeyData(-2, long), Buffer.concat([hex('4b 00000028 fffffffe'), long]));
  });

  it('ErrorResponse writes S, V, C, M then the terminator', () => {
    const expected = hex(
      '45 0000001d' + '53 4552524f5200' + '56 4552524f5200' + '43 343250303100' + '4d 7800' + '00',
    );
    assert.deepEqual(encodeErrorResponse({ severity: 'ERROR', code: '42P01', message: 'x' }), expected);
  });

  it('NoticeResponse adds D and H after M', () => {
    const out = encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: 'm', detail: 'd', hint: 'h' });
    const expected = hex(
      '4e 00000025' + '53 4e4f5449434500' + '56 4e4f5449434500' + '43 303030303000' + '4d 6d00' + '44 6400' +
        '48 6800' + '00',
    );
    assert.deepEqual(out, expected);
  });

  it('NegotiateProtocolVersion', () => {
    assert.deepEqual(encodeNegotiateProtocolVersion(0, []), hex('76 0000000c 00000000 00000000'));
    assert.deepEqual(
      encodeNegotiateProtocolVersion(2, ['_pq_.a', '_pq_.bc']),
      hex('76 0000001b 00000002 00000002 5f70715f2e6100 5f70715f2e626300'),
    );
  });

  it('CancelRequest with a 3.0 key, and identical to pg-protocol', () => {
    assert.deepEqual(encodeCancelRequest(7, hex('0000002a')), hex('00000010 04d2162e 00000007 0000002a'));
    assert.deepEqual(encodeCancelRequest(12345, i32(987654)), serialize.cancel(12345, 987654));
    const long = Buffer.alloc(256, 7);
    assert.equal(encodeCancelRequest(1, long).readInt32BE(0), 12 + 256);
  });

  it('multi-byte UTF-8 lengths are byte counts, not character counts', () => {
    const out = encodeParameterStatus('application_name', 'Ünïcödé ☃ 𝄞');
    assert.equal(out.readInt32BE(1), out.length - 1);
    assert.deepEqual(decodeParameterStatus(body(out)), { name: 'application_name', value: 'Ünïcödé ☃ 𝄞' });
  });

  it('an embedded NUL cannot cut a message short', () => {
    const out = encodeErrorResponse({ severity: 'FATAL', code: '28000', message: 'role "a\0b" unknown' });
    const fields = decodeErrorFields(body(out));
    assert.equal(fields.M, 'role "a\uFFFDb" unknown');
    assert.equal(out.readInt32BE(1), out.length - 1);
  });

  it('refuses unencodable arguments with WARDEN_ERR_INTERNAL', () => {
    throwsCode(() => encodeBackendKeyData(1, Buffer.alloc(3)), 'WARDEN_ERR_INTERNAL');
    throwsCode(() => encodeBackendKeyData(1, Buffer.alloc(257)), 'WARDEN_ERR_INTERNAL');
    throwsCode(() => encodeCancelRequest(1, Buffer.alloc(0)), 'WARDEN_ERR_INTERNAL');
    throwsCode(() => encodeReadyForQuery('X' as 'I'), 'WARDEN_ERR_INTERNAL');
  });
});

describe('backend encoders: pg-protocol (a real client parser) reads them', () => {
  it('parses the whole post-authentication sequence', () => {
    const bytes = Buffer.concat([
      encodeAuthenticationCleartextPassword(),
      encodeAuthenticationOk(),
      encodeParameterStatus('server_version', '17.2'),
      encodeBackendKeyData(4242, i32(-559038737)),
      encodeNoticeResponse({ severity: 'WARNING', code: '01000', message: 'careful' }),
      encodeErrorResponse({ severity: 'FATAL', code: '28P01', message: 'denied', detail: 'd', hint: 'h' }),
      encodeReadyForQuery('T'),
    ]);
    const msgs = pgParse(bytes);
    assert.deepEqual(msgs.map((m) => m.name), [
      'authenticationCleartextPassword', 'authenticationOk', 'parameterStatus', 'backendKeyData', 'notice', 'error',
      'readyForQuery',
    ]);
    assert.equal(msgs[2].parameterName, 'server_version');
    assert.equal(msgs[2].parameterValue, '17.2');
    assert.equal(msgs[3].processID, 4242);
    assert.equal(msgs[3].secretKey, -559038737);
    assert.equal(msgs[4].message, 'careful');
    assert.equal(msgs[5].severity, 'FATAL');
    assert.equal(msgs[5].code, '28P01');
    assert.equal(msgs[5].message, 'denied');
    assert.equal(msgs[5].detail, 'd');
    assert.equal(msgs[5].hint, 'h');
    assert.equal(msgs[6].status, 'T');
  });
});

// ---- backend decoders ----

describe('backend decoders', () => {
  it('round-trip ParameterStatus, BackendKeyData and error fields', () => {
    assert.deepEqual(decodeParameterStatus(body(encodeParameterStatus('DateStyle', 'ISO, MDY'))), {
      name: 'DateStyle', value: 'ISO, MDY',
    });
    for (const len of [4, 32, 256]) {
      const key = Buffer.alloc(len, len);
      assert.deepEqual(decodeBackendKeyData(body(encodeBackendKeyData(99, key))), { processId: 99, secretKey: key });
    }
    const fields = { severity: 'ERROR', code: '42P01', message: 'relation "t" does not exist', detail: 'x', hint: 'y' };
    assert.deepEqual(decodeErrorFields(body(encodeErrorResponse(fields as never))), {
      S: 'ERROR', V: 'ERROR', C: '42P01', M: 'relation "t" does not exist', D: 'x', H: 'y',
    });
  });

  it('decodes CommandComplete tags and their row counts', () => {
    assert.equal(decodeCommandComplete(cstr('INSERT 0 5')), 'INSERT 0 5');
    const cases: [string, number | undefined][] = [
      ['INSERT 0 5', 5], ['SELECT 3', 3], ['UPDATE 2', 2], ['DELETE 0', 0], ['MERGE 7', 7], ['COPY 10', 10],
      ['FETCH 100', 100], ['MOVE 1', 1], ['BEGIN', undefined], ['CREATE TABLE', undefined], ['SELECT', undefined],
      ['INSERT 5', undefined], ['SELECT -1', undefined], ['', undefined], ['SELECT 3 ', undefined],
    ];
    for (const [tag, rows] of cases) assert.equal(rowsFromCommandTag(tag), rows, tag);
  });

  it('refuses malformed backend bodies', () => {
    throwsCode(() => decodeCommandComplete(Buffer.from('SELECT 1')), 'WARDEN_ERR_PROTOCOL', /NUL/);
    throwsCode(() => decodeCommandComplete(Buffer.from('SELECT 1\0x')), 'WARDEN_ERR_PROTOCOL', /trailing/);
    throwsCode(() => decodeErrorFields(Buffer.from('SERROR\0')), 'WARDEN_ERR_PROTOCOL'); // no final zero
    throwsCode(() => decodeErrorFields(Buffer.from('SERR')), 'WARDEN_ERR_PROTOCOL');
    throwsCode(() => decodeErrorFields(Buffer.from('\0\0')), 'WARDEN_ERR_PROTOCOL', /trailing/);
    throwsCode(() => decodeParameterStatus(cstr('a')), 'WARDEN_ERR_PROTOCOL');
    throwsCode(() => decodeBackendKeyData(hex('00000001 010203')), 'WARDEN_ERR_PROTOCOL', /3 bytes/);
    throwsCode(() => decodeBackendKeyData(Buffer.alloc(4 + 257)), 'WARDEN_ERR_PROTOCOL');
    throwsCode(() => decodeBackendKeyData(hex('0000')), 'WARDEN_ERR_PROTOCOL');
  });

  it('keeps invalid UTF-8 from upstream as U+FFFD instead of failing (it is only recorded)', () => {
    assert.equal(decodeCommandComplete(hex('ff 00')), '\uFFFD');
  });
});

// ---- frontend decoders ----

describe('frontend decoders', () => {
  it('decode what pg-protocol serialises', () => {
    assert.equal(decodeQuery(body(serialize.query('SELECT 1; -- ☃'))), 'SELECT 1; -- ☃');
    assert.equal(decodePassword(body(serialize.password('wdn_tok.en'))), 'wdn_tok.en');
    assert.deepEqual(decodeParse(body(serialize.parse({ name: 's1', text: 'SELECT $1, $2', types: [23, 25] }))), {
      name: 's1', query: 'SELECT $1, $2', paramTypes: [23, 25],
    });
    assert.deepEqual(decodeExecute(body(serialize.execute({ portal: 'p1', rows: 10 }))), { portal: 'p1', maxRows: 10 });
    assert.deepEqual(decodeExecute(body(serialize.execute())), { portal: '', maxRows: 0 });
    assert.deepEqual(decodeDescribeOrClose(body(serialize.describe({ type: 'S', name: 's1' }))), {
      which: 'S', name: 's1',
    });
    assert.deepEqual(decodeDescribeOrClose(body(serialize.close({ type: 'P' }))), { which: 'P', name: '' });
  });

  it('decodes a Bind with text, NULL and binary parameters', () => {
    const msg = serialize.bind({ portal: 'p', statement: 's', values: ['42', null, hex('deadbeef')], binary: true });
    const bind = decodeBind(body(msg));
    assert.deepEqual(bind, {
      portal: 'p', statement: 's', paramFormats: [0, 0, 1], params: [Buffer.from('42'), null, hex('deadbeef')],
      resultFormats: [1],
    });
    assert.deepEqual(bindParamsAsText(bind), ['42', null, '<binary 4 bytes>']);
  });

  it('reads OIDs as unsigned and counts up to 65535 as PostgreSQL does', () => {
    const parse = Buffer.concat([cstr(''), cstr('SELECT $1'), i16(1), u32(3_000_000_000)]);
    assert.deepEqual(decodeParse(parse).paramTypes, [3_000_000_000]);
    const many = 65535;
    const params = Buffer.concat(Array.from({ length: many }, () => i32(-1)));
    const bind = Buffer.concat([cstr(''), cstr(''), i16(0), hex('ffff'), params, i16(0)]);
    const decoded = decodeBind(bind);
    assert.equal(decoded.params.length, many);
    assert.equal(decoded.params[many - 1], null);
  });

  it('bindParamsAsText applies 0, 1 or N format codes', () => {
    const bind = (paramFormats: number[]) => ({
      portal: '', statement: '', paramFormats, params: [Buffer.from('a'), Buffer.from('bc')], resultFormats: [],
    });
    assert.deepEqual(bindParamsAsText(bind([])), ['a', 'bc']);
    assert.deepEqual(bindParamsAsText(bind([1])), ['<binary 1 bytes>', '<binary 2 bytes>']);
    assert.deepEqual(bindParamsAsText(bind([1, 0])), ['<binary 1 bytes>', 'bc']);
  });

  it('returns parameter buffers that stay valid after the input is reused', () => {
    const input = body(serialize.bind({ values: [hex('0102')] }));
    const bind = decodeBind(input);
    input.fill(0);
    assert.deepEqual(bind.params[0], hex('0102'));
  });

  it('execute maxRows is signed, like PostgreSQL reads it', () => {
    assert.equal(decodeExecute(Buffer.concat([cstr('p'), i32(-1)])).maxRows, -1);
  });

  it('refuses truncated or padded strings', () => {
    throwsCode(() => decodeQuery(Buffer.from('SELECT 1')), 'WARDEN_ERR_PROTOCOL', /not NUL-terminated/);
    throwsCode(() => decodeQuery(Buffer.alloc(0)), 'WARDEN_ERR_PROTOCOL');
    throwsCode(() => decodeQuery(Buffer.from('SELECT 1\0DROP TABLE t\0')), 'WARDEN_ERR_PROTOCOL', /trailing/);
    throwsCode(() => decodePassword(Buffer.from('secret')), 'WARDEN_ERR_PROTOCOL');
    throwsCode(() => decodePassword(Buffer.from('secret\0\0')), 'WARDEN_ERR_PROTOCOL');
    throwsCode(() => decodeExecute(cstr('p')), 'WARDEN_ERR_PROTOCOL', /row limit/);
    throwsCode(() => decodeExecute(Buffer.concat([cstr('p'), i32(0), hex('00')])), 'WARDEN_ERR_PROTOCOL');
    throwsCode(() => decodeDescribeOrClose(Buffer.alloc(0)), 'WARDEN_ERR_PROTOCOL');
    throwsCode(() => decodeDescribeOrClose(Buffer.from('Xname\0')), 'WARDEN_ERR_PROTOCOL', /neither S nor P/);
    throwsCode(() => decodeDescribeOrClose(Buffer.from('Sname')), 'WARDEN_ERR_PROTOCOL');
  });

  it('refuses invalid UTF-8 from the caller (the checked text must be the executed text)', () => {
    throwsCode(() => decodeQuery(hex('53454c454354 c0af 00')), 'WARDEN_ERR_PROTOCOL', /UTF-8/); // overlong '/'
    throwsCode(() => decodeQuery(hex('eda080 00')), 'WARDEN_ERR_PROTOCOL', /UTF-8/); // UTF-16 surrogate
    throwsCode(() => decodeParse(Buffer.concat([cstr(''), hex('ff00'), i16(0)])), 'WARDEN_ERR_PROTOCOL', /UTF-8/);
  });

  it('refuses bad Parse counts', () => {
    const head = Buffer.concat([cstr('s'), cstr('SELECT $1')]);
    throwsCode(() => decodeParse(head), 'WARDEN_ERR_PROTOCOL', /count/);
    throwsCode(() => decodeParse(Buffer.concat([head, i16(2), i32(23)])), 'WARDEN_ERR_PROTOCOL', /past the end/);
    throwsCode(() => decodeParse(Buffer.concat([head, i16(0), i32(23)])), 'WARDEN_ERR_PROTOCOL', /trailing/);
    throwsCode(() => decodeParse(Buffer.concat([head, hex('ff')])), 'WARDEN_ERR_PROTOCOL');
  });

  it('refuses bad Bind layouts', () => {
    const names = Buffer.concat([cstr(''), cstr('')]);
    const bind = (...parts: Buffer[]) => () => decodeBind(Buffer.concat([names, ...parts]));
    throwsCode(bind(i16(2), i16(0), i16(0), i16(3)), 'WARDEN_ERR_PROTOCOL', /2 parameter formats but 3/);
    throwsCode(bind(i16(0), i16(1), i32(-2), i16(0)), 'WARDEN_ERR_PROTOCOL', /length -2/);
    throwsCode(bind(i16(0), i16(1), i32(10), Buffer.from('abc'), i16(0)), 'WARDEN_ERR_PROTOCOL', /past the end/);
    throwsCode(bind(i16(0), i16(3), i32(-1)), 'WARDEN_ERR_PROTOCOL', /past the end/);
    throwsCode(bind(i16(1), i16(2), i16(0)), 'WARDEN_ERR_PROTOCOL', /format code 2/);
    throwsCode(bind(i16(0), i16(0), i16(1), i16(-1)), 'WARDEN_ERR_PROTOCOL', /format code -1/);
    throwsCode(bind(i16(0), i16(0)), 'WARDEN_ERR_PROTOCOL', /result format count/);
    throwsCode(bind(i16(0), i16(0), i16(0), hex('00')), 'WARDEN_ERR_PROTOCOL', /trailing/);
    throwsCode(bind(i16(5)), 'WARDEN_ERR_PROTOCOL', /past the end/);
    throwsCode(() => decodeBind(cstr('portal-without-statement')), 'WARDEN_ERR_PROTOCOL', /statement name/);
  });
});

// ---- startup packets ----

const startupPayload = (params: [string, string][], version = PROTOCOL_3_0) =>
  Buffer.concat([i32(version), ...params.flatMap(([k, v]) => [cstr(k), cstr(v)]), hex('00')]);

describe('decodeStartupPacket', () => {
  it('decodes what pg-protocol sends', () => {
    const decoded = decodeStartupPacket(serialize.startup({ user: 'alice', database: 'db', application_name: 'psql' }));
    assert.deepEqual(decoded, {
      kind: 'startup', major: 3, minor: 0,
      params: { user: 'alice', database: 'db', application_name: 'psql', client_encoding: 'UTF8' },
    });
    assert.deepEqual(decodeStartupPacket(serialize.requestSsl()), { kind: 'ssl' });
    assert.deepEqual(decodeStartupPacket(serialize.cancel(77, 1234)), {
      kind: 'cancel', processId: 77, secretKey: i32(1234),
    });
  });

  it('decodes GSSENC requests, 3.2 cancel keys, newer minor versions and empty values', () => {
    assert.deepEqual(decodeStartupPacket(packet(i32(GSSENC_REQUEST_CODE))), { kind: 'gssenc' });
    assert.deepEqual(decodeStartupPacket(packet(i32(SSL_REQUEST_CODE))), { kind: 'ssl' });
    const key = Buffer.alloc(32, 9);
    assert.deepEqual(decodeStartupPacket(packet(Buffer.concat([i32(CANCEL_REQUEST_CODE), i32(5), key]))), {
      kind: 'cancel', processId: 5, secretKey: key,
    });
    const p = decodeStartupPacket(packet(startupPayload([['user', 'u'], ['options', ''], ['_pq_.x', '1']], 196610)));
    assert.deepEqual(p, { kind: 'startup', major: 3, minor: 2, params: { user: 'u', options: '', '_pq_.x': '1' } });
  });

  it('treats a "__proto__" parameter as data, not as a prototype', () => {
    const p = decodeStartupPacket(packet(startupPayload([['__proto__', 'x'], ['user', 'u']]))) as Extract<
      StartupPacket, { kind: 'startup' }
    >;
    assert.equal(Object.getPrototypeOf(p.params), Object.prototype);
    assert.deepEqual(Object.keys(p.params), ['__proto__', 'user']);
    assert.equal(Object.getOwnPropertyDescriptor(p.params, '__proto__')?.value, 'x');
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  it('rejects other protocol versions with a clear message', () => {
    throwsCode(() => decodeStartupPacket(packet(startupPayload([['user', 'u']], 2 << 16))), 'WARDEN_ERR_PROTOCOL',
      /unsupported frontend protocol 2\.0: server supports 3\.0 to 3\.2/);
    throwsCode(() => decodeStartupPacket(packet(startupPayload([['user', 'u']], (4 << 16) | 1))), 'WARDEN_ERR_PROTOCOL',
      /unsupported frontend protocol 4\.1/);
    throwsCode(() => decodeStartupPacket(packet(i32((1234 << 16) | 5681))), 'WARDEN_ERR_PROTOCOL', /unknown/);
  });

  it('rejects malformed packets', () => {
    const ok = packet(startupPayload([['user', 'u']]));
    throwsCode(() => decodeStartupPacket(ok.subarray(0, ok.length - 1)), 'WARDEN_ERR_PROTOCOL', /declares/);
    throwsCode(() => decodeStartupPacket(Buffer.concat([ok, hex('00')])), 'WARDEN_ERR_PROTOCOL', /declares/);
    throwsCode(() => decodeStartupPacket(hex('00000004')), 'WARDEN_ERR_PROTOCOL', /length/);
    throwsCode(() => decodeStartupPacket(packet(i32(PROTOCOL_3_0))), 'WARDEN_ERR_PROTOCOL', /terminator/);
    const raw = (bytes: Buffer, code = PROTOCOL_3_0) => () =>
      decodeStartupPacket(packet(Buffer.concat([i32(code), bytes])));
    throwsCode(raw(Buffer.from('user\0')), 'WARDEN_ERR_PROTOCOL', /no value/);
    throwsCode(raw(Buffer.from('user\0u')), 'WARDEN_ERR_PROTOCOL', /NUL/);
    throwsCode(raw(Buffer.from('user\0u\0')), 'WARDEN_ERR_PROTOCOL', /terminator/);
    throwsCode(raw(Buffer.from('user\0u\0\0\0')), 'WARDEN_ERR_PROTOCOL', /terminator/);
    throwsCode(raw(Buffer.from('user\0u\0\0x')), 'WARDEN_ERR_PROTOCOL', /terminator/);
    throwsCode(raw(Buffer.from('user\0a\0user\0b\0\0')), 'WARDEN_ERR_PROTOCOL', /twice/);
    throwsCode(raw(hex('7573657200 ff00 00')), 'WARDEN_ERR_PROTOCOL', /UTF-8/);
    throwsCode(raw(hex('00'), SSL_REQUEST_CODE), 'WARDEN_ERR_PROTOCOL', /SSL/);
    const cancel = (keyLength: number) => () =>
      decodeStartupPacket(packet(Buffer.concat([i32(CANCEL_REQUEST_CODE), i32(1), Buffer.alloc(keyLength)])));
    throwsCode(cancel(3), 'WARDEN_ERR_PROTOCOL', /secret key of 3 bytes/);
    throwsCode(cancel(257), 'WARDEN_ERR_PROTOCOL', /secret key of 257 bytes/);
    throwsCode(raw(hex('0001'), CANCEL_REQUEST_CODE), 'WARDEN_ERR_PROTOCOL', /cancel/);
  });

  it('accepts a packet of exactly MAX_STARTUP_PACKET bytes and refuses one byte more', () => {
    const exact = (size: number) => {
      const fixed = 4 + 4 + 'user\0u\0'.length + 'options\0'.length + 1 + 1;
      return packet(startupPayload([['user', 'u'], ['options', 'x'.repeat(size - fixed)]]));
    };
    assert.equal(exact(MAX_STARTUP_PACKET).length, MAX_STARTUP_PACKET);
    assert.equal(decodeStartupPacket(exact(MAX_STARTUP_PACKET)).kind, 'startup');
    throwsCode(() => decodeStartupPacket(exact(MAX_STARTUP_PACKET + 1)), 'WARDEN_ERR_MESSAGE_TOO_LARGE');
  });
});

// ---- StartupReader ----

/** Pushes a chunk and drains every packet it completes, following `rest` as the engine would. */
function feedStartup(reader: StartupReader, chunk: Buffer, out: StartupPacket[]): void {
  let result = reader.push(chunk);
  while (result) {
    out.push(result.packet);
    if (result.rest.length === 0) return;
    result = reader.push(result.rest);
  }
}

function checkAllSplits(stream: Buffer, expected: StartupPacket[]): void {
  for (let cut = 0; cut <= stream.length; cut++) {
    const reader = new StartupReader();
    const out: StartupPacket[] = [];
    feedStartup(reader, stream.subarray(0, cut), out);
    feedStartup(reader, stream.subarray(cut), out);
    assert.deepEqual(out, expected, `cut at ${cut}`);
    assert.equal(reader.pending, 0);
  }
  const reader = new StartupReader();
  const out: StartupPacket[] = [];
  for (let k = 0; k < stream.length; k++) feedStartup(reader, stream.subarray(k, k + 1), out);
  assert.deepEqual(out, expected, 'one byte at a time');
}

describe('StartupReader', () => {
  const startup = serialize.startup({ user: 'alice', database: 'prod' });
  const startupPacket = decodeStartupPacket(startup);

  it('cuts an SSLRequest followed by a startup packet at every split point', () => {
    checkAllSplits(Buffer.concat([serialize.requestSsl(), startup]), [{ kind: 'ssl' }, startupPacket]);
  });

  it('cuts a CancelRequest (3.0 and 3.2 keys) at every split point', () => {
    checkAllSplits(serialize.cancel(9, 77), [{ kind: 'cancel', processId: 9, secretKey: i32(77) }]);
    const key = Buffer.alloc(32, 3);
    checkAllSplits(encodeCancelRequest(10, key), [{ kind: 'cancel', processId: 10, secretKey: key }]);
  });

  it('survives random chunkings', () => {
    const stream = Buffer.concat([serialize.requestSsl(), startup, serialize.requestSsl()]);
    const random = xorshift(0x5eed);
    for (let round = 0; round < 200; round++) {
      const reader = new StartupReader();
      const out: StartupPacket[] = [];
      for (let at = 0; at < stream.length;) {
        const size = 1 + Math.floor(random() * 20);
        feedStartup(reader, stream.subarray(at, at + size), out);
        at += size;
      }
      assert.deepEqual(out, [{ kind: 'ssl' }, startupPacket, { kind: 'ssl' }]);
    }
  });

  it('returns the bytes after a packet as rest (the engine refuses them before TLS)', () => {
    const stuffed = Buffer.concat([serialize.requestSsl(), serialize.query('SELECT 1')]);
    const result = new StartupReader().push(stuffed);
    assert.deepEqual(result?.packet, { kind: 'ssl' });
    assert.deepEqual(result?.rest, serialize.query('SELECT 1'));
  });

  it('keeps a copy of partial input, not a view of the caller buffer', () => {
    const reader = new StartupReader();
    const first = Buffer.from(startup.subarray(0, 10));
    assert.equal(reader.push(first), undefined);
    assert.equal(reader.pending, 10);
    first.fill(0xff);
    assert.deepEqual(reader.push(startup.subarray(10))?.packet, startupPacket);
  });

  it('refuses lengths below 8 and above MAX_STARTUP_PACKET as soon as the length is known', () => {
    throwsCode(() => new StartupReader().push(hex('00000007')), 'WARDEN_ERR_PROTOCOL');
    throwsCode(() => new StartupReader().push(hex('ffffffff')), 'WARDEN_ERR_PROTOCOL');
    throwsCode(() => new StartupReader().push(i32(MAX_STARTUP_PACKET + 1)), 'WARDEN_ERR_MESSAGE_TOO_LARGE');
    const reader = new StartupReader();
    assert.equal(reader.push(hex('00')), undefined);
    assert.equal(reader.push(hex('00 27')), undefined);
    throwsCode(() => reader.push(hex('11')), 'WARDEN_ERR_MESSAGE_TOO_LARGE'); // 0x2711 = 10001
  });

  it('passes decode errors through', () => {
    throwsCode(() => new StartupReader().push(packet(startupPayload([], 2 << 16))), 'WARDEN_ERR_PROTOCOL', /2\.0/);
  });
});

// ---- FrameScanner ----

type Visit = [type: string, body: string];

function scanAll(scanner: FrameScanner, chunks: Buffer[]): Visit[] {
  const out: Visit[] = [];
  for (const chunk of chunks) {
    scanner.scan(chunk, (type, b) => out.push([String.fromCharCode(type), b.toString('hex')]));
  }
  return out;
}

function interestIn(types: string): Uint8Array {
  const table = new Uint8Array(256);
  for (const t of types) table[t.charCodeAt(0)] = 1;
  return table;
}

describe('FrameScanner', () => {
  const copy = serialize.copyData(Buffer.alloc(100 * 1024, 0x61));
  const stream = Buffer.concat([
    serialize.query('SELECT 1'),
    serialize.parse({ name: 's1', text: 'SELECT $1, $2, $3', types: [25, 0, 17] }),
    serialize.bind({ statement: 's1', values: ['text', null, hex('00ff00ff')] }),
    serialize.execute({ rows: 0 }),
    serialize.sync(),
    copy,
    serialize.query('SELECT 2'),
    serialize.flush(),
  ]);
  const interest = interestIn('QPBES');
  const expected = scanAll(new FrameScanner(interest, 1 << 20), [stream]);

  it('visits the interesting messages of an unsplit stream, in order', () => {
    assert.deepEqual(expected.map(([t]) => t), ['Q', 'P', 'B', 'E', 'S', 'Q']);
    assert.equal(decodeQuery(Buffer.from(expected[0][1], 'hex')), 'SELECT 1');
    const bind = decodeBind(Buffer.from(expected[2][1], 'hex'));
    assert.deepEqual(bindParamsAsText(bind), ['text', null, '<binary 4 bytes>']);
    assert.equal(expected[4][1], '');
  });

  it('gives the same visits for a cut at every byte position', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const scanner = new FrameScanner(interest, 1 << 20);
      const got = scanAll(scanner, [stream.subarray(0, cut), stream.subarray(cut)]);
      if (got.length !== expected.length) assert.deepEqual(got, expected, `cut at ${cut}`);
      for (let k = 0; k < got.length; k++) {
        if (got[k][0] !== expected[k][0] || got[k][1] !== expected[k][1]) assert.deepEqual(got, expected, `cut ${cut}`);
      }
      assert.ok(scanner.atBoundary);
    }
  });

  it('reports where each message ends and withholds incomplete interesting messages, at every cut', () => {
    // Message boundaries of the unsplit stream, and which message each byte belongs to.
    const ends: number[] = [];
    for (let at = 0; at < stream.length; at += 1 + stream.readInt32BE(at + 1)) ends.push(at + 1 + stream.readInt32BE(at + 1));
    const starts = [0, ...ends.slice(0, -1)];
    for (let cut = 0; cut <= stream.length; cut++) {
      const scanner = new FrameScanner(interest, 1 << 20);
      let offset = 0;
      let forwarded = 0;
      for (const chunk of [stream.subarray(0, cut), stream.subarray(cut)]) {
        scanner.scan(chunk, (_type, _body, end) => assert.ok(ends.includes(offset + end), `end ${offset + end} at cut ${cut}`));
        const from = scanner.incompleteFrom;
        const upTo = from < 0 ? offset + chunk.length : offset + from;
        forwarded = Math.max(forwarded, upTo);
        // What may be forwarded never stops inside an interesting message.
        const k = starts.findIndex((st, idx) => st < forwarded && forwarded < ends[idx]);
        if (k >= 0) assert.equal(interest[stream[starts[k]]], 0, `cut ${cut}: forwarded ${forwarded} splits an interesting message`);
        offset += chunk.length;
      }
      assert.equal(forwarded, stream.length);
    }
  });

  it('gives the same visits one byte at a time', () => {
    const scanner = new FrameScanner(interest, 1 << 20);
    const chunks = Array.from({ length: stream.length }, (_, k) => stream.subarray(k, k + 1));
    assert.deepEqual(scanAll(scanner, chunks), expected);
    assert.equal(scanner.pending, 0);
  });

  it('gives the same visits for random chunkings, including an interesting message split many ways', () => {
    const seed = 0xc0dec;
    const random = xorshift(seed);
    const bigQuery = serialize.query(`SELECT '${'x'.repeat(70_000)}'`);
    const withBig = Buffer.concat([stream, bigQuery, stream]);
    const expectedBig = scanAll(new FrameScanner(interest, 1 << 20), [withBig]);
    for (let round = 0; round < 100; round++) {
      const chunks: Buffer[] = [];
      const max = round % 2 === 0 ? 64 : 40_000;
      for (let at = 0; at < withBig.length;) {
        const size = 1 + Math.floor(random() * max);
        chunks.push(withBig.subarray(at, at + size));
        at += size;
      }
      const got = scanAll(new FrameScanner(interest, 1 << 20), chunks);
      assert.deepEqual(got, expectedBig, `seed ${seed} round ${round}`);
    }
  });

  it('does not buffer uninteresting messages and does buffer split interesting ones', () => {
    const scanner = new FrameScanner(interest, 1 << 20);
    scanner.scan(copy.subarray(0, 50_000), () => assert.fail('CopyData is not interesting'));
    assert.equal(scanner.pending, 0);
    assert.equal(scanner.atBoundary, false);
    scanner.scan(copy.subarray(50_000), () => assert.fail('CopyData is not interesting'));
    assert.ok(scanner.atBoundary);
    const query = serialize.query('SELECT 42');
    scanner.scan(query.subarray(0, 3), () => assert.fail('incomplete'));
    assert.equal(scanner.pending, 3);
    scanner.scan(query.subarray(3, 9), () => assert.fail('incomplete'));
    assert.equal(scanner.pending, 4, 'a complete header is kept as numbers; only the 4 body bytes are held');
  });

  it('assembles a split interesting body from copies, immune to reuse of earlier chunks', () => {
    const query = serialize.query('SELECT 42');
    const first = Buffer.from(query.subarray(0, 8));
    const scanner = new FrameScanner(interest, 1 << 20);
    const seen: string[] = [];
    scanner.scan(first, () => assert.fail('incomplete'));
    first.fill(0);
    scanner.scan(query.subarray(8), (_t, b) => seen.push(decodeQuery(b)));
    assert.deepEqual(seen, ['SELECT 42']);
  });

  it('refuses a length below 4, also when the header arrives byte by byte, and stays failed', () => {
    for (const length of [0, 3, -1, -2147483648]) {
      const bad = Buffer.concat([Buffer.from('Q'), i32(length)]);
      throwsCode(() => new FrameScanner(interest, 100).scan(bad, () => {}), 'WARDEN_ERR_PROTOCOL', /length/);
      throwsCode(() => new FrameScanner(new Uint8Array(256), 100).scan(bad, () => {}), 'WARDEN_ERR_PROTOCOL');
      const scanner = new FrameScanner(interest, 100);
      for (let k = 0; k < 4; k++) scanner.scan(bad.subarray(k, k + 1), () => {});
      throwsCode(() => scanner.scan(bad.subarray(4), () => {}), 'WARDEN_ERR_PROTOCOL');
      throwsCode(() => scanner.scan(serialize.sync(), () => {}), 'WARDEN_ERR_PROTOCOL');
    }
  });

  it('refuses interesting bodies above maxBody at the header, before buffering them', () => {
    const scanner = new FrameScanner(interest, 100);
    const atLimit = frame('Q', Buffer.concat([Buffer.alloc(99, 0x61), hex('00')]));
    let visits = 0;
    scanner.scan(atLimit, () => visits++);
    assert.equal(visits, 1);
    const overLimit = Buffer.concat([Buffer.from('Q'), i32(105)]);
    throwsCode(() => scanner.scan(overLimit, () => {}), 'WARDEN_ERR_MESSAGE_TOO_LARGE', /above the limit of 100/);
    throwsCode(
      () => new FrameScanner(interest, 1 << 20).scan(Buffer.concat([Buffer.from('P'), i32(0x7fffffff)]), () => {}),
      'WARDEN_ERR_MESSAGE_TOO_LARGE',
    );
  });

  it('lets an uninteresting message of the largest length pass without holding it', () => {
    const scanner = new FrameScanner(interest, 100);
    scanner.scan(Buffer.concat([Buffer.from('D'), i32(0x7fffffff), Buffer.alloc(1000)]), () => assert.fail());
    assert.equal(scanner.pending, 0);
    assert.equal(scanner.atBoundary, false);
  });

  it('hands zero-length bodies to the visitor', () => {
    const seen: number[] = [];
    const syncs = Buffer.concat([serialize.sync(), serialize.sync()]);
    new FrameScanner(interest, 0).scan(syncs, (t, b) => seen.push(t, b.length));
    assert.deepEqual(seen, [0x53, 0, 0x53, 0]);
  });

  it('scans backend streams produced by the encoders', () => {
    const all = new Uint8Array(256).fill(1);
    const bytes = Buffer.concat([
      encodeAuthenticationOk(), encodeParameterStatus('a', 'b'), encodeBackendKeyData(1, i32(2)),
      frame('C', cstr('SELECT 3')), encodeReadyForQuery('I'),
    ]);
    const seen: string[] = [];
    new FrameScanner(all, 1024).scan(bytes, (t, b) => {
      if (t === BACKEND.CommandComplete) seen.push(decodeCommandComplete(b));
      else if (t === BACKEND.ParameterStatus) seen.push(decodeParameterStatus(b).value);
      else seen.push(String.fromCharCode(t));
    });
    assert.deepEqual(seen, ['R', 'b', 'K', 'SELECT 3', 'Z']);
  });

  it('propagates a visitor error and is left at a message boundary', () => {
    const scanner = new FrameScanner(interest, 1 << 20);
    const boom = new Error('visitor');
    assert.throws(() => scanner.scan(serialize.query('x'), () => { throw boom; }), (e) => e === boom);
    assert.ok(scanner.atBoundary);
    assert.deepEqual(scanAll(scanner, [serialize.query('y')]), [['Q', '7900']]);
  });
});

describe('message type constants', () => {
  it('match the protocol letters', () => {
    const letters = (table: Readonly<Record<string, number>>) =>
      Object.fromEntries(Object.entries(table).map(([k, v]) => [k, String.fromCharCode(v)]));
    assert.deepEqual(letters(FRONTEND), {
      Bind: 'B', Close: 'C', CopyData: 'd', CopyDone: 'c', CopyFail: 'f', Describe: 'D', Execute: 'E', Flush: 'H',
      FunctionCall: 'F', Parse: 'P', PasswordMessage: 'p', Query: 'Q', Sync: 'S', Terminate: 'X',
    });
    assert.deepEqual(letters(BACKEND), {
      Authentication: 'R', BackendKeyData: 'K', BindComplete: '2', CloseComplete: '3', CommandComplete: 'C',
      CopyData: 'd', CopyDone: 'c', CopyInResponse: 'G', CopyOutResponse: 'H', CopyBothResponse: 'W', DataRow: 'D',
      EmptyQueryResponse: 'I', ErrorResponse: 'E', FunctionCallResponse: 'V', NegotiateProtocolVersion: 'v',
      NoData: 'n', NoticeResponse: 'N', NotificationResponse: 'A', ParameterDescription: 't', ParameterStatus: 'S',
      ParseComplete: '1', PortalSuspended: 's', ReadyForQuery: 'Z', RowDescription: 'T',
    });
    assert.ok(Object.isFrozen(FRONTEND) && Object.isFrozen(BACKEND));
    // Cross-check against the bytes pg-protocol writes for the frontend messages it knows.
    assert.equal(serialize.query('')[0], FRONTEND.Query);
    assert.equal(serialize.parse({ text: '' })[0], FRONTEND.Parse);
    assert.equal(serialize.bind()[0], FRONTEND.Bind);
    assert.equal(serialize.execute()[0], FRONTEND.Execute);
    assert.equal(serialize.describe({ type: 'S' })[0], FRONTEND.Describe);
    assert.equal(serialize.close({ type: 'S' })[0], FRONTEND.Close);
    assert.equal(serialize.sync()[0], FRONTEND.Sync);
    assert.equal(serialize.flush()[0], FRONTEND.Flush);
    assert.equal(serialize.end()[0], FRONTEND.Terminate);
    assert.equal(serialize.password('')[0], FRONTEND.PasswordMessage);
    assert.equal(serialize.copyDone()[0], FRONTEND.CopyDone);
    assert.equal(serialize.copyFail('')[0], FRONTEND.CopyFail);
  });
});
