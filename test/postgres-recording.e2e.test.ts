/**
 * End to end: recordings do not hold the sensitive values callers send. An e-mail address in a literal and a card
 * number bound as a parameter are redacted in `warden sessions show --json` and absent from every byte of Warden's
 * data directory, for everyone; for a subject with masking rules, values written to a masked column are redacted
 * too. The upstream receives the statements unchanged: the real server holds the values.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { pollUntil } from './harness/poll.js';
import { startStack, type Stack } from './harness/stack.js';

const EMAIL = 'alice.recorded@example.com';
const OTHER_EMAIL = 'bob.recorded@example.com';
const CARD = '4111111111111111';
const SECRET_CODE = 'club-code-QX7Z'; // matches no detector: redacted only where its column is masked
const POLICY = `kind: Policy
name: recording
rules:
  - name: everything
    effect: allow
  - name: analysts-mask-codes
    subjects: { groups: [analysts] }
    mask:
      - columns: ["public.members.code"]
        strategy: redact
`;

interface RecordedEvent { type: string; data: { text?: string; params?: (string | null)[]; error?: unknown } }
let stack: Stack;

before(async () => {
  stack = await startStack({ policy: POLICY });
  const su = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database: 'app' });
  await su.connect();
  await su.query(`SET ROLE ${stack.pg.scram.user}; CREATE TABLE members (id int, email text, card text, code text)`);
  await su.end();
});

after(async () => {
  await stack?.stop();
});

/** The statement events of `user`'s sessions, once the one that ran `marker` has been flushed to the store. */
async function recordedStatements(user: string, marker: string): Promise<RecordedEvent[]> {
  return pollUntil(`the recording of ${marker}`, async () => {
    const list = await stack.warden.cli(['sessions', 'list', '--json', '--subject', user]);
    const events: RecordedEvent[] = [];
    for (const s of JSON.parse(list.stdout) as { id: string }[]) {
      const shown = await stack.warden.cli(['sessions', 'show', s.id, '--json']);
      events.push(...(JSON.parse(shown.stdout).events as RecordedEvent[]).filter((e) => e.type.startsWith('statement')));
    }
    return events.some((e) => e.data.text?.includes(marker)) ? events : undefined;
  });
}

async function dataDirHolds(value: string): Promise<string[]> {
  const holding: string[] = [];
  for (const file of await fs.readdir(stack.warden.dataDir)) {
    const content = await fs.readFile(path.join(stack.warden.dataDir, file));
    if (content.includes(Buffer.from(value))) holding.push(file);
  }
  return holding;
}

async function serverRows(): Promise<unknown[]> {
  const su = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database: 'app' });
  await su.connect();
  try {
    return (await su.query('SELECT id, email, card, code FROM members ORDER BY id')).rows;
  } finally {
    await su.end();
  }
}

describe('recordings redact what callers send', () => {
  test('an e-mail literal and a bound card number, for a caller without masking rules', async () => {
    const token = await stack.token('alice');
    const insert = await stack.psql(['-c', `INSERT INTO members (id, email, code) VALUES (1, '${EMAIL}', '${SECRET_CODE}') /* m1 */`],
      { user: 'alice', token });
    assert.equal(insert.code, 0, insert.stderr);
    const c = await stack.client({ user: 'alice', password: token });
    try {
      // The server's error message echoes the literal: it is redacted in the recording too.
      await assert.rejects(c.query(`SELECT '${OTHER_EMAIL}'::int /* m0 */`), (e: pg.DatabaseError) => e.code === '22P02');
      await c.query('UPDATE members SET card = $1 WHERE id = $2 /* m2 */', [CARD, 1]);
    } finally {
      await c.end();
    }
    const events = await recordedStatements('alice', 'm2');
    const texts = events.map((e) => e.data.text);
    assert.ok(texts.includes(`INSERT INTO members (id, email, code) VALUES (1, '[redacted]', '${SECRET_CODE}') /* m1 */`), texts.join('\n'));
    const update = events.find((e) => e.data.text === 'UPDATE members SET card = $1 WHERE id = $2 /* m2 */');
    assert.deepEqual(update?.data.params, ['[redacted]', '1']);
    const shown = JSON.stringify(events);
    const failed = events.find((e) => e.data.text?.endsWith('/* m0 */'));
    assert.deepEqual(failed?.data.error, { code: '22P02', message: 'invalid input syntax for type integer: "[redacted]"' });
    for (const secret of [EMAIL, OTHER_EMAIL, CARD]) {
      assert.equal(shown.includes(secret), false, `sessions show holds ${secret}`);
      assert.deepEqual(await dataDirHolds(secret), [], `the data directory holds ${secret}`);
    }
    // The upstream received the statements as sent.
    assert.deepEqual(await serverRows(), [{ id: 1, email: EMAIL, card: CARD, code: SECRET_CODE }]);
  });

  test('for a caller with masking rules, values written to a masked column are redacted too', async () => {
    const token = await stack.token('bob', '--groups', 'analysts');
    const c = await stack.client({ user: 'bob', password: token });
    try {
      await c.query(`INSERT INTO members (id, email, code) VALUES (2, 'plain text', 'club-code-AB12') /* m3 */`);
      await c.query('UPDATE members SET code = $1 WHERE id = $2 /* m4 */', ['club-code-CD34', 2]);
      await c.query(`DELETE FROM members WHERE code = 'club-code-CD34' AND id = 99 /* m5 */`);
    } finally {
      await c.end();
    }
    const events = await recordedStatements('bob', 'm5');
    const texts = events.map((e) => e.data.text);
    assert.ok(texts.includes(`INSERT INTO members (id, email, code) VALUES (2, 'plain text', '[redacted]') /* m3 */`), texts.join('\n'));
    assert.ok(texts.includes(`DELETE FROM members WHERE code = '[redacted]' AND id = 99 /* m5 */`), texts.join('\n'));
    assert.deepEqual(events.find((e) => e.data.text?.endsWith('/* m4 */'))?.data.params, ['[redacted]', '2']);
    for (const secret of ['club-code-AB12', 'club-code-CD34']) {
      assert.equal(JSON.stringify(events).includes(secret), false, `sessions show holds ${secret}`);
      assert.deepEqual(await dataDirHolds(secret), [], `the data directory holds ${secret}`);
    }
    const rows = await serverRows();
    assert.deepEqual(rows[1], { id: 2, email: 'plain text', card: null, code: 'club-code-CD34' });
  });
});
