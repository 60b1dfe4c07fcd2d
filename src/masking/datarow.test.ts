import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WardenError } from '../errors.js';
import type { MaskItem } from '../policy/schema.js';
import { maskCopyLine, maskDataRow } from './datarow.js';
import { compilePlan, type ColumnInfo, type MaskPlan } from './plan.js';

type Rules = Array<{ rule: string; items: MaskItem[] }>;

const KEY = Buffer.from('test-key-for-masking-0123456789');
const CARD = '4111 1111 1111 1111';

const ISSUE: Rules = [{
  rule: 'pii-masking/mask-pii',
  items: [
    { columns: ['*.email'], strategy: 'partial' },
    { columns: ['public.customers.card_number'], strategy: 'redact' },
    { columns: ['*.ssn'], strategy: 'null' },
    { columns: ['*.profile'], strategy: 'redact' },
    { detectors: ['card', 'email', 'jwt', 'aws_access_key'], strategy: 'redact' },
  ],
}];

/** A DataRow body: int16 count, then per value an int32 length (-1 for NULL) and its UTF-8 bytes. */
function row(values: Array<string | null>): Buffer {
  const parts: Buffer[] = [Buffer.alloc(2)];
  parts[0].writeInt16BE(values.length);
  for (const v of values) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(v === null ? -1 : Buffer.byteLength(v));
    parts.push(len);
    if (v !== null) parts.push(Buffer.from(v, 'utf8'));
  }
  return Buffer.concat(parts);
}

function values(body: Buffer): Array<string | null> {
  const out: Array<string | null> = [];
  let pos = 2;
  for (let i = 0; i < body.readInt16BE(0); i++) {
    const len = body.readInt32BE(pos);
    pos += 4;
    out.push(len === -1 ? null : body.toString('utf8', pos, pos + len));
    if (len > 0) pos += len;
  }
  assert.equal(pos, body.length, 'no trailing bytes');
  return out;
}

function plan(columns: Array<[string, string?, string?]>, rules = ISSUE): MaskPlan {
  return compilePlan(rules, columns.map(([name, source, typeName = 'text']): ColumnInfo => ({ name, source, typeName, format: 0 })));
}

const CUSTOMERS = plan([
  ['id', 'public.customers.id', 'int4'], ['email', 'public.customers.email'], ['card_number', 'public.customers.card_number'],
  ['notes', 'public.customers.notes'],
]);

describe('maskDataRow', () => {
  test('a row with nothing to mask returns null (the original bytes go out)', () => {
    assert.equal(maskDataRow(row(['1', null, null, 'plain note']), CUSTOMERS, KEY), null);
    assert.equal(maskDataRow(row(['1', null, null, null]), CUSTOMERS, KEY), null);
  });

  test('column and content actions with length changes in both directions', () => {
    const out = maskDataRow(row(['7', 'alice.smith@example.com', CARD, `ring me at bob@x.io, card ${CARD}`]), CUSTOMERS, KEY);
    assert.ok(out);
    assert.deepEqual(values(out), ['7', '***@example.com', '[REDACTED]', 'ring me at [REDACTED], card [REDACTED]']);
  });

  test('SQL NULL stays NULL; the null strategy turns a value into NULL', () => {
    const p = plan([['ssn', 'public.people.ssn'], ['name', 'public.people.name'], ['ssn2', 'public.people.ssn']]);
    const out = maskDataRow(row(['123-45-6789', 'Ann', null]), p, KEY);
    assert.ok(out);
    assert.deepEqual(values(out), [null, 'Ann', null]);
  });

  test('multi-byte UTF-8 around and inside masked values', () => {
    const out = maskDataRow(row(['1', 'jörg@exämple.com', 'ünïcödé', 'Grüße an zoë@example.de 🙂 und 4111-1111-1111-1111 ✓']), CUSTOMERS, KEY);
    assert.ok(out);
    assert.deepEqual(values(out), ['1', '***@exämple.com', '[REDACTED]', 'Grüße an [REDACTED] 🙂 und [REDACTED] ✓']);
  });

  test('a json column under a column rule gets a JSON string, so clients still parse it', () => {
    const p = plan([['profile', 'public.users.profile', 'jsonb']]);
    const out = maskDataRow(row(['{"a":1}']), p, KEY);
    assert.ok(out);
    assert.deepEqual(values(out), ['"[REDACTED]"']);
  });

  test('unchanged columns keep their exact bytes', () => {
    const raw = 'not\u0000really\u00ff text';
    const out = maskDataRow(row([raw, 'a@b.com', null, 'x']), plan([['raw'], ['mail'], ['c'], ['d']]), KEY);
    assert.ok(out);
    assert.deepEqual(values(out), ['not\u0000really\u00ff text', '[REDACTED]', null, 'x']);
  });

  test('a value that is not valid UTF-8 and must be read is refused, not decoded lossily', () => {
    // The notes column holds an address sent in LATIN1: the byte screen sees an '@', the value must be decoded.
    const value = Buffer.from('j\xf6rg@ex\xe4mple.com', 'latin1');
    const prefix = row(['1', null, null, 'x']).subarray(0, 15);
    const length = Buffer.alloc(4);
    length.writeInt32BE(value.length);
    const latin1 = Buffer.concat([prefix, length, value]);
    assert.throws(() => maskDataRow(latin1, CUSTOMERS, KEY), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_ERR_FORBIDDEN');
  });

  test('malformed rows throw WARDEN_ERR_UPSTREAM_PROTOCOL', () => {
    const good = row(['1', 'a@b.com', 'x', 'y']);
    const isProtocolError = (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_ERR_UPSTREAM_PROTOCOL';
    for (const bad of [
      Buffer.alloc(1), good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from([0])]), row(['1', 'x']),
      (() => { const b = Buffer.from(good); b.writeInt32BE(-2, 2); return b; })(),
      (() => { const b = Buffer.from(good); b.writeInt32BE(1000, 2); return b; })(),
    ]) {
      assert.throws(() => maskDataRow(bad, CUSTOMERS, KEY), isProtocolError, bad.toString('hex'));
    }
  });
});

describe('maskCopyLine', () => {
  const copyPlan = plan([['id'], ['email'], ['notes']], [{ rule: 'p/r', items: [{ detectors: ['email', 'card'], strategy: 'redact' }] }]);

  test('unchanged lines return null; \\N stays NULL', () => {
    assert.equal(maskCopyLine('1\t\\N\tplain', copyPlan, KEY), null);
    assert.equal(maskCopyLine('1\ta@b.com\t\\N', copyPlan, KEY), '1\t[REDACTED]\t\\N');
  });

  test('escapes are decoded before scanning and untouched fields keep their bytes', () => {
    assert.equal(maskCopyLine('1\tx\\ty\tline\\nbob@x.io\\\\end', copyPlan, KEY), '1\tx\\ty\tline\\n[REDACTED]\\\\end');
    assert.equal(maskCopyLine('1\t\\101\\x41\tcard 4111\\0401111 1111 1111', copyPlan, KEY), '1\t\\101\\x41\tcard [REDACTED]');
  });

  test('column rules and the null strategy', () => {
    const p = plan([['email', 'public.u.email'], ['ssn', 'public.u.ssn'], ['n']]);
    assert.equal(maskCopyLine('alice@example.com\t123-45-6789\tok', p, KEY), '***@example.com\t\\N\tok');
  });

  test('lines that do not split into the plan (CSV, other delimiters) are scanned whole when only content rules apply', () => {
    assert.equal(maskCopyLine('1,a@b.com,"4111 1111 1111 1111"', copyPlan, KEY), '1,[REDACTED],"[REDACTED]"');
    assert.equal(maskCopyLine('1,plain,x', copyPlan, KEY), null);
    const withColumns = plan([['email', 'public.u.email'], ['n']]);
    assert.throws(() => maskCopyLine('a,b,c', withColumns, KEY), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_ERR_UNSUPPORTED');
  });

  test('a declared delimiter and NULL marker split the line; masked values escape the delimiter', () => {
    const p = plan([['email', 'public.u.email'], ['ssn', 'public.u.ssn'], ['n']]);
    const layout = { format: 'text' as const, delimiter: '|', nullString: '-' };
    assert.equal(maskCopyLine('alice@example.com|123-45-6789|a\\|b', p, KEY, layout), '***@example.com|-|a\\|b');
    assert.equal(maskCopyLine('-|-|x', p, KEY, layout), null, 'NULL markers stay NULL');
    const hashed = plan([['note', 'public.u.note']], [{ rule: 'p/r', items: [{ columns: ['*.note'], strategy: 'hash' }] }]);
    const out = maskCopyLine('secret', hashed, KEY, { format: 'text', delimiter: '_', nullString: '\\N' });
    assert.ok(out !== null && !/(?<!\\)_/.test(out), `a delimiter in a hash token is escaped: ${out}`);
  });

  test('CSV lines are scanned whole when only content rules apply', () => {
    const csv = { format: 'csv' as const, delimiter: ',', nullString: '' };
    assert.equal(maskCopyLine('1,a@b.com,x', copyPlan, KEY, csv), '1,[REDACTED],x');
    assert.equal(maskCopyLine('bob@x.io', plan([['only']], [{ rule: 'p/r', items: [{ detectors: ['email'], strategy: 'redact' }] }]), KEY, csv),
      '[REDACTED]');
  });

  test('an empty plan leaves every line alone', () => {
    assert.equal(maskCopyLine('a@b.com', plan([['x']], []), KEY), null);
  });
});
