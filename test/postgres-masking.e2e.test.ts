/**
 * End to end: inline masking through real psql and the pg driver. The pii-masking policy as written:
 * column rules resolved through the catalog (`SELECT email AS e` is still masked), content detectors catching
 * transformed values (lower(), concatenation, row_to_json, json_agg, string_agg), COPY TO STDOUT (column rules
 * resolved from the statement and the catalog, refusals where they cannot be), NOTIFY payloads, an error DETAIL
 * that echoes a value, per-caller rules, client encodings other than UTF8, and a recording that never holds the
 * originals.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { MASKING_YAML } from '../src/policy/test-fixtures.js';
import { pollUntil } from './harness/poll.js';
import { startStack, type Stack } from './harness/stack.js';

const CARD = '4111 1111 1111 1111';
const EMAIL = 'alice.smith@example.com';
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const AWS = 'AKIAIOSFODNN7EXAMPLE';
/** A value only the `*.email` column rule masks (no detector finds anything in it): partial keeps its last four. */
const NOT_AN_EMAIL = 'carol-at-example';

/** The example, then a support target where only the support group is masked (dba sees clear values). */
const POLICY = `${MASKING_YAML}---
kind: Policy
name: support-view
rules:
  - name: reads
    targets: ["support-*"]
    match: { classes: [read] }
    effect: allow
  - name: mask-for-support
    targets: ["support-*"]
    subjects: { groups: [support] }
    mask:
      - detectors: [email, card]
        strategy: redact
`;

let stack: Stack;
let analyst: string;

before(async () => {
  stack = await startStack({ policy: POLICY });
  const admin = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database: 'app' });
  await admin.connect();
  await admin.query(`CREATE TABLE public.customers (id int PRIMARY KEY, name text, email text UNIQUE, card_number text, notes text);
    INSERT INTO public.customers VALUES (1, 'Alice', '${EMAIL}', '${CARD}', 'token ${JWT} key ${AWS}');
    ALTER TABLE public.customers OWNER TO ${stack.pg.scram.user};
    CREATE TABLE public.contacts (id int PRIMARY KEY, email text, phone text);
    INSERT INTO public.contacts VALUES (1, '${NOT_AN_EMAIL}', '555');
    ALTER TABLE public.contacts OWNER TO ${stack.pg.scram.user}`);
  await admin.end();
  const r = await stack.warden.cli(['targets', 'add', 'support-db', '--type', 'postgres', '--host', stack.pg.host, '--port',
    String(stack.pg.port), '--database', 'app', '--user', stack.pg.scram.user, '--password-stdin', '--tls', 'disable'],
  { stdin: stack.pg.scram.password });
  assert.equal(r.code, 0, r.stderr);
  analyst = await stack.token('ana');
});
after(async () => stack?.stop());

async function query(sql: string, user = 'ana', token = analyst, database = 'pg-main'): Promise<string> {
  const r = await stack.psql(['-c', sql], { user, token, database });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

describe('the issue example', () => {
  test('columns by name pattern and by schema.table.column, renamed columns included', async () => {
    assert.equal(await query('SELECT email, card_number FROM customers'), '***@example.com|[REDACTED]');
    assert.equal(await query('SELECT email AS e, card_number AS c FROM customers'), '***@example.com|[REDACTED]');
    assert.equal(await query('SELECT name FROM customers'), 'Alice', 'columns no rule covers pass unchanged');
  });

  test('content detectors catch transformed values', async () => {
    for (const sql of [
      'SELECT notes FROM customers', 'SELECT lower(notes) FROM customers', "SELECT notes || '' FROM customers",
      'SELECT json_agg(notes) FROM customers', "SELECT string_agg(notes || ' ' || card_number, ',') FROM customers",
    ]) {
      const out = await query(sql);
      for (const secret of [EMAIL, CARD, JWT, AWS]) assert.equal(out.includes(secret), false, `${sql} leaked ${secret}: ${out}`);
      assert.match(out, /\[REDACTED\]/, sql);
    }
  });

  test('values derived from a partially masked column are refused (a partial form of a derived value shows other parts)', async () => {
    for (const sql of [
      'SELECT lower(email) FROM customers', "SELECT email || '' FROM customers", 'SELECT row_to_json(c) FROM customers c',
      'SELECT json_agg(c) FROM customers c', "SELECT string_agg(email || ' ' || card_number, ',') FROM customers",
    ]) {
      const r = await stack.psql(['-c', sql], { user: 'ana', token: analyst });
      assert.notEqual(r.code, 0, sql);
      assert.match(r.stderr, /masked with "partial"/, sql);
      for (const secret of [EMAIL, CARD, JWT, AWS]) assert.equal(r.stdout.includes(secret), false, `${sql} leaked ${secret}`);
    }
  });

  test('extended protocol rows are masked too', async () => {
    const c = await stack.client({ user: 'ana', password: analyst });
    try {
      const r = await c.query('SELECT email, lower(card_number) AS c FROM customers WHERE id = $1', [1]);
      assert.deepEqual(r.rows, [{ email: '***@example.com', c: '[REDACTED]' }]);
    } finally {
      await c.end();
    }
  });

  test('COPY TO STDOUT, NOTIFY payloads and error details are masked', async () => {
    const copy = await query('COPY customers TO STDOUT');
    assert.equal(copy.includes(EMAIL) || copy.includes(CARD), false, copy);
    const c = await stack.client({ user: 'ana', password: analyst });
    try {
      await c.query('LISTEN pii');
      const got = new Promise<pg.Notification>((resolve) => c.once('notification', resolve));
      await c.query(`SELECT pg_notify('pii', 'customer ${EMAIL} paid')`);
      // Rules name columns, whose values no detector may recognise: a payload is masked whole.
      assert.equal((await got).payload, '[REDACTED]');
      await assert.rejects(c.query(`INSERT INTO customers VALUES (2, 'Dup', '${EMAIL}', NULL, NULL)`), (e: pg.DatabaseError) => {
        assert.equal(e.code, '23505');
        assert.equal((e.detail ?? '').includes(EMAIL), false, e.detail);
        return true;
      });
    } finally {
      await c.end();
    }
  });

  test('the recording never holds an original value', async () => {
    // An error whose message echoes a value: the caller and the recording both get it masked.
    const c = await stack.client({ user: 'ana', password: analyst });
    try {
      await assert.rejects(c.query(`SELECT '${EMAIL}'::int`), (e: pg.DatabaseError) => {
        assert.equal(e.code, '22P02');
        assert.equal(e.message.includes(EMAIL), false, e.message);
        return true;
      });
    } finally {
      await c.end();
    }
    // Wait for the recording to reach the store (it is written in batches), not for a fixed time.
    const recordedError = await pollUntil('the recorded 22P02 error', async () => {
      const sessions = JSON.parse((await stack.warden.cli(['sessions', 'list', '--json', '--subject', 'ana'])).stdout) as { id: string }[];
      for (const s of sessions) {
        const shown = JSON.parse((await stack.warden.cli(['sessions', 'show', s.id, '--json'])).stdout);
        for (const e of shown.events) if (e.data.error?.code === '22P02') return String(e.data.error.message);
      }
      return undefined;
    });
    assert.match(recordedError, /invalid input syntax/);
    assert.equal(recordedError.includes(EMAIL), false, recordedError);
    // Result values are never recorded, and the values callers send are redacted in recordings.
    for (const file of await fs.readdir(stack.warden.dataDir)) {
      const content = await fs.readFile(path.join(stack.warden.dataDir, file));
      for (const secret of [CARD, JWT, AWS]) assert.equal(content.includes(Buffer.from(secret)), false, `${file} holds ${secret}`);
    }
  });
});

describe('binary results', () => {
  test('a binary column a rule covers and no strategy can rewrite is refused with a clear error', async () => {
    // node-postgres' `binary` option (missing from its type definitions) asks for every result column in binary.
    const config = { host: '127.0.0.1', port: stack.warden.ports.postgres, user: 'ana', password: analyst,
      database: 'pg-main', ssl: { rejectUnauthorized: false }, binary: true };
    const c = new pg.Client(config as pg.ClientConfig);
    c.on('error', () => {});
    await c.connect();
    try {
      // A card number carried as a bigint: in binary no detector can read it, so it cannot be let through.
      await assert.rejects(c.query('SELECT id::int8 + 4111111111111110 AS n FROM customers WHERE id = $1', [1]), (e: pg.DatabaseError) => {
        assert.equal(e.code, '42501');
        assert.match(e.message, /binary/);
        return true;
      });
    } finally {
      await c.end().catch(() => {});
    }
  });
});

describe('per caller', () => {
  test('the support group sees masked values, a dba clear ones', async () => {
    const support = await stack.token('sam', '--groups', 'support');
    const dba = await stack.token('dora', '--groups', 'dba');
    assert.equal(await query('SELECT email FROM customers', 'sam', support, 'support-db'), '[REDACTED]');
    assert.equal(await query('SELECT email FROM customers', 'dora', dba, 'support-db'), EMAIL);
  });
});

describe('COPY TO STDOUT', () => {
  const ROW = `1\tAlice\t***@example.com\t[REDACTED]\ttoken [REDACTED] key [REDACTED]`;

  test('column rules apply to COPY rows: the table and its columns come from the statement and the catalog', async () => {
    assert.equal(await query('COPY customers TO STDOUT'), ROW);
    assert.equal(await query('COPY public.customers TO STDOUT'), ROW);
    assert.equal(await query('COPY customers (card_number, email, name) TO STDOUT'), '[REDACTED]\t***@example.com\tAlice');
    // No detector finds anything in this value: only the `*.email` column rule masks it.
    assert.equal(await query('COPY contacts TO STDOUT'), '1\t****mple\t555');
    assert.equal(await query('COPY contacts (email) TO STDOUT WITH (DELIMITER \'|\')'), '****mple');
    // A NULL string of its own would be an equality oracle (a value equal to it is written like a NULL).
    const oracle = await stack.psql(['-c', `COPY contacts (email) TO STDOUT WITH (NULL '${NOT_AN_EMAIL}')`], { user: 'ana', token: analyst });
    assert.notEqual(oracle.code, 0);
    assert.match(oracle.stderr, /NULL string of its own is refused/);
    assert.equal(oracle.stdout.includes(NOT_AN_EMAIL), false);
    // Only the `public.customers.card_number` rule covers this value, in a COPY inside a multi-statement query.
    const out = await query("BEGIN; UPDATE customers SET card_number = 'no card here' WHERE id = 1; " +
      'COPY customers (id, card_number) TO STDOUT; ROLLBACK');
    assert.ok(out.split('\n').includes('1\t[REDACTED]'), out);
    assert.equal(out.includes('no card here'), false, out);
  });

  test('psql \\copy to stdout is masked the same way', async () => {
    assert.equal(await query('\\copy customers to stdout'), ROW);
    assert.equal(await query('\\copy contacts (id, email) to stdout'), '1\t****mple');
  });

  test('COPY (query) and binary or CSV COPY are refused with a clear error when rules name columns', async () => {
    for (const [sql, message] of [
      ['COPY (SELECT email FROM contacts) TO STDOUT', /COPY \(query\) TO STDOUT is refused/],
      ['\\copy (select email from contacts) to stdout', /COPY \(query\) TO STDOUT is refused/],
      ['COPY contacts TO STDOUT (FORMAT binary)', /binary format is refused/],
      ['COPY contacts TO STDOUT WITH CSV HEADER', /CSV TO STDOUT is refused/],
      ["COPY contacts TO STDOUT (ENCODING 'LATIN1')", /ENCODING "LATIN1" is refused/],
    ] as const) {
      const r = await stack.psql(['-c', sql], { user: 'ana', token: analyst });
      assert.notEqual(r.code, 0, sql);
      assert.match(r.stderr, message, sql);
      assert.equal(r.stdout.includes(NOT_AN_EMAIL), false, r.stdout);
    }
    // The refusal ends the statement, not the session.
    const r = await stack.psql(['-c', 'COPY (SELECT 1) TO STDOUT', '-c', 'SELECT 2'], { user: 'ana', token: analyst });
    assert.match(r.stderr, /refused/);
    const c = await stack.client({ user: 'ana', password: analyst });
    try {
      await assert.rejects(c.query('COPY (SELECT email FROM contacts) TO STDOUT'), /COPY \(query\) TO STDOUT is refused/);
      assert.deepEqual((await c.query('SELECT 2 AS n')).rows, [{ n: 2 }]);
    } finally {
      await c.end();
    }
  });

  test('where only content rules apply, COPY (query) runs and every field is scanned', async () => {
    const support = await stack.token('sid', '--groups', 'support');
    assert.equal(await query('COPY (SELECT id, email, lower(card_number) FROM customers) TO STDOUT', 'sid', support, 'support-db'),
      '1\t[REDACTED]\t[REDACTED]');
    assert.equal(await query('COPY (SELECT email FROM contacts) TO STDOUT', 'sid', support, 'support-db'), NOT_AN_EMAIL);
    // A value that changed form may no longer look like a card or an e-mail: masked whole in a SELECT, refused in COPY.
    const reversed = CARD.split('').reverse().join('');
    assert.equal(await query('SELECT reverse(card_number), translate(email, \'@.\', \'#,\') FROM customers', 'sid', support,
      'support-db'), '[REDACTED]|[REDACTED]');
    const r = await stack.psql(['-c', 'COPY (SELECT reverse(card_number) FROM customers) TO STDOUT'], { user: 'sid', token: support,
      database: 'support-db' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /changing their form, is refused/);
    assert.equal(r.stdout.includes(reversed), false);
  });
});

describe('client encodings', () => {
  test('a session that starts in another encoding is ended with a clear error', async () => {
    const r = await stack.psql(['-c', 'SELECT email FROM customers'], { user: 'ana', token: analyst, env: { PGCLIENTENCODING: 'LATIN1' } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /need client_encoding UTF8; this session's is "LATIN1"/);
    assert.equal(r.stdout.includes(EMAIL), false);
  });

  test('SET client_encoding to another encoding is refused; the session goes on in UTF8', async () => {
    const r = await stack.psql(['-c', "SET client_encoding TO 'LATIN1'"], { user: 'ana', token: analyst });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /client_encoding must stay UTF8/);
    assert.equal(await query("SET client_encoding TO 'UTF8'; SELECT name FROM customers"), 'SET\nAlice');
  });

  test('set_config of client_encoding is refused before it runs; a change the text does not show ends the session', async () => {
    const c = await stack.client({ user: 'ana', password: analyst });
    try {
      await assert.rejects(c.query("SELECT set_config('client_encoding', 'LATIN1', false)"), /client_encoding must stay UTF8/);
      assert.deepEqual((await c.query('SHOW client_encoding')).rows, [{ client_encoding: 'UTF8' }]);
    } finally {
      await c.end().catch(() => {});
    }
    // Behind a function the statement text shows nothing: the server's ParameterStatus ends the session.
    const admin = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database: 'app' });
    await admin.connect();
    await admin.query("CREATE FUNCTION public.to_latin1() RETURNS text LANGUAGE sql AS $$ SELECT set_config('client_encoding', 'LATIN1', false) $$");
    await admin.end();
    const hidden = await stack.client({ user: 'ana', password: analyst });
    const ended = new Promise((resolve) => hidden.once('end', resolve));
    try {
      await assert.rejects(hidden.query('SELECT public.to_latin1()'), /client_encoding/);
      await ended; // Warden closed the connection
      await assert.rejects(hidden.query('SELECT email FROM customers'), /Client has encountered a connection error and is not queryable/);
    } finally {
      await hidden.end().catch(() => {});
    }
  });
});
