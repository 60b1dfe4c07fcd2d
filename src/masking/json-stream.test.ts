/**
 * The streaming JSON masker: selectors and strategies, detectors on values and names, byte-for-byte pass-through,
 * every split point (one byte at a time, random chunkings), invalid JSON, duplicate and escaped names, deep nesting,
 * the token bound, JSON sequences.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MaskItem } from '../policy/schema.js';
import { httpMaskSpec } from './json-spec.js';
import { JsonMaskError, JsonMasker, MAX_DEPTH, MAX_TOKEN_BYTES, maskJsonText, type JsonMaskerOptions } from './json-stream.js';
import { prng } from './test-random.js';

const KEY = Buffer.from('test-hash-key');

function specOf(...items: MaskItem[]) {
  const spec = httpMaskSpec([{ rule: 'p/r', items }]);
  assert.ok(spec);
  return spec;
}

/** The masked output of `input` fed in `chunks` (sizes; the rest in one), and the hits. */
function mask(input: string | Buffer, items: MaskItem[], sizes: number[] = [], options: JsonMaskerOptions = {}) {
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const masker = new JsonMasker(specOf(...items), KEY, options);
  const out: Buffer[] = [];
  let pos = 0;
  for (const size of sizes) {
    out.push(masker.push(bytes.subarray(pos, pos + size)));
    pos += size;
  }
  if (pos < bytes.length) out.push(masker.push(bytes.subarray(pos)));
  out.push(masker.end());
  return { text: Buffer.concat(out).toString(), hits: masker.hits };
}

const CUSTOMERS = JSON.stringify({
  customers: [
    { name: 'Alice', email: 'alice@example.com', ssn: '123-45-6789', card: 4111111111111111, vip: true, note: null },
    { name: 'Bob', email: 'bob@example.org', ssn: 987654321, nested: { ssn: 'x', deeper: [{ ssn: 'y' }] } },
  ],
  total: 2,
});

describe('streaming JSON masker', () => {
  it('masks selected scalars whole, as JSON strings', () => {
    const { text, hits } = mask(CUSTOMERS, [
      { fields: ['$.customers[*].email'], strategy: 'partial' },
      { fields: ['**.ssn'], strategy: 'redact' },
      { fields: ['$.customers[0].card', '$.customers[0].vip', '$.customers[0].note'], strategy: 'hash' },
    ]);
    const out = JSON.parse(text) as { customers: Array<Record<string, unknown>> };
    assert.equal(out.customers[0].email, '***@example.com');
    assert.equal(out.customers[1].email, '***@example.org');
    assert.equal(out.customers[0].ssn, '[REDACTED]');
    assert.equal(out.customers[1].ssn, '[REDACTED]', 'a number becomes a string');
    assert.deepEqual(out.customers[1].nested, { ssn: '[REDACTED]', deeper: [{ ssn: '[REDACTED]' }] });
    assert.match(String(out.customers[0].card), /^h_[A-Za-z0-9_-]{16}$/);
    assert.match(String(out.customers[0].vip), /^h_/);
    assert.equal(out.customers[0].note, null, 'null stays null');
    assert.equal(out.customers[0].name, 'Alice');
    assert.equal(hits['p/r'], 2 + 4 + 2);
  });

  it('masks every scalar inside a selected object or array, keeping its shape', () => {
    const { text } = mask('{"a":{"b":[1,"two",{"c":false}],"d":"e"},"f":1}', [{ fields: ['$.a'], strategy: 'null' }]);
    assert.equal(text, '{"a":{"b":[null,null,{"c":null}],"d":null},"f":1}');
  });

  it('hashes equal values to equal tokens', () => {
    const { text } = mask('[{"id":"same"},{"id":"same"},{"id":"other"}]', [{ fields: ['$[*].id'], strategy: 'hash' }]);
    const ids = (JSON.parse(text) as Array<{ id: string }>).map((r) => r.id);
    assert.equal(ids[0], ids[1]);
    assert.notEqual(ids[0], ids[2]);
  });

  it('scans string values and member names with detectors, as decoded', () => {
    const input = '{"note":"write to alice@example.com today","bob\\u0040example.org":{"x":"carol\\u0040example.net"},"n":5}';
    const { text, hits } = mask(input, [{ detectors: ['email'], strategy: 'redact' }]);
    assert.deepEqual(JSON.parse(text), { note: 'write to [REDACTED] today', '[REDACTED]': { x: '[REDACTED]' }, n: 5 });
    assert.equal(hits['p/r'], 3);
  });

  it('scans only inside the selected values when an item has fields and detectors', () => {
    const input = '{"public":"a@example.com","notes":{"x":"b@example.com and 4111 1111 1111 1111"}}';
    const { text } = mask(input, [{ fields: ['$.notes'], detectors: ['email'], strategy: 'redact' }]);
    assert.deepEqual(JSON.parse(text), { public: 'a@example.com', notes: { x: '[REDACTED] and 4111 1111 1111 1111' } });
  });

  it('passes everything else byte for byte', () => {
    const input = ' {\n  "big": 123456789012345678901234567890, "exp": 1E400, "neg": -0.5e-3,\n  "esc": "a\\"b\\\\c\\u00e9\\n",'
      + ' "arr": [ true , false , null , [] , {} ], "ssn": "1" } \n';
    const { text } = mask(input, [{ fields: ['$.ssn'], strategy: 'redact' }, { detectors: ['email'], strategy: 'redact' }]);
    assert.equal(text, input.replace('"ssn": "1"', '"ssn": "[REDACTED]"'));
  });

  it('masks duplicate names each time and matches names as decoded', () => {
    const input = '{"ssn":"1","ssn":"2","\\u0065mail":"a@b.example","EMAIL":"c@d.example"}';
    const { text } = mask(input, [{ fields: ['$.ssn', '$.email'], strategy: 'redact' }]);
    assert.equal(text, '{"ssn":"[REDACTED]","ssn":"[REDACTED]","\\u0065mail":"[REDACTED]","EMAIL":"[REDACTED]"}');
  });

  it('gives the one-chunk output at every split point and in random chunkings', () => {
    const items: MaskItem[] = [
      { fields: ['$.customers[*].email'], strategy: 'partial' },
      { fields: ['**.ssn'], strategy: 'hash' },
      { fields: ['$.customers[0].card', '$.customers[0].vip'], strategy: 'redact' },
      { detectors: ['email', 'card'], strategy: 'redact' },
    ];
    const inputs = [CUSTOMERS, '{"k\\u00e9y":"v\\"al","\\u0065mail":"x@y.example","é":"ünïcode a@b.example"}', ' [1, -2.5e+3, true, "s\\\\"] ', '123', '-7.25'];
    const random = prng(14);
    for (const input of inputs) {
      const bytes = Buffer.from(input);
      const whole = mask(bytes, items);
      assert.deepEqual(mask(bytes, items, Array<number>(bytes.length).fill(1)), whole, `byte by byte: ${input}`);
      for (let round = 0; round < 50; round++) {
        const sizes: number[] = [];
        for (let left = bytes.length; left > 0;) {
          const size = Math.min(left, 1 + Math.floor(random() * 12));
          sizes.push(size);
          left -= size;
        }
        assert.deepEqual(mask(bytes, items, sizes), whole, `chunks ${sizes.join(',')}: ${input}`);
      }
    }
  });

  it('throws on invalid JSON, whole or byte by byte, and never passes what follows', () => {
    const items: MaskItem[] = [{ fields: ['**.ssn'], strategy: 'redact' }];
    const invalid = ['{"a":1,}', '[1,]', '{"a" 1}', '{a:1}', '[1 2]', '{"a":tru}', '{"a":01}', '[1.]', '{"a":"b\u0001"}',
      '[1]]', '{"a":[}', '"\\x"', '{"ssn":"1"} {"ssn":"2"}', '[', '{"a":', 'nul', '[1e]', '"\\u12x4"'];
    for (const input of invalid) {
      assert.throws(() => mask(input, items), JsonMaskError, input);
      assert.throws(() => mask(input, items, Array<number>(input.length).fill(1)), JsonMaskError, `${input} byte by byte`);
    }
    // What the masker emitted before the fault holds no selected value.
    const masker = new JsonMasker(specOf(...items), KEY);
    const before = masker.push(Buffer.from('[{"ssn":"111"},'));
    assert.throws(() => masker.push(Buffer.from('}{"ssn":"222"}]')), JsonMaskError);
    assert.doesNotMatch(before.toString(), /111|222/);
  });

  it('accepts an empty body, and a sequence of values only when asked', () => {
    assert.equal(mask('  \n', [{ fields: ['**.ssn'], strategy: 'redact' }]).text, '  \n');
    const lines = '{"ssn":"1"}\n{"ssn":"2"}\n';
    assert.equal(mask(lines, [{ fields: ['$.ssn'], strategy: 'redact' }], [], { sequence: true }).text,
      '{"ssn":"[REDACTED]"}\n{"ssn":"[REDACTED]"}\n');
  });

  it('walks deep nesting without recursion, and refuses nesting past its bound', () => {
    const depth = 50_000;
    const input = '['.repeat(depth) + '{"ssn":"123"}' + ']'.repeat(depth);
    const { text } = mask(input, [{ fields: ['**.ssn'], strategy: 'redact' }]);
    assert.equal(text, '['.repeat(depth) + '{"ssn":"[REDACTED]"}' + ']'.repeat(depth));
    assert.throws(() => mask('['.repeat(MAX_DEPTH + 1), [{ fields: ['**.ssn'], strategy: 'redact' }]), /nested deeper/);
  });

  it('holds no string longer than its bound when it must read it, and passes one it need not read', () => {
    const long = `{"blob":"${'a'.repeat(MAX_TOKEN_BYTES + 10)}"}`;
    const sizes = Array<number>(Math.ceil(long.length / 65536)).fill(65536);
    assert.throws(() => mask(long, [{ detectors: ['email'], strategy: 'redact' }], sizes), /longer than/);
    assert.equal(mask(long, [{ fields: ['$.other'], strategy: 'redact' }], sizes).text.length, long.length);
  });

  it('masks a whole JSON text, or says it is not JSON', () => {
    const hits: Record<string, number> = {};
    assert.equal(maskJsonText('{"ssn":1}', specOf({ fields: ['$.ssn'], strategy: 'redact' }), KEY, hits), '{"ssn":"[REDACTED]"}');
    assert.deepEqual(hits, { 'p/r': 1 });
    assert.equal(maskJsonText('hello', specOf({ fields: ['$.ssn'], strategy: 'redact' }), KEY, hits), null);
    assert.equal(maskJsonText('', specOf({ fields: ['$.ssn'], strategy: 'redact' }), KEY, hits), null);
  });
});
