import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKey } from './cache-key.js';

test('numbers become ? and nothing else changes', () => {
  const cases: [string, string][] = [
    ['SELECT abalance FROM pgbench_accounts WHERE aid = 123;', 'SELECT abalance FROM pgbench_accounts WHERE aid = ?;'],
    ['select 1.5, .5, 1e10, 2E-3, 0x1F, 1_000', 'select ?, ?, ?, ?, ?, ?'],
    ['SELECT t1.c2 FROM t1 WHERE x9 = 9', 'SELECT t1.c2 FROM t1 WHERE x9 = ?'],
    ["SELECT '123', \"col 1\", E'it\\'s 5'", "SELECT '123', \"col 1\", E'it\\'s 5'"],
    ["SELECT 'a''1'", "SELECT 'a''1'"],
    ['SELECT $1 = $1, $2 + 3', 'SELECT $1 = $1, $2 + ?'],
    ['DO $$ BEGIN PERFORM 1; END $$; SELECT 2', 'DO $$ BEGIN PERFORM 1; END $$; SELECT ?'],
    ['DO $body$ x 1 $body$', 'DO $body$ x 1 $body$'],
    ['SELECT 1 -- 2\n, 3 /* 4 /* 5 */ 6 */', 'SELECT ? -- 2\n, ? /* 4 /* 5 */ 6 */'],
    ["select set_config('role', 'x', false)", "select set_config('role', 'x', false)"],
    ['', ''],
  ];
  for (const [input, expected] of cases) assert.equal(cacheKey(input), expected, input);
});

test('texts that differ in anything but numbers get different keys', () => {
  assert.notEqual(cacheKey('DELETE FROM t WHERE $1 = $1'), cacheKey('DELETE FROM t WHERE $1 = $2'));
  assert.notEqual(cacheKey("SELECT set_config('role', 'a', false)"), cacheKey("SELECT set_config('work_mem', 'a', false)"));
  assert.notEqual(cacheKey('DELETE FROM t WHERE true'), cacheKey('DELETE FROM t WHERE false'));
  assert.equal(cacheKey('DELETE FROM t WHERE 1 = 1'), cacheKey('DELETE FROM t WHERE 1 = 2'));
});
