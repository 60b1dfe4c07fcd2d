/**
 * The statement class table (test-fixtures.ts): every row's query text must give exactly its classes, sorted, and
 * the query's classes must be the union of its statements' classes. The rows cover plain statements of every kind,
 * evasion attempts (case, comments, quoting, schema-qualified and hidden dangerous functions), multi-statement
 * strings, bodies (DO, CREATE FUNCTION, CREATE RULE) and unparseable text.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeSql, initSqlAnalysis } from './analyze.js';
import { CLASS_TABLE } from './test-fixtures.js';

await initSqlAnalysis();

describe('analyzeSql: statement classes', () => {
  it('has a large table', () => assert.ok(CLASS_TABLE.length >= 150, `only ${CLASS_TABLE.length} rows`));
  for (const [sql, expected] of CLASS_TABLE) {
    it(JSON.stringify(sql), () => {
      const analysis = analyzeSql(sql);
      assert.deepEqual(analysis.classes, expected);
      // The union is exactly the statements' classes, and every statement has at least one.
      const union = [...new Set(analysis.statements.flatMap((s) => s.classes))].sort();
      assert.deepEqual(analysis.classes, union);
      for (const s of analysis.statements) assert.ok(s.classes.length > 0);
    });
  }
});
