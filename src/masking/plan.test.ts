import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MaskItem } from '../policy/schema.js';
import { compilePlan, type ColumnAction, type ColumnInfo } from './plan.js';

type Rules = Array<{ rule: string; items: MaskItem[] }>;

/** The issue's example policy. */
const ISSUE: Rules = [{
  rule: 'pii-masking/mask-pii',
  items: [
    { columns: ['*.email'], strategy: 'partial' },
    { columns: ['public.customers.card_number'], strategy: 'redact' },
    { detectors: ['card', 'email', 'jwt', 'aws_access_key'], strategy: 'redact' },
  ],
}];

function col(name: string, source?: string, typeName = 'text', format = 0): ColumnInfo {
  return { name, source, typeName, format };
}

/** A short description of an action, for readable assertions. */
function describeAction(action: ColumnAction | null): string {
  if (action === null) return 'none';
  if (action.kind === 'column') return `column:${action.strategy}${action.json ? ':json' : ''}`;
  return `content:${action.detectors.map((d) => `${d.detector}=${d.strategy}`).join(',')}${action.patterns.length ? `+${action.patterns.length}p` : ''}`;
}

function shape(rules: Rules, columns: ColumnInfo[]): string[] {
  return compilePlan(rules, columns).columns.map(describeAction);
}

const SCAN = 'content:card=redact,email=redact,jwt=redact,aws_access_key=redact';

describe('column rules', () => {
  test('*.email matches by source and by bare name; an exact source rule only its column', () => {
    assert.deepEqual(shape(ISSUE, [
      col('email', 'public.users.email'),
      col('e', 'public.customers.email'),
      col('email'),
      col('card_number', 'public.customers.card_number'),
      col('c', 'public.customers.card_number'),
      col('card_number', 'public.orders.card_number'),
      col('card_number'),
    ]), ['column:partial', 'column:partial', 'column:partial', 'column:redact', 'column:redact', SCAN, SCAN]);
  });

  test('matching is case-insensitive, and `table.column` or a bare name work as globs', () => {
    const rules: Rules = [{ rule: 'p/r', items: [{ columns: ['customers.ssn', 'phone*'], strategy: 'hash' }] }];
    assert.deepEqual(shape(rules, [
      col('SSN', 'public.customers.ssn'), col('ssn', 'public.staff.ssn'), col('phone_home'), col('x', 'crm.people.Phone'),
      col('telephone'),
    ]), ['column:hash', 'none', 'column:hash', 'column:hash', 'none']);
  });

  test('a glob without dots is not matched against the whole source (no "*email*" covering table email_log)', () => {
    const rules: Rules = [{ rule: 'p/r', items: [{ columns: ['*email*'], strategy: 'redact' }] }];
    assert.deepEqual(shape(rules, [col('id', 'public.email_log.id'), col('user_email', 'public.t.user_email')]), ['none', 'column:redact']);
  });

  test('types rules match type names by glob; columns and types together need both', () => {
    const rules: Rules = [{ rule: 'p/r', items: [
      { types: ['json*'], strategy: 'redact' },
      { columns: ['*.notes'], types: ['text'], strategy: 'null' },
    ] }];
    assert.deepEqual(shape(rules, [
      col('doc', undefined, 'jsonb'), col('notes', undefined, 'text'), col('notes', undefined, 'varchar'), col('x', undefined, 'json'),
    ]), ['column:redact:json', 'column:null', 'none', 'column:redact:json']);
  });

  test('the first column rule in order wins, across rules, and before any content rule', () => {
    const rules: Rules = [
      { rule: 'a/first', items: [{ detectors: ['email'], strategy: 'hash' }, { columns: ['email'], strategy: 'hash' }] },
      { rule: 'b/second', items: [{ columns: ['*.email'], strategy: 'redact' }] },
    ];
    const plan = compilePlan(rules, [col('email', 'public.users.email')]);
    assert.deepEqual(plan.columns[0], { kind: 'column', strategy: 'hash', rule: 'a/first' });
  });
});

describe('content rules', () => {
  test('apply to every text-format column no column rule covers, whatever its type or origin', () => {
    assert.deepEqual(shape(ISSUE, [
      col('lower'), col('row_to_json', undefined, 'json'), col('string_agg'), col('id', 'public.customers.id', 'int8'),
      col('n', 'public.customers.notes', 'varchar'),
    ]), [SCAN, SCAN, SCAN, SCAN, SCAN]);
    const plan = compilePlan(ISSUE, [col('a'), col('b')]);
    assert.equal(plan.columns[0], plan.columns[1], 'one shared, precompiled action');
  });

  test('text columns of types no detector can match are not scanned, unless operator patterns apply', () => {
    assert.deepEqual(shape(ISSUE, [col('id', 'public.t.id', 'int4'), col('ok', undefined, 'bool'), col('n', undefined, 'int2'),
      col('big', undefined, 'int8'), col('d', undefined, 'date')]), ['none', 'none', 'none', SCAN, SCAN]);
    const patterns: Rules = [{ rule: 'p/r', items: [{ patterns: ['\\d{5}'], strategy: 'redact' }] }];
    assert.deepEqual(shape(patterns, [col('id', undefined, 'int4')]), ['content:+1p']);
  });

  test('a detector named twice keeps its first strategy; patterns compile once with the g flag', () => {
    const rules: Rules = [
      { rule: 'a/r', items: [{ detectors: ['email'], strategy: 'partial' }, { patterns: ['ACCT-\\d{6}'], strategy: 'redact' }] },
      { rule: 'b/r', items: [{ detectors: ['email', 'ssn'], strategy: 'redact' }, { patterns: ['ACCT-\\d{6}'], strategy: 'hash' }] },
    ];
    const plan = compilePlan(rules, [col('x')]);
    assert.equal(describeAction(plan.columns[0]), 'content:email=partial,ssn=redact+1p');
    const action = plan.columns[0];
    assert.ok(action?.kind === 'content');
    assert.equal(action.patterns[0].regex.flags, 'g');
    assert.equal(action.patterns[0].rule, 'a/r');
  });

  test('content items with columns scan only those columns, on top of the unscoped ones', () => {
    const rules: Rules = [{ rule: 'p/r', items: [
      { columns: ['*.notes'], detectors: ['card'], strategy: 'partial' },
      { detectors: ['email'], strategy: 'redact' },
    ] }];
    assert.deepEqual(shape(rules, [col('notes', 'public.t.notes'), col('other')]), ['content:card=partial,email=redact', 'content:email=redact']);
  });
});

describe('plan shape', () => {
  test('empty when no column needs anything; no rules at all is an empty plan too', () => {
    const rules: Rules = [{ rule: 'p/r', items: [{ columns: ['*.email'], strategy: 'redact' }] }];
    const plan = compilePlan(rules, [col('id', 'public.users.id', 'int4'), col('name', 'public.users.name')]);
    assert.deepEqual(plan, { columns: [null, null], empty: true });
    assert.equal(compilePlan([], [col('a')]).empty, true);
    assert.equal(compilePlan(ISSUE, [col('a')]).empty, false);
    assert.equal(compilePlan(ISSUE, []).empty, true);
  });

  test('the compiled rules are cached per rules array, so plans for new shapes stay cheap', () => {
    const a = compilePlan(ISSUE, [col('x')]).columns[0];
    const b = compilePlan(ISSUE, [col('y'), col('z')]).columns[1];
    assert.equal(a, b);
  });
});

describe('binary-format columns', () => {
  test('a column rule on a binary column is refused unless the replacement is valid binary', () => {
    const refused = compilePlan(ISSUE, [col('id', 'public.customers.id', 'int4', 1), col('card_number', 'public.customers.card_number', 'bpchar', 1)]);
    assert.equal(refused.binaryRefusal, undefined, 'a binary bpchar takes a replacement string as is');
    const rules: Rules = [{ rule: 'p/r', items: [{ columns: ['*.born'], strategy: 'redact' }, { columns: ['*.salary'], strategy: 'null' }] }];
    const plan = compilePlan(rules, [col('born', 'public.p.born', 'date', 1), col('salary', 'public.p.salary', 'numeric', 1)]);
    assert.match(plan.binaryRefusal ?? '', /column "born" \(date\) is masked by rule p\/r .*binary format/);
    assert.equal(compilePlan(rules, [col('salary', 'public.p.salary', 'numeric', 1)]).binaryRefusal, undefined, 'NULL is valid binary');
  });

  test('content rules scan binary text-like columns, skip types no detector can match, refuse the rest', () => {
    const plan = compilePlan(ISSUE, [
      col('notes', undefined, 'text', 1), col('doc', undefined, 'jsonb', 1), col('n', undefined, 'int4', 1), col('at', undefined, 'timestamptz', 1),
    ]);
    assert.deepEqual(plan.columns.map(describeAction), [SCAN, SCAN, 'none', 'none']);
    assert.equal(plan.binaryRefusal, undefined);
    assert.match(compilePlan(ISSUE, [col('big', undefined, 'int8', 1)]).binaryRefusal ?? '', /"big" \(int8\).*scanned/);
    const patterns: Rules = [{ rule: 'p/r', items: [{ patterns: ['\\d{5}'], strategy: 'redact' }] }];
    assert.match(compilePlan(patterns, [col('n', undefined, 'int4', 1)]).binaryRefusal ?? '', /int4/);
  });

  test('binary columns no rule covers are fine', () => {
    const rules: Rules = [{ rule: 'p/r', items: [{ columns: ['*.email'], strategy: 'redact' }] }];
    const plan = compilePlan(rules, [col('id', 'public.u.id', 'int8', 1), col('email', 'public.u.email')]);
    assert.equal(plan.binaryRefusal, undefined);
    assert.deepEqual(plan.columns.map(describeAction), ['none', 'column:redact']);
  });
});
