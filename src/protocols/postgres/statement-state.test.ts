import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeSql, initSqlAnalysis } from '../../analysis/sql/analyze.js';
import { StatementState } from './statement-state.js';

before(() => initSqlAnalysis());

test('EXECUTE is judged as the PREPARE it runs, merged with its own parameters', () => {
  const state = new StatementState();
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE wipe')).classes, ['unknown'], 'unknown until prepared');
  state.remember(analyzeSql('PREPARE wipe AS DELETE FROM t'), 'PREPARE wipe AS DELETE FROM t');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE wipe')).classes, ['destructive', 'write']);
  assert.deepEqual(state.resolve(analyzeSql('execute WIPE')).classes, ['destructive', 'write'], 'names fold to lower case');
  state.remember(analyzeSql('PREPARE look(int) AS SELECT $1'), 'PREPARE look(int) AS SELECT $1');
  const withDanger = state.resolve(analyzeSql('EXECUTE look(pg_terminate_backend(1))'));
  assert.ok(withDanger.classes.includes('admin'), 'a dangerous function in the parameters counts');
  assert.ok(!withDanger.classes.includes('unknown'));
  state.remember(analyzeSql('DEALLOCATE wipe'), 'DEALLOCATE wipe');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE wipe')).classes, ['unknown'], 'forgotten after DEALLOCATE');
  state.remember(analyzeSql('DEALLOCATE ALL'), 'DEALLOCATE ALL');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE look(1)')).classes, ['unknown']);
});

test('prepared names are kept as the server keeps them: "W" and w are two statements', () => {
  const state = new StatementState();
  state.remember(analyzeSql('PREPARE "W" AS DELETE FROM t WHERE id = 1'), 'PREPARE "W" AS DELETE FROM t WHERE id = 1');
  state.remember(analyzeSql('PREPARE w AS SELECT 1'), 'PREPARE w AS SELECT 1');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE "W"')).classes, ['write']);
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE w')).classes, ['read']);
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE W')).classes, ['read'], 'unquoted W folds to w');
  state.remember(analyzeSql('DEALLOCATE w'), 'DEALLOCATE w');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE "W"')).classes, ['write'], 'DEALLOCATE w leaves "W"');
  state.remember(analyzeSql('DEALLOCATE "W"'), 'DEALLOCATE "W"');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE "W"')).classes, ['unknown']);
});

test('the reason comes from SET warden.reason', () => {
  const state = new StatementState();
  state.remember(analyzeSql("SET warden.reason = 'it''s the nightly job'"), "SET warden.reason = 'it''s the nightly job'");
  assert.equal(state.reason, "it's the nightly job");
  state.remember(analyzeSql("set session warden.reason to 'other'"), "set session warden.reason to 'other'");
  assert.equal(state.reason, 'other');
});
