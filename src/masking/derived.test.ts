import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initSqlAnalysis } from '../analysis/sql/analyze.js';
import { compilePlan } from './plan.js';
import { maskFactsSource } from './derived.js';
import type { MaskItem } from '../policy/schema.js';

type MaskRules = Array<{ rule: string; items: MaskItem[] }>;

const RULES: MaskRules = [{ rule: 'p/mask', items: [
  { columns: ['public.customers.ssn'], strategy: 'redact' },
  { columns: ['public.customers.card_number'], strategy: 'hash' },
  { columns: ['*.email'], strategy: 'partial' },
  { detectors: ['card'], strategy: 'partial' },
] }];
const CONTENT: MaskRules = [{ rule: 'p/content', items: [{ detectors: ['card', 'email'], strategy: 'partial' }] }];

before(() => initSqlAnalysis());

describe('mask facts', () => {
  test('a derived value takes the strategy of the column it comes from; partial and hash cannot apply and are refused', () => {
    const source = maskFactsSource(RULES);
    assert.deepEqual(source.analyze('SELECT upper(ssn) FROM customers').facts.derived, { strategy: 'redact', rule: 'p/mask' });
    assert.match(source.analyze('SELECT md5(card_number) FROM customers').facts.refusal ?? '', /"hash"/);
    assert.match(source.analyze('SELECT lower(email) FROM customers').facts.refusal ?? '', /partial/);
    assert.match(source.analyze('SELECT row_to_json(c) FROM customers c').facts.refusal ?? '', /"(partial|hash)"/);
    const plain = source.analyze('SELECT ssn, email FROM customers').facts;
    assert.equal(plain.derived, null);
    assert.equal(plain.refusal, null);
    assert.equal(plain.texts, true, 'its error texts are masked');
    assert.equal(source.analyze('SELECT 1').facts.texts, false);
  });

  test('with detectors only, values that change form are masked whole (redact in place of partial); copies of them refused', () => {
    const source = maskFactsSource(CONTENT);
    assert.deepEqual(source.analyze('SELECT reverse(notes) FROM t').facts.derived, { strategy: 'redact', rule: 'p/content' });
    assert.equal(source.analyze('SELECT lower(notes) FROM t').facts.derived, null);
    assert.match(source.analyze('INSERT INTO u SELECT reverse(notes) FROM t').facts.refusal ?? '', /content masking rule/);
    assert.equal(source.freeTextAction, null, 'payloads are scanned, not masked whole, when no rule names columns');
  });

  test('under a rule that masks by type, values computed from or copied out of columns are refused; whole columns pass', () => {
    const source = maskFactsSource([{ rule: 'p/dates', items: [{ types: ['date'], strategy: 'null' }] }]);
    for (const sql of ['SELECT upper(name) FROM people', 'SELECT birth::text FROM people', "SELECT to_char(birth, 'YYYY') FROM people",
      'SELECT extract(year FROM birth) FROM people', 'SELECT birth FROM people UNION SELECT NULL', 'SELECT row_to_json(p) FROM people p']) {
      assert.match(source.analyze(sql).facts.refusal ?? '', /masks values by column type \(date\).*select the column itself/, sql);
    }
    for (const sql of ['INSERT INTO notes (body) SELECT birth FROM people', 'UPDATE people SET note = birth']) {
      assert.match(source.analyze(sql).facts.refusal ?? '', /copying a column's value elsewhere is refused/, sql);
    }
    for (const sql of ['SELECT birth, name FROM people', 'SELECT * FROM people', 'SELECT count(*) FROM people',
      'UPDATE people SET visits = visits + 1 WHERE id = $1', 'INSERT INTO people (name) VALUES ($1) RETURNING id, birth']) {
      assert.equal(source.analyze(sql).facts.refusal, null, sql);
    }
    // A view's column computed from a column is masked whole; its plain columns keep their type and rule.
    const view = 'SELECT p.id, to_char(p.birth, \'YYYY\') AS year, 1 AS one FROM people p';
    assert.deepEqual(source.viewColumn(view, 2), { strategy: 'null', rule: 'p/dates' });
    assert.equal(source.viewColumn(view, 1), null);
    assert.equal(source.viewColumn(view, 3), null);
    assert.deepEqual(source.unknown.derived, { strategy: 'null', rule: 'p/dates' }, 'unknown portals are masked whole');
    // Rules that name columns are unaffected: they follow values by name.
    assert.equal(maskFactsSource(CONTENT).analyze('SELECT upper(name) FROM people').facts.refusal, null);
  });

  test('with detectors only, a write that returns nothing and only does arithmetic is not refused', () => {
    const source = maskFactsSource(CONTENT);
    for (const sql of ['UPDATE t SET n = n + 1', 'UPDATE accounts SET balance = balance - $1 WHERE id = $2',
      'INSERT INTO counters (n) SELECT n * 2 FROM counters']) {
      assert.equal(source.analyze(sql).facts.refusal, null, sql);
    }
    // A reshaped text is still refused, also behind arithmetic.
    for (const sql of ["UPDATE t SET notes = reverse(notes)", 'UPDATE t SET n = n + length(to_hex(n))']) {
      assert.match(source.analyze(sql).facts.refusal ?? '', /content masking rule/, sql);
    }
  });

  test('only computed columns get the derived action; columns with a source keep their own rules', () => {
    const derived = maskFactsSource(RULES).analyze('SELECT name, upper(ssn) FROM customers').facts.derived;
    const plan = compilePlan(RULES, [
      { name: 'name', typeName: 'text', format: 0, source: 'public.customers.name' },
      { name: 'upper', typeName: 'text', format: 0, computed: true },
      { name: 'n', typeName: 'int8', format: 1, computed: true },
    ], derived);
    assert.equal(plan.columns[0]?.kind, 'content');
    assert.deepEqual(plan.columns[1], { kind: 'column', strategy: 'redact', rule: 'p/mask' });
    assert.match(plan.binaryRefusal ?? '', /binary/, 'a binary int8 cannot carry [REDACTED]');
  });

  test('views: per column, plain references keep their strategy and derived values are masked whole', () => {
    const source = maskFactsSource(RULES);
    const view = ' SELECT c.id, upper(c.ssn) AS u, c.email AS e, reverse(c.email) AS r, c.name FROM customers c;';
    assert.equal(source.viewColumn(view, 1), null);
    assert.deepEqual(source.viewColumn(view, 2), { strategy: 'redact', rule: 'p/mask' });
    assert.deepEqual(source.viewColumn(view, 3), { strategy: 'partial', rule: 'p/mask' });
    assert.deepEqual(source.viewColumn(view, 4), { strategy: 'redact', rule: 'p/mask' });
    assert.equal(source.viewColumn(view, 5), null);
    const union = ' SELECT c.name FROM customers c UNION SELECT c.ssn FROM customers c;';
    assert.deepEqual(source.viewColumn(union, 1), { strategy: 'redact', rule: 'p/mask' });
    assert.deepEqual(source.freeTextAction, { strategy: 'redact', rule: 'p/mask' });
  });
});
