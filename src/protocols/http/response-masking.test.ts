/**
 * HTTP body plans: pass, refuse (binary, unknown coding or charset, partial, no type) and mask, the header changes,
 * gzip/deflate/br decoding round trips at random chunkings, errors that cut the stream (invalid JSON, corrupt gzip),
 * text and server-sent event bodies split at every byte, maskTextBody, and the docs/http.md example policy.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { prng } from '../../masking/test-random.js';
import { parsePolicyDocuments } from '../../policy/load.js';
import type { MaskItem } from '../../policy/schema.js';
import { installPolicyProtocols } from '../../policy/vocabulary.js';
import type { ResultMasking } from '../../session/pipeline.js';
import { builtinProtocols } from '../builtin.js';
import { maskTextBody, planResponseBody, type BodyPlan } from './response-masking.js';

function masking(...items: MaskItem[]): ResultMasking {
  return { rules: items.length === 0 ? [] : [{ rule: 'p/r', items }], hashKey: Buffer.from('k'), contentItems: [] };
}

const FIELDS = masking({ fields: ['**.ssn'], strategy: 'redact' }, { detectors: ['email'], strategy: 'redact' });
const BODY = JSON.stringify({ customers: [{ name: 'Alice', email: 'alice@example.com', ssn: '123-45-6789' }] });
const MASKED = JSON.stringify({ customers: [{ name: 'Alice', email: '[REDACTED]', ssn: '[REDACTED]' }] });

function maskPlan(plan: BodyPlan): Extract<BodyPlan, { kind: 'mask' }> {
  assert.equal(plan.kind, 'mask', JSON.stringify(plan));
  return plan as Extract<BodyPlan, { kind: 'mask' }>;
}

/** Runs a plan's stream over `bytes` cut into `sizes` chunks; the output, or the error with what came before it. */
async function run(plan: BodyPlan, bytes: Buffer, sizes?: number[]): Promise<{ out: string; error?: Error; hits: Record<string, number> }> {
  const chunks: Buffer[] = [];
  let pos = 0;
  for (const size of sizes ?? [bytes.length]) {
    chunks.push(bytes.subarray(pos, pos + size));
    pos += size;
  }
  if (pos < bytes.length) chunks.push(bytes.subarray(pos));
  const masker = maskPlan(plan).open();
  const out: Buffer[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { out.push(chunk); cb(); } });
  try {
    await pipeline(Readable.from(chunks), masker.stream, sink);
    return { out: Buffer.concat(out).toString(), hits: masker.hits() };
  } catch (error) {
    return { out: Buffer.concat(out).toString(), error: error as Error, hits: masker.hits() };
  }
}

function randomSizes(length: number, random: () => number, max = 16): number[] {
  const sizes: number[] = [];
  for (let left = length; left > 0;) {
    const size = Math.min(left, 1 + Math.floor(random() * max));
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

describe('HTTP response body plans', () => {
  it('passes when no mask item applies to HTTP, and empty bodies', () => {
    assert.deepEqual(planResponseBody(masking(), { 'content-type': 'image/png' }), { kind: 'pass' });
    assert.deepEqual(planResponseBody(masking({ columns: ['*.email'], strategy: 'redact' }, { types: ['text'], strategy: 'hash' }),
      { 'content-type': 'application/octet-stream' }), { kind: 'pass' });
    assert.deepEqual(planResponseBody(FIELDS, { 'content-type': 'image/png', 'content-length': '0' }), { kind: 'pass' });
  });

  it('refuses what it cannot inspect when a rule applies', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ 'content-type': 'image/png' }, /cannot inspect image\/png/],
      [{ 'content-type': 'application/octet-stream' }, /octet-stream/],
      [{}, /no Content-Type/],
      [{ 'content-type': 'application/json', 'content-encoding': 'zstd' }, /Content-Encoding zstd/],
      [{ 'content-type': 'application/json', 'content-encoding': 'gzip, compress' }, /Content-Encoding compress/],
      [{ 'content-type': 'text/plain; charset=utf-16' }, /charset utf-16/],
      [{ 'content-type': 'application/json', 'content-range': 'bytes 0-9/100' }, /partial body/],
    ];
    for (const [headers, reason] of cases) {
      const plan = planResponseBody(masking({ detectors: ['email'], strategy: 'redact' }), headers);
      assert.equal(plan.kind, 'refuse', JSON.stringify(headers));
      assert.match((plan as { reason: string }).reason, reason);
    }
  });

  it('drops the headers that describe the upstream bytes and keeps the type', () => {
    const plan = maskPlan(planResponseBody(FIELDS, { 'content-type': 'application/json', 'content-encoding': 'gzip' }));
    assert.deepEqual(plan.headers({ 'content-type': 'application/json; charset=utf-8', 'Content-Length': '10', 'content-encoding': 'gzip',
      etag: '"x"', 'content-md5': 'y', digest: 'z', 'accept-ranges': 'bytes', 'cache-control': 'no-store', 'set-cookie': ['a=b'] }),
    { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'set-cookie': ['a=b'] });
  });

  it('masks JSON at random chunkings and counts hits', async () => {
    const plan = planResponseBody(FIELDS, { 'content-type': 'application/problem+json' });
    const random = prng(7);
    const whole = await run(plan, Buffer.from(BODY));
    assert.equal(whole.out, MASKED);
    assert.deepEqual(whole.hits, { 'p/r': 2 });
    for (let round = 0; round < 20; round++) assert.equal((await run(plan, Buffer.from(BODY), randomSizes(BODY.length, random))).out, MASKED);
  });

  it('decodes gzip, x-gzip, deflate, br and chained codings, and sends identity', async () => {
    const random = prng(3);
    const raw = Buffer.from(BODY);
    const encoded: Array<[string, Buffer]> = [['gzip', gzipSync(raw)], ['x-gzip', gzipSync(raw)], ['deflate', deflateSync(raw)],
      ['br', brotliCompressSync(raw)], ['gzip, br', brotliCompressSync(gzipSync(raw))], ['identity', raw]];
    for (const [coding, bytes] of encoded) {
      const plan = planResponseBody(FIELDS, { 'content-type': 'application/json', 'content-encoding': coding });
      assert.equal((await run(plan, bytes)).out, MASKED, coding);
      assert.equal((await run(plan, bytes, randomSizes(bytes.length, random, 5))).out, MASKED, `${coding} in pieces`);
    }
  });

  it('errors the stream on a corrupt gzip body or invalid JSON, passing nothing after the fault', async () => {
    const gz = gzipSync(Buffer.from(BODY));
    gz[gz.length - 6] ^= 0xff;
    const corrupt = await run(planResponseBody(FIELDS, { 'content-type': 'application/json', 'content-encoding': 'gzip' }), gz);
    assert.ok(corrupt.error, 'a corrupt gzip stream errors');
    const bad = await run(planResponseBody(FIELDS, { 'content-type': 'application/json' }),
      Buffer.from('[{"ssn":"111-22-3333"}, oops {"ssn":"444-55-6666"}]'), [10, 10, 10]);
    assert.ok(bad.error, 'invalid JSON errors');
    assert.doesNotMatch(bad.out, /111-22-3333|444-55-6666/);
  });

  it('masks NDJSON value by value', async () => {
    const plan = planResponseBody(FIELDS, { 'content-type': 'application/x-ndjson' });
    assert.equal((await run(plan, Buffer.from('{"ssn":"1"}\n{"ssn":"2"}\n'))).out, '{"ssn":"[REDACTED]"}\n{"ssn":"[REDACTED]"}\n');
  });

  it('masks text bodies across every split point', async () => {
    const text = 'Contact alice@example.com or bob@example.org for card 4111 1111 1111 1111.\nBye\n';
    const plan = planResponseBody(masking({ detectors: ['email', 'card'], strategy: 'redact' }), { 'content-type': 'text/plain; charset=utf-8' });
    const whole = await run(plan, Buffer.from(text));
    assert.equal(whole.out, 'Contact [REDACTED] or [REDACTED] for card [REDACTED].\nBye\n');
    assert.equal((await run(plan, Buffer.from(text), Array<number>(text.length).fill(1))).out, whole.out);
  });

  it('refuses a text body when a rule masks JSON fields: JSON served as text/html, CSV, XML or JSONP could hold them', () => {
    for (const type of ['text/html', 'text/plain; charset=utf-8', 'text/csv', 'application/xml', 'text/javascript']) {
      for (const rules of [masking({ fields: ['**.ssn'], strategy: 'redact' }), FIELDS]) {
        const plan = planResponseBody(rules, { 'content-type': type });
        assert.equal(plan.kind, 'refuse', type);
        assert.match((plan as { reason: string }).reason, /masks JSON fields/);
      }
    }
    assert.equal(planResponseBody(FIELDS, { 'content-type': 'application/json' }).kind, 'mask');
  });

  it('masks server-sent events one by one, at every split point', async () => {
    const events = 'id: 1\nevent: customer\ndata: {"ssn":"123","name":"A"}\n\n: ping from ops@example.com\r\n\r\ndata: {"note":"to a@example.com"}\n\ndata: 7\n\n';
    const expected = 'id: 1\nevent: customer\ndata: {"ssn":"[REDACTED]","name":"A"}\n\n: ping from [REDACTED]\r\n\r\ndata: {"note":"to [REDACTED]"}\n\ndata: 7\n\n';
    const plan = planResponseBody(FIELDS, { 'content-type': 'text/event-stream' });
    assert.equal((await run(plan, Buffer.from(events))).out, expected);
    assert.equal((await run(plan, Buffer.from(events), Array<number>(events.length).fill(1))).out, expected);
    // Detectors alone also mask an event whose data is plain text.
    const text = 'data: plain text to a@example.com\ndata: second line\n\n';
    const detectors = planResponseBody(masking({ detectors: ['email'], strategy: 'redact' }), { 'content-type': 'text/event-stream' });
    assert.equal((await run(detectors, Buffer.from(text))).out, 'data: plain text to [REDACTED]\ndata: second line\n\n');
    // With a field rule, an event whose data is not JSON could hold the field under another name: the stream is cut.
    const first = 'data: {"ssn":"1"}\n\n';
    const cut = await run(plan, Buffer.from(`${first}${text}data: {"ssn":"2"}\n\n`), [first.length]);
    assert.ok(cut.error, 'the stream errors');
    assert.equal(cut.out, 'data: {"ssn":"[REDACTED]"}\n\n', 'the event before passes, nothing after the fault');
    // An event goes out as soon as its blank line arrives, before the next one.
    const masker = maskPlan(plan).open();
    const seen: string[] = [];
    masker.stream.on('data', (chunk: Buffer) => seen.push(chunk.toString()));
    masker.stream.write('data: {"ssn":"9"}\n\ndata: {"ss');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(seen, ['data: {"ssn":"[REDACTED]"}\n\n']);
    masker.stream.destroy();
  });

  it('masks a whole text: JSON when it parses, else with detectors', () => {
    assert.deepEqual(maskTextBody(BODY, 'application/json', FIELDS), { text: MASKED, hits: { 'p/r': 2 } });
    assert.deepEqual(maskTextBody(BODY, undefined, FIELDS), { text: MASKED, hits: { 'p/r': 2 } });
    // Not JSON while a field rule applies: detectors ran, and the text is marked as not to be passed on or kept.
    assert.deepEqual(maskTextBody('mail x@example.com', undefined, FIELDS), { text: 'mail [REDACTED]', hits: { 'p/r': 1 }, unmaskable: true });
    assert.deepEqual(maskTextBody('{"ssn":1', 'application/json', FIELDS), { text: '{"ssn":1', hits: {}, unmaskable: true });
    const detectors = masking({ detectors: ['email'], strategy: 'redact' });
    assert.deepEqual(maskTextBody('mail x@example.com', undefined, detectors), { text: 'mail [REDACTED]', hits: { 'p/r': 1 } });
    assert.deepEqual(maskTextBody(BODY, undefined, masking()), { text: BODY, hits: {} });
  });

  it('applies the example policy of docs/http.md', async () => {
    installPolicyProtocols(builtinProtocols());
    const doc = readFileSync(new URL('../../../docs/http.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Masking responses'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const [policy] = parsePolicyDocuments(yaml);
    const rules = policy.rules.filter((r) => r.mask).map((r) => ({ rule: `${policy.name}/${r.name}`, items: r.mask ?? [] }));
    const body = JSON.stringify({ customers: [{ email: 'alice@example.com', ssn: '123-45-6789', note: 'card 4111 1111 1111 1111' }],
      'card number': '4111111111111111', items: [{ a: { token: 'secret-1' } }] });
    const out = JSON.parse((await run(planResponseBody({ rules, hashKey: Buffer.from('k'), contentItems: [] },
      { 'content-type': 'application/json' }), Buffer.from(body))).out) as Record<string, unknown>;
    assert.deepEqual(out.customers, [{ email: '***@example.com', ssn: '[REDACTED]', note: 'card [REDACTED]' }]);
    assert.equal(out['card number'], '[REDACTED]');
    assert.match(String((out.items as Array<{ a: { token: string } }>)[0].a.token), /^h_/);
  });
});
