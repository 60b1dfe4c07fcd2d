/**
 * The streaming JSON masker against a reference: random JSON documents (e-mails, SSNs, card numbers, phone numbers
 * in values and names, some spelled with escapes such as `\u0040`) masked by the streaming masker in random
 * chunkings must equal, value for value, the document parsed whole and masked by a plain tree walk (selected values
 * by their strategy, every other string and name by maskCounted, the scan applied to whole decoded text). Guards
 * the masker's fast paths (byte screens, skipped decodes, cached names, constant whole masks): a value a detector
 * matches must never slip through. Also the string fast path at each split point around escapes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MaskItem } from '../policy/schema.js';
import { countHit, httpMaskSpec, maskCounted } from './json-spec.js';
import { JsonMasker } from './json-stream.js';
import { maskValue } from './strategies.js';
import { prng } from './test-random.js';

const KEY = Buffer.from('differential-key');
const ITEMS: MaskItem[] = [
  { fields: ['$[*].email'], strategy: 'partial' },
  { fields: ['**.ssn'], strategy: 'redact' },
  { fields: ['**.token'], strategy: 'hash' },
  { detectors: ['email', 'card', 'ssn', 'phone'], strategy: 'redact' },
];
const SPEC = httpMaskSpec([{ rule: 'p/r', items: ITEMS }])!;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The reference: the parsed document masked by a tree walk; `path` is the member names from the root. */
function reference(value: Json, path: Array<string | number>, hits: Record<string, number>, whole: number): Json {
  const last = path[path.length - 1];
  let field = whole;
  if (field === -1 && typeof last === 'string') {
    const name = last.toLowerCase();
    if (name === 'email' && path.length === 2 && typeof path[0] === 'number') field = 0;
    else if (name === 'ssn') field = 1;
    else if (name === 'token') field = 2;
  }
  if (Array.isArray(value)) return value.map((v, i) => reference(v, [...path, i], hits, field));
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) {
      // Names are scanned even inside a value masked whole (they are not part of it).
      const name = maskCounted(k, SPEC.content!, KEY, hits);
      out[name] = reference(v, [...path, k], hits, field);
    }
    return out;
  }
  if (field !== -1) {
    if (value === null) return null;
    countHit(hits, SPEC.fields[field].rule);
    return maskValue(SPEC.fields[field].strategy, String(value), 'column', KEY);
  }
  return typeof value === 'string' ? maskCounted(value, SPEC.content!, KEY, hits) : value;
}

const WORDS = ['alice@example.com', 'bob.smith@mail.example.org', '123-45-6789', '4111 1111 1111 1111', '4111111111111111',
  '5500-0000-0000-0004', '+1 (555) 123-4567', 'plain words', 'no remarks', 'Springfield', '42', 'a"quote', 'back\\slash',
  'tab\there', 'é ü 日本', 'x@y', '078-05-1120', 'call 555-0100 now', 'email', 'ssn', 'token', ''];
const NAMES = ['email', 'ssn', 'token', 'Email', 'SSN', 'name', 'note', 'card', 'zip', 'id', 'alice@example.com', '123-45-6789', 'a b'];

/** A JSON string literal of `text`, some characters spelled as escapes. */
function literal(text: string, random: () => number): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (code < 0x20) out += '\\u' + code.toString(16).padStart(4, '0');
    else if (random() < 0.08 && ch.length === 1) out += '\\u' + code.toString(16).padStart(4, '0');
    else if (ch === '/' && random() < 0.5) out += '\\/';
    else out += ch;
  }
  return out + '"';
}

function pick<T>(list: T[], random: () => number): T {
  return list[Math.floor(random() * list.length)];
}

/** A random value as JSON text, `depth` levels at most. */
function document(random: () => number, depth: number): string {
  const r = random();
  if (depth > 0 && r < 0.25) {
    const names = new Set<string>();
    const parts: string[] = [];
    for (let n = Math.floor(random() * 6); n > 0; n--) {
      const name = pick(NAMES, random);
      if (names.has(name.toLowerCase())) continue;
      names.add(name.toLowerCase());
      parts.push(`${literal(name, random)}${random() < 0.3 ? ' : ' : ':'}${document(random, depth - 1)}`);
    }
    return `{${parts.join(random() < 0.3 ? ' ,\n ' : ',')}}`;
  }
  if (depth > 0 && r < 0.4) {
    const parts: string[] = [];
    for (let n = Math.floor(random() * 5); n > 0; n--) parts.push(document(random, depth - 1));
    return `[${parts.join(',')}]`;
  }
  if (r < 0.45) return String(Math.floor(random() * 1e6) - 5e5);
  // Numbers spelled as String() spells them: a hashed number is hashed by its spelling.
  if (r < 0.48) return pick(['true', 'false', 'null', '-0.5'], random);
  const words: string[] = [];
  for (let n = 1 + Math.floor(random() * 3); n > 0; n--) words.push(pick(WORDS, random));
  return literal(words.join(pick([' ', ', ', ';', ''], random)), random);
}

function stream(bytes: Buffer, sizes: () => number): { text: string; hits: Record<string, number> } {
  const masker = new JsonMasker(SPEC, KEY);
  const out: Buffer[] = [];
  for (let pos = 0; pos < bytes.length;) {
    const size = sizes();
    out.push(masker.push(bytes.subarray(pos, pos + size)));
    pos += size;
  }
  out.push(masker.end());
  return { text: Buffer.concat(out).toString(), hits: masker.hits };
}

describe('streaming JSON masker against a whole-document reference', () => {
  it('masks random documents like the tree walk does, in every chunking', () => {
    const random = prng(2026);
    let masked = 0;
    for (let round = 0; round < 400; round++) {
      const top = `[${Array.from({ length: 1 + Math.floor(random() * 4) }, () => document(random, 4)).join(',')}]`;
      const bytes = Buffer.from(top);
      const expectedHits: Record<string, number> = {};
      const expected = reference(JSON.parse(top) as Json, [], expectedHits, -1);
      if (Object.keys(expectedHits).length > 0) masked++;
      const chunkings: Array<() => number> = [() => bytes.length, () => 1, () => 1 + Math.floor(random() * 9), () => 1 + Math.floor(random() * 200)];
      for (const sizes of chunkings) {
        const got = stream(bytes, sizes);
        assert.deepEqual(JSON.parse(got.text), expected, `document: ${top}`);
        assert.deepEqual(got.hits, expectedHits, `hits of: ${top}`);
      }
    }
    // The documents must exercise masking, or the comparison proves nothing.
    assert.ok(masked > 200, `only ${masked} documents had something to mask`);
  });

  it('reads strings split around escapes the same at every split point', () => {
    const inputs = [
      '["a\\\\", "b\\"c@d.example", "\\\\\\"", "x\\u0040y.example", "4111\\u00201111 1111 1111", "\\/\\b\\f\\n\\r\\t"]',
      '{"\\u0073sn":"1","e\\"m":"\\\\"}',
    ];
    for (const input of inputs) {
      const bytes = Buffer.from(input);
      const whole = stream(bytes, () => bytes.length);
      const hits: Record<string, number> = {};
      assert.deepEqual(JSON.parse(whole.text), reference(JSON.parse(input) as Json, [], hits, -1), input);
      assert.deepEqual(whole.hits, hits);
      for (let a = 1; a < bytes.length; a++) {
        for (let b = a; b < bytes.length; b++) {
          let call = 0;
          const sizes = [a, b - a, bytes.length - b];
          const got = stream(bytes, () => sizes[call++] || bytes.length);
          assert.deepEqual(got, whole, `split at ${a}, ${b}: ${input}`);
        }
      }
    }
  });

  it('fails a string with a bad escape or a control character at every split point', () => {
    for (const input of ['["ab\\x"]', '["ab\\u00g0"]', '["a\u0001b"]', '["ab\\']) {
      const bytes = Buffer.from(input);
      for (let a = 1; a < bytes.length; a++) {
        let call = 0;
        assert.throws(() => stream(bytes, () => (call++ === 0 ? a : bytes.length)), /JSON|escape|control/, `${input} at ${a}`);
      }
    }
  });
});
