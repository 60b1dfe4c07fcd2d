/**
 * Sharing analyses between texts that differ only in numbers. The property that makes it safe: for every query in
 * the class table, changing its numeric literals (to 0, 7, a 64-bit value, a decimal, an exponent, hex) changes
 * nothing in a fresh analysis but the statement texts. Then: a reused analysis carries its own texts, and texts
 * whose "numbers" are not clean literals are never matched to a template.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeSql, clearSqlAnalysisCache, initSqlAnalysis, sqlAnalysisCacheStats } from './analyze.js';
import { cacheKey } from './cache-key.js';
import { alignToKey } from './reuse.js';
import { CLASS_TABLE } from './test-fixtures.js';
import type { SqlAnalysis } from './types.js';

await initSqlAnalysis();

const REPLACEMENTS = ['0', '7', '9223372036854775807', '2.5', '1e3', '0x1F'];

/** The text with every replaced numeric literal set to `value`; undefined when it has none. */
function withNumbers(sql: string, value: string): string | undefined {
  const key = cacheKey(sql);
  const map = alignToKey(sql, key);
  if (!map || key === sql) return undefined;
  let out = '';
  for (let j = 0; j < key.length; j++) {
    const isNumber = key[j] === '?' && sql[map[j]] !== '?';
    out += isNumber ? value : sql.slice(map[j], map[j + 1]);
  }
  return out;
}

/** Everything but the statement texts. */
function withoutText(a: SqlAnalysis): unknown {
  return { ...a, statements: a.statements.map((s) => ({ ...s, text: undefined })) };
}

function fresh(sql: string): SqlAnalysis {
  clearSqlAnalysisCache();
  return analyzeSql(sql);
}

describe('no analysis depends on the value of a number', () => {
  for (const [sql] of CLASS_TABLE) {
    if (withNumbers(sql, '0') === undefined) continue;
    it(JSON.stringify(sql), () => {
      const original = fresh(sql);
      if (original.statements.some((s) => s.numbersMatter)) {
        // A range bound at a type's extreme is read by value (where.ts): such a text never makes a template.
        assert.equal(sqlAnalysisCacheStats().templates, 0, 'no template for a text whose numbers matter');
        return;
      }
      for (const value of REPLACEMENTS) {
        const variant = withNumbers(sql, value)!;
        const analysis = fresh(variant);
        if (analysis.parseError !== undefined && original.parseError === undefined) continue; // e.g. FETCH 2.5
        assert.deepEqual(withoutText(analysis), withoutText(original), variant);
      }
    });
  }
});

describe('reusing an analysis for other numbers', () => {
  it('gives each statement its own text', () => {
    clearSqlAnalysisCache();
    const first = analyzeSql('UPDATE accounts SET balance = balance + 10 WHERE id = 1; SELECT 2');
    const second = analyzeSql('UPDATE accounts SET balance = balance + -2500 WHERE id = 123456;SELECT 3.5');
    assert.notEqual(second, first);
    assert.deepEqual(second.statements.map((s) => s.text), [
      'UPDATE accounts SET balance = balance + -2500 WHERE id = 123456',
      'SELECT 3.5',
    ]);
    assert.deepEqual(withoutText(second), withoutText(first));
    assert.ok(Object.isFrozen(second.statements[0]));
    assert.equal(analyzeSql('UPDATE accounts SET balance = balance + -2500 WHERE id = 123456;SELECT 3.5'), second);
  });

  it('cuts texts correctly around non-ASCII characters', () => {
    clearSqlAnalysisCache();
    analyzeSql("select 'ü', 1; delete from t where id = 2");
    const reused = analyzeSql("select 'ü', 100; delete from t where id = 20000");
    assert.deepEqual(reused.statements.map((s) => s.text), ["select 'ü', 100", 'delete from t where id = 20000']);
  });

  it('does not match a text whose numbers are not clean literals', () => {
    clearSqlAnalysisCache();
    assert.deepEqual(analyzeSql('delete from t where id = 5 and flag').classes, ['write']);
    // `5or` is one span for the cache key; PostgreSQL 14 reads it as `5 or`. It gets its own analysis.
    const junk = analyzeSql('delete from t where id = 5or flag');
    assert.deepEqual(junk.classes, ['unknown']);
  });

  it('keeps a destructive statement destructive whatever numbers came first', () => {
    clearSqlAnalysisCache();
    assert.deepEqual(analyzeSql('delete from t where 1 = 2').classes, ['destructive', 'write']);
    assert.deepEqual(analyzeSql('delete from t where 1 = 1').classes, ['destructive', 'write']);
    assert.deepEqual(analyzeSql('delete from t where not (1 = 1 and id = 5)').classes, ['destructive', 'write']);
    assert.deepEqual(analyzeSql('delete from t where not (x + 1 <> x + 1)').classes, ['destructive', 'write']);
    assert.deepEqual(analyzeSql('delete from t where not (x + 1 <> x + 2)').classes, ['destructive', 'write']);
  });
});

describe('alignToKey', () => {
  it('maps each key offset to the text', () => {
    const map = alignToKey('id = 42 and x = 3.5', 'id = ? and x = ?');
    assert.ok(map);
    assert.deepEqual([map[5], map[6], map[15], map[16]], [5, 7, 16, 19]);
  });

  it('accepts every form of numeric literal PostgreSQL reads as one token', () => {
    for (const n of ['0', '42', '1_000', '3.', '.5', '2.5e-3', '1E+9', '0x1F', '0o17', '0b101', '0x_FF']) {
      assert.ok(alignToKey(`select ${n}`, 'select ?'), n);
    }
  });

  it('refuses spans that are not numbers', () => {
    for (const n of ['5or', '1e', '1..2', '0x', '1__0', '1_', '0x1e-5', '12abc']) {
      assert.equal(alignToKey(`select ${n}`, cacheKey(`select ${n}`)), undefined, n);
    }
  });

  it('keeps a literal ? (a jsonb operator) apart from a replaced number', () => {
    const sql = "select doc ? 'a', 7 from t";
    assert.ok(alignToKey(sql, cacheKey(sql)));
  });

  it('refuses a text that is not the key with numbers replaced', () => {
    assert.ok(alignToKey('select 1', 'select 1')); // no numbers replaced: the identity
    assert.equal(alignToKey('select 1 ', 'select ?'), undefined);
    assert.equal(alignToKey('select x', 'select ?'), undefined);
  });
});
