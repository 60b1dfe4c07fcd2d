import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeSql, initSqlAnalysis } from '../../analysis/sql/analyze.js';
import { StatementState } from './statement-state.js';

before(() => initSqlAnalysis());

/** The statement was allowed and the server answered that it ran (or failed, with `ok` false). */
function ran(state: StatementState, text: string, ok = true): void {
  state.remember(analyzeSql(text), text);
  state.settle(text, ok);
}

test('EXECUTE is judged as the PREPARE it runs, merged with its own parameters', () => {
  const state = new StatementState();
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE wipe')).classes, ['unknown'], 'unknown until prepared');
  ran(state, 'PREPARE wipe AS DELETE FROM t');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE wipe')).classes, ['destructive', 'write']);
  assert.deepEqual(state.resolve(analyzeSql('execute WIPE')).classes, ['destructive', 'write'], 'names fold to lower case');
  ran(state, 'PREPARE look(int) AS SELECT $1');
  const withDanger = state.resolve(analyzeSql('EXECUTE look(pg_terminate_backend(1))'));
  assert.ok(withDanger.classes.includes('admin'), 'a dangerous function in the parameters counts');
  assert.ok(!withDanger.classes.includes('unknown'));
  ran(state, 'DEALLOCATE wipe');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE wipe')).classes, ['unknown'], 'forgotten after DEALLOCATE');
  ran(state, 'DEALLOCATE ALL');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE look(1)')).classes, ['unknown']);
});

test('prepared names are kept as the server keeps them: "W" and w are two statements', () => {
  const state = new StatementState();
  ran(state, 'PREPARE "W" AS DELETE FROM t WHERE id = 1');
  ran(state, 'PREPARE w AS SELECT 1');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE "W"')).classes, ['write']);
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE w')).classes, ['read']);
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE W')).classes, ['read'], 'unquoted W folds to w');
  ran(state, 'DEALLOCATE w');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE "W"')).classes, ['write'], 'DEALLOCATE w leaves "W"');
  ran(state, 'DEALLOCATE "W"');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE "W"')).classes, ['unknown']);
});

test('the reason comes from SET warden.reason', () => {
  const state = new StatementState();
  state.remember(analyzeSql("SET warden.reason = 'it''s the nightly job'"), "SET warden.reason = 'it''s the nightly job'");
  assert.equal(state.reason, "it's the nightly job");
  state.remember(analyzeSql("set session warden.reason to 'other'"), "set session warden.reason to 'other'");
  assert.equal(state.reason, 'other');
});

test('a PREPARE counts only once the server ran it: a taken name, a failed string or no answer leave no wrong statement', () => {
  const state = new StatementState();
  ran(state, "PREPARE w AS UPDATE t SET a = 'x' WHERE id = 1");
  // The server refuses a second PREPARE of a taken name and keeps the first statement.
  state.remember(analyzeSql('PREPARE w AS SELECT 1'), 'PREPARE w AS SELECT 1');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE w')).classes, ['unknown'], 'in doubt until the server answers');
  state.settle('PREPARE w AS SELECT 1', false);
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE w')).classes, ['write'], 'the first statement is what EXECUTE runs');
  // A DEALLOCATE the server skipped (failed transaction) leaves the statement; one that ran removes it.
  ran(state, 'DEALLOCATE w', false);
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE w')).classes, ['write']);
  ran(state, 'DEALLOCATE w');
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE w')).classes, ['unknown']);
  // A PREPARE that failed on the server (a missing table) defines nothing; the next one with that name does.
  ran(state, 'PREPARE v AS SELECT * FROM missing', false);
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE v')).classes, ['unknown']);
  ran(state, "PREPARE v AS UPDATE t SET a = 'y' WHERE id = 2");
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE v')).classes, ['write']);
  // A string of several statements that failed somewhere: Warden cannot tell whether its PREPARE ran.
  ran(state, 'PREPARE u AS SELECT 1; SELECT 1/0', false);
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE u')).classes, ['unknown']);
  // The same text judged at Parse, Bind and Execute is one change, settled by the one answer.
  const text = 'PREPARE x AS SELECT 2';
  for (let i = 0; i < 3; i++) state.remember(analyzeSql(text), text);
  state.settle(text, true);
  assert.deepEqual(state.resolve(analyzeSql('EXECUTE x')).classes, ['read']);
});
