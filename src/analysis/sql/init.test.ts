/**
 * Before initSqlAnalysis() has finished, analyzeSql fails closed (unknown) without caching that answer; afterwards
 * the same text is analysed. Runs in its own process (node --test), so the parser starts unloaded here.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { analyzeSql, initSqlAnalysis } from './analyze.js';

it('fails closed before the parser is loaded, then works', async () => {
  const before = analyzeSql('select 1');
  assert.deepEqual(before.classes, ['unknown']);
  assert.match(before.parseError ?? '', /initSqlAnalysis/);
  await Promise.all([initSqlAnalysis(), initSqlAnalysis()]);
  await initSqlAnalysis();
  assert.deepEqual(analyzeSql('select 1').classes, ['read']);
});
