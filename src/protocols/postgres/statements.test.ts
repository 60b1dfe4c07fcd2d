/**
 * StatementTracker on its own: what was sent lined up with what the server answers, for simple queries, extended
 * batches, portals suspended and resumed, errors that skip to the Sync, and a connection that ends mid-flight.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command, CommandOutcome } from '../../session/types.js';
import { StatementTracker } from './statements.js';

const cmd = (text: string): Command => ({ protocol: 'postgres', kind: 'sql', text });

function tracker() {
  const outcomes: { text: string; outcome: CommandOutcome }[] = [];
  const t = new StatementTracker((command, outcome) => outcomes.push({ text: command.text, outcome }));
  const summary = () => outcomes.map(({ text, outcome }) =>
    `${text}:${outcome.error ? `error ${outcome.error.code}` : outcome.skipped ? 'skipped' : outcome.tag ?? ''}${outcome.rows !== undefined ? `/${outcome.rows}` : ''}`);
  return { t, summary };
}

describe('StatementTracker', () => {
  test('a simple query ends at ReadyForQuery with the last tag and the rows of all its statements', async () => {
    const { t, summary } = tracker();
    t.simple(cmd('INSERT 2; SELECT'));
    let idle = false;
    const waiting = t.whenIdle().then(() => (idle = true));
    t.completed('INSERT 0 2');
    t.completed('SELECT 3');
    await new Promise((r) => setImmediate(r));
    assert.equal(idle, false, 'not idle before ReadyForQuery');
    t.ready('T');
    await waiting;
    assert.deepEqual(summary(), ['INSERT 2; SELECT:SELECT 3/5']);
    assert.equal(t.transactionStatus, 'T');
  });

  test('an extended batch: parse, bind, describe answered in order; a suspended portal then its end', () => {
    const { t, summary } = tracker();
    for (const k of ['parse', 'bind', 'describe'] as const) t.sent(k);
    t.execute(cmd('SELECT g'));
    t.execute(cmd('SELECT g'));
    t.sent('sync');
    assert.equal(t.batchOpen, false, 'a Sync closes the batch');
    for (const k of ['parse', 'bind', 'describe'] as const) t.answered(k);
    assert.equal(t.running?.command.text, 'SELECT g');
    t.completed(undefined);
    t.completed('SELECT 5');
    t.ready('I');
    assert.ok(t.idle);
    assert.deepEqual(summary(), ['SELECT g:PortalSuspended', 'SELECT g:SELECT 5/5']);
  });

  test('an error in a batch fails its Execute and skips everything up to the Sync; the next batch runs', () => {
    const { t, summary } = tracker();
    t.sent('parse'); t.sent('bind'); t.execute(cmd('SELECT 1/0'));
    t.sent('parse'); t.sent('bind'); t.execute(cmd('SELECT 2'));
    t.sent('sync');
    t.sent('parse'); t.sent('bind'); t.execute(cmd('SELECT 3')); t.sent('sync');
    assert.equal(t.batchOpen, false);
    t.answered('parse'); t.answered('bind');
    assert.equal(t.failed({ code: '22012', message: 'division by zero' }), true);
    t.ready('I');
    t.answered('parse'); t.answered('bind'); t.completed('SELECT 1'); t.ready('I');
    assert.deepEqual(summary(), ['SELECT 1/0:error 22012/0', 'SELECT 2:skipped/0', 'SELECT 3:SELECT 1/1']);
  });

  test('what is sent after an error and before its Sync is skipped at once: nothing waits for an answer that never comes', async () => {
    const { t, summary } = tracker();
    const parsed: boolean[] = [];
    t.sent('parse', (ok) => parsed.push(ok)); t.sent('bind'); t.execute(cmd('SELECT * FROM missing'));
    assert.equal(t.failed({ code: '42P01', message: 'relation does not exist' }), true);
    assert.equal(t.idle, true);
    // Sent while the server discards everything up to the Sync (Warden held a message until the error came).
    t.sent('parse', (ok) => parsed.push(ok)); t.execute(cmd('SELECT 2'));
    assert.equal(t.idle, true, 'a wait for idle ends now, not at the Sync that may be queued behind it');
    await t.whenIdle();
    t.sent('sync');
    t.ready('I');
    t.sent('parse', (ok) => parsed.push(ok)); t.sent('bind'); t.execute(cmd('SELECT 3')); t.sent('sync');
    t.answered('parse'); t.answered('bind'); t.completed('SELECT 1'); t.ready('I');
    assert.deepEqual(parsed, [false, false, true]);
    assert.deepEqual(summary(), ['SELECT * FROM missing:error 42P01/0', 'SELECT 2:skipped/0', 'SELECT 3:SELECT 1/1']);
  });

  test('a failed Parse is attributed to the Execute of its batch', () => {
    const { t, summary } = tracker();
    t.sent('parse'); t.sent('bind'); t.execute(cmd('SELEC broken')); t.sent('sync');
    assert.equal(t.failed({ code: '42601', message: 'syntax error' }), true);
    t.ready('I');
    assert.deepEqual(summary(), ['SELEC broken:error 42601/0']);
  });

  test('answers that match nothing are ignored rather than shifting the wrong message', () => {
    const { t, summary } = tracker();
    t.simple(cmd('SELECT 1'));
    t.answered('parse');
    t.answered('bind');
    t.completed('SELECT 1');
    t.ready('I');
    t.ready('I');
    assert.deepEqual(summary(), ['SELECT 1:SELECT 1/1']);
  });

  test('a connection that ends mid-flight reports what was running as failed, once', () => {
    const { t, summary } = tracker();
    t.simple(cmd('SELECT pg_sleep(10)'));
    t.sent('parse'); t.execute(cmd('SELECT 2'));
    t.abandon('client disconnected');
    t.abandon('again');
    assert.deepEqual(summary(), ['SELECT pg_sleep(10):error WARDEN', 'SELECT 2:error WARDEN/0']);
    assert.ok(t.idle);
  });
});
