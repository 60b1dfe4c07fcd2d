/**
 * Memory stays flat: a 200 MB generated JSON array goes through the HTTP masking Transform while the heap (after a
 * forced collection) is sampled; it must stay within a bound far below the body's size. Not a timing test.
 */
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { planResponseBody } from '../protocols/http/response-masking.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TOTAL = 200 * 1024 * 1024;
const BOUND = 48 * 1024 * 1024;

function* body(): Generator<Buffer> {
  yield Buffer.from('[');
  let sent = 1;
  for (let i = 0; sent < TOTAL; i++) {
    const records: string[] = [];
    for (let j = 0; j < 200; j++) {
      const n = i * 200 + j;
      records.push(JSON.stringify({ id: n, email: `user${n}@example.com`, ssn: `123-45-${String(n % 10000).padStart(4, '0')}`, note: 'nothing here' }));
    }
    const chunk = Buffer.from(records.join(',') + ',');
    sent += chunk.length;
    yield chunk;
  }
  yield Buffer.from('{"id":-1}]');
}

describe('JSON masking memory', () => {
  it('masks a 200 MB array with bounded heap growth', async () => {
    const plan = planResponseBody({ rules: [{ rule: 'p/r', items: [{ fields: ['**.ssn'], strategy: 'redact' },
      { detectors: ['email'], strategy: 'partial' }] }], hashKey: Buffer.from('k'), contentItems: [] }, { 'content-type': 'application/json' });
    assert.equal(plan.kind, 'mask');
    const masker = plan.kind === 'mask' ? plan.open() : undefined;
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = 0;
    let bytes = 0;
    let nextSample = 0;
    let leaked = false;
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        bytes += chunk.length;
        if (chunk.includes('123-45-')) leaked = true;
        if (bytes >= nextSample) {
          nextSample += 16 * 1024 * 1024;
          gc();
          peak = Math.max(peak, process.memoryUsage().heapUsed - baseline);
        }
        cb();
      },
    });
    await pipeline(Readable.from(body()), masker!.stream, sink);
    assert.ok(bytes > TOTAL * 0.9, `${bytes} bytes out`);
    assert.equal(leaked, false, 'no SSN reached the output');
    assert.ok(masker!.hits()['p/r'] > 1_000_000);
    assert.ok(peak < BOUND, `heap grew by ${Math.round(peak / 1048576)} MB while masking ${TOTAL / 1048576} MB`);
  });
});
