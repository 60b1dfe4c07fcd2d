/**
 * End to end, real PostgreSQL behind a real `warden start`: masking cannot be skipped or talked around.
 * - Results whose shape the client never asked for (Parse/Bind/Execute/Sync without Describe, after another shape,
 *   interleaved named portals, row limits and PortalSuspended, cursors from DECLARE) are masked: checked on every
 *   byte a raw protocol client receives.
 * - Values derived from masked columns (functions, casts, concatenation, JSON, subqueries, CTEs, set operations) are
 *   masked whole or refused; statements that copy masked values elsewhere, hand them to impure functions or read
 *   column statistics are refused before they reach the server (checked on the real server); error texts that echo
 *   them are masked; COPY NULL strings that would act as equality oracles are refused.
 * - Nothing clear lands in the recording.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { rawTls } from './harness/raw-pg.js';
import { startStack, type Stack } from './harness/stack.js';

const SSN = '123-45-6789';
const CARD = '4111111111111111';
const EMAIL = 'alice.smith@example.com';
/** Every form of a secret that must never appear: itself, its digits, its reverse, and their hex and base64. */
const SECRETS = [SSN, '123456789', '9876-54-321', CARD, '41111111', EMAIL, 'alice.smith', 'htims.ecila',
  Buffer.from(SSN).toString('hex'), Buffer.from(SSN).toString('base64'), Buffer.from(CARD).toString('base64'),
  (123456789).toString(16), 'bcd-ef-ghij'];

const POLICY = `kind: Policy
name: derived
rules:
  - name: work
    targets: ["pg-*"]
    match: { classes: [read, write, ddl, unknown] }
    effect: allow
  - name: mask
    targets: ["pg-*"]
    mask:
      - columns: ["public.customers.ssn"]
        strategy: redact
      - columns: ["public.customers.card_number"]
        strategy: hash
      - columns: ["*.email"]
        strategy: partial
      - detectors: [card, email]
        strategy: redact
  - name: mask-dates
    targets: ["pg-*"]
    subjects: { groups: [typed] }
    mask:
      - types: [date]
        strategy: "null"
`;

let stack: Stack;
let token: string;
let admin: pg.Client;

before(async () => {
  stack = await startStack({ policy: POLICY });
  admin = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database: 'app' });
  await admin.connect();
  await admin.query(`CREATE TABLE public.customers (id int PRIMARY KEY, name text, email text, card_number text, ssn text);
    INSERT INTO public.customers VALUES (1, 'Alice', '${EMAIL}', '${CARD}', '${SSN}');
    CREATE TABLE public.copies (v text);
    ALTER TABLE public.customers OWNER TO ${stack.pg.scram.user};
    ALTER TABLE public.copies OWNER TO ${stack.pg.scram.user};
    CREATE VIEW public.v_cust AS SELECT id, upper(ssn) AS u, ssn AS s, email AS e, reverse(email) AS r,
      encode(card_number::bytea, 'hex') AS h FROM public.customers;
    GRANT SELECT ON public.v_cust TO ${stack.pg.scram.user};
    CREATE TABLE public.people (id int PRIMARY KEY, name text, birth date, visits int, note text);
    INSERT INTO public.people VALUES (1, 'Bea', '1987-06-05', 0, '');
    ALTER TABLE public.people OWNER TO ${stack.pg.scram.user};
    ANALYZE public.customers`);
  token = await stack.token('mia');
});
after(async () => {
  await admin?.end();
  await stack?.stop();
});

function assertClean(bytes: Buffer | string, what: string): void {
  const text = Buffer.isBuffer(bytes) ? bytes.toString('latin1') : bytes;
  for (const secret of SECRETS) assert.equal(text.includes(secret), false, `${what} holds ${secret}: ${text}`);
}

/** Logs in with a raw TLS socket; returns it once ReadyForQuery arrived. */
async function rawLogin(): Promise<tls.TLSSocket> {
  const socket = await rawTls(stack.warden.ports.postgres);
  socket.write(serialize.startup({ user: 'mia', database: stack.target }));
  await readMessages(socket, (m) => m.some((x) => x.type === 'R'));
  socket.write(serialize.password(token));
  await readMessages(socket, (m) => m.some((x) => x.type === 'Z'));
  return socket;
}

interface Message { type: string; body: Buffer }

/** Reads whole messages until `done` says so (or the socket closes); returns them and every byte received. */
function readMessages(socket: tls.TLSSocket, done: (messages: Message[]) => boolean): Promise<{ messages: Message[]; bytes: Buffer }> {
  return new Promise((resolve) => {
    let bytes: Buffer = Buffer.alloc(0);
    const finish = (messages: Message[]) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve({ messages, bytes });
    };
    const parse = (): Message[] => {
      const messages: Message[] = [];
      for (let off = 0; off + 5 <= bytes.length;) {
        const len = bytes.readInt32BE(off + 1);
        if (off + 1 + len > bytes.length) break;
        messages.push({ type: String.fromCharCode(bytes[off]), body: bytes.subarray(off + 5, off + 1 + len) });
        off += 1 + len;
      }
      return messages;
    };
    const onData = (d: Buffer) => {
      bytes = Buffer.concat([bytes, d]);
      const messages = parse();
      if (done(messages)) finish(messages);
    };
    const onClose = () => finish(parse());
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** Sends `bytes`, reads until `ready` ReadyForQuery messages; returns message types, DataRow values and all bytes. */
async function exchange(socket: tls.TLSSocket, bytes: Buffer, ready: number) {
  const reading = readMessages(socket, (m) => m.filter((x) => x.type === 'Z').length >= ready);
  socket.write(bytes);
  const { messages, bytes: received } = await reading;
  const rows = messages.filter((m) => m.type === 'D').map((m) => dataRow(m.body));
  return { types: messages.map((m) => m.type).join(''), rows, bytes: received, messages };
}

function dataRow(body: Buffer): (string | null)[] {
  const values: (string | null)[] = [];
  let off = 2;
  for (let i = 0; i < body.readUInt16BE(0); i++) {
    const len = body.readInt32BE(off);
    off += 4;
    values.push(len < 0 ? null : body.subarray(off, off + len).toString('utf8'));
    if (len > 0) off += len;
  }
  return values;
}

const CUSTOMERS = 'SELECT name, email, card_number, ssn FROM customers';

function assertMaskedRow(row: (string | null)[] | undefined): void {
  assert.ok(row, 'a row came');
  assert.equal(row[0], 'Alice');
  assert.equal(row[1], '***@example.com');
  assert.match(row[2] ?? '', /^h_/);
  assert.equal(row[3], '[REDACTED]');
}

describe('results whose shape the client never asked for', () => {
  test('Parse/Bind/Execute/Sync without Describe: Warden describes the portal itself and masks', async () => {
    const socket = await rawLogin();
    try {
      const r = await exchange(socket, Buffer.concat([
        serialize.parse({ text: CUSTOMERS }), serialize.bind({}), serialize.execute({}), serialize.sync(),
      ]), 1);
      assert.equal(r.types, '12DCZ', 'the answer to Warden\'s own Describe never reaches the caller');
      assertMaskedRow(r.rows[0]);
      assertClean(r.bytes, 'the raw answer');
    } finally {
      socket.end();
    }
  });

  test('after an earlier 4-column int4 result, the next Describe-less portal gets its own shape', async () => {
    const socket = await rawLogin();
    try {
      const r = await exchange(socket, Buffer.concat([
        serialize.parse({ text: 'SELECT 1, 2, 3, 4' }), serialize.bind({}), serialize.describe({ type: 'P' }), serialize.execute({}),
        serialize.sync(),
        serialize.parse({ text: CUSTOMERS }), serialize.bind({}), serialize.execute({}), serialize.sync(),
        serialize.bind({}), serialize.execute({}), serialize.sync(),
      ]), 3);
      assert.equal(r.types, '12TDCZ' + '12DCZ' + '2DCZ');
      assert.deepEqual(r.rows[0], ['1', '2', '3', '4']);
      assertMaskedRow(r.rows[1]);
      assertMaskedRow(r.rows[2]);
      assertClean(r.bytes, 'the raw answer');
    } finally {
      socket.end();
    }
  });

  test('two named portals interleaved, row limits with PortalSuspended, then Execute again after Sync', async () => {
    const socket = await rawLogin();
    try {
      const r = await exchange(socket, Buffer.concat([
        serialize.query('BEGIN'),
        serialize.parse({ name: 's1', text: `${CUSTOMERS} CROSS JOIN generate_series(1, 3)` }),
        serialize.parse({ name: 's2', text: 'SELECT g, g, g, g FROM generate_series(1, 3) g' }),
        serialize.bind({ portal: 'p1', statement: 's1' }), serialize.bind({ portal: 'p2', statement: 's2' }),
        serialize.execute({ portal: 'p1', rows: 1 }), serialize.execute({ portal: 'p2', rows: 1 }),
        serialize.execute({ portal: 'p1', rows: 1 }), serialize.execute({ portal: 'p2', rows: 1 }),
        serialize.sync(),
        serialize.execute({ portal: 'p1', rows: 0 }), serialize.execute({ portal: 'p2', rows: 0 }), serialize.sync(),
        serialize.query('COMMIT'),
      ]), 4);
      const errors = r.messages.filter((m) => m.type === 'E').map((m) => m.body.toString('latin1'));
      assert.equal(r.types, 'CZ' + '1122DsDsDsDsZ' + 'DCDCZ' + 'CZ', errors.join('; '));
      const customerRows = r.rows.filter((row) => row[0] === 'Alice');
      assert.equal(customerRows.length, 3);
      for (const row of customerRows) assertMaskedRow(row);
      assert.deepEqual(r.rows.filter((row) => row[0] !== 'Alice'), [['1', '1', '1', '1'], ['2', '2', '2', '2'], ['3', '3', '3', '3']]);
      assertClean(r.bytes, 'the raw answer');
    } finally {
      socket.end();
    }
  });

  test('cursors: FETCH in simple queries and Execute of a DECLAREd portal without Bind', async () => {
    const socket = await rawLogin();
    try {
      const r = await exchange(socket, Buffer.concat([
        serialize.query(`BEGIN; DECLARE c1 CURSOR FOR ${CUSTOMERS}; FETCH 1 FROM c1`),
        serialize.query(`DECLARE c2 CURSOR FOR SELECT upper(ssn) AS u, ssn FROM customers`),
        serialize.execute({ portal: 'c2', rows: 0 }), serialize.sync(),
        serialize.query('FETCH ALL FROM c1; CLOSE c1; COMMIT'),
      ]), 4);
      assertMaskedRow(r.rows[0]);
      assert.deepEqual(r.rows[1], ['[REDACTED]', '[REDACTED]']);
      assertClean(r.bytes, 'the raw answer');
    } finally {
      socket.end();
    }
  });

  test('node-postgres with array rows and prepared statements', async () => {
    const c = await stack.client({ user: 'mia', password: token });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await c.query({ name: 'cust', text: `${CUSTOMERS} WHERE id = $1`, values: [1], rowMode: 'array' });
        assertMaskedRow(r.rows[0] as string[]);
      }
    } finally {
      await c.end();
    }
  });
});

/** Runs `sql` through Warden with node-postgres: the rows, or the error (with its texts). */
async function attempt(sql: string): Promise<{ rows?: unknown[]; error?: pg.DatabaseError }> {
  const c = await stack.client({ user: 'mia', password: token });
  try {
    return { rows: (await c.query({ text: sql, rowMode: 'array' })).rows };
  } catch (err) {
    return { error: err as pg.DatabaseError };
  } finally {
    await c.end().catch(() => {});
  }
}

describe('derived values', () => {
  test('values computed from masked columns are masked whole', async () => {
    for (const sql of [
      "SELECT translate(ssn, '9876543210', 'jihgfedcba') FROM customers",
      "SELECT to_hex(replace(ssn, '-', '')::bigint) FROM customers",
      'SELECT ssn::bytea FROM customers',
      "SELECT encode(ssn::bytea, 'base64'), encode(ssn::bytea, 'hex') FROM customers",
      "SELECT ssn || '' FROM customers", 'SELECT upper(ssn), reverse(ssn) FROM customers',
      'SELECT json_agg(ssn) FROM customers', "SELECT json_build_object('s', ssn) FROM customers",
      'SELECT x FROM (SELECT upper(ssn) AS x FROM customers) s',
      'WITH w AS (SELECT ssn AS s FROM customers) SELECT lower(s) FROM w',
      'SELECT t.* FROM (SELECT ssn || \'\' AS s FROM customers) t',
      'SELECT (SELECT ssn FROM customers LIMIT 1)',
      "SELECT ssn FROM customers UNION ALL SELECT 'x'",
      'SELECT a FROM (SELECT ssn FROM customers) s(a) ORDER BY 1',
    ]) {
      const r = await attempt(sql);
      assert.equal(r.error, undefined, `${sql}: ${r.error?.message}`);
      assert.ok((r.rows ?? []).length > 0, sql);
      assertClean(JSON.stringify(r.rows), sql);
    }
  });

  test('derived values that cannot be masked, copies elsewhere and side channels are refused before they run', async () => {
    for (const [sql, message] of [
      ['SELECT reverse(email) FROM customers', /partial/],
      // Equal hash tokens of derived values would be an oracle on any part: a digit next to a literal guess.
      ["SELECT substr(card_number, 1, 1) FROM customers UNION ALL SELECT '4'", /masked with "hash".*refused/],
      ["SELECT substr(card_number, 1, 8) || '-' || substr(card_number, 9, 8) FROM customers", /"hash"/],
      ["SELECT replace(email, '@', ' at ') FROM customers", /partial/],
      ['SELECT row_to_json(c) FROM customers c', /"(partial|hash)"/],
      ["SELECT table_to_xml('customers', true, false, '')", /table_to_xml\(\) reads relations/],
      ["SELECT pg_notify('leak', ssn) FROM customers", /pg_notify\(\) is not a built-in function Warden knows to be pure/],
      ["SELECT set_config('my.v', ssn, false) FROM customers", /set_config\(\)/],
      ["SELECT histogram_bounds::text, most_common_vals::text FROM pg_stats WHERE tablename = 'customers'", /pg_stats holds values/],
      ['SELECT * FROM pg_catalog.pg_statistic', /pg_statistic holds values/],
      ['INSERT INTO copies SELECT ssn FROM customers', /copies masked column "ssn"/],
      ['INSERT INTO copies SELECT upper(x) FROM (SELECT ssn AS x FROM customers) s', /copies masked column/],
      ['UPDATE customers SET name = ssn WHERE id = 1', /copies masked column "ssn"/],
      ['CREATE TABLE leak1 AS SELECT ssn FROM customers', /CreateTableAs naming a masked column is refused/],
      ['SELECT ssn INTO leak2 FROM customers', /copies masked column "ssn"/],
      ['CREATE VIEW leak3 AS SELECT upper(ssn) AS u FROM customers', /View naming a masked column is refused/],
      ["CREATE FUNCTION leak4() RETURNS text LANGUAGE sql AS $$ SELECT ssn FROM customers $$", /CREATE FUNCTION\/PROCEDURE is refused/],
      ["DO $$ BEGIN EXECUTE 'INSERT INTO copies SELECT s' || 'sn FROM customers'; END $$", /DO is refused/],
      ["COPY customers (ssn) TO STDOUT (NULL '999-99-9999')", /NULL string of its own is refused/],
    ] as const) {
      const r = await attempt(sql);
      assert.ok(r.error, `${sql} ran: ${JSON.stringify(r.rows)}`);
      assert.equal(r.error.code, '42501', `${sql}: ${r.error.message}`);
      assert.match(r.error.message, message, sql);
      assertClean(JSON.stringify({ ...r.error, message: r.error.message }), sql);
    }
    // Nothing ran on the real server.
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM copies')).rows[0].n, 0);
    assert.equal((await admin.query('SELECT name FROM customers')).rows[0].name, 'Alice');
    const made = await admin.query("SELECT relname FROM pg_class WHERE relname IN ('leak1', 'leak2', 'leak3')");
    assert.deepEqual(made.rows, []);
    assert.deepEqual((await admin.query("SELECT proname FROM pg_proc WHERE proname = 'leak4'")).rows, []);
  });

  test('errors that echo a masked value are masked; columns themselves still work', async () => {
    for (const sql of ["SELECT replace(ssn, '-', '')::smallint FROM customers", 'SELECT ssn::int FROM customers',
      "SELECT 1 FROM customers WHERE ssn::date IS NULL"]) {
      const r = await attempt(sql);
      assert.ok(r.error, sql);
      assert.match(r.error.code ?? '', /^22/, sql);
      assertClean(`${r.error.message} ${r.error.detail ?? ''} ${r.error.where ?? ''}`, sql);
    }
    const ok = await attempt('SELECT id, name, ssn, card_number FROM customers WHERE ssn IS NOT NULL');
    assert.equal((ok.rows as unknown[][])[0][1], 'Alice');
    assert.equal((ok.rows as unknown[][])[0][2], '[REDACTED]');
  });

  test('differential: no value computed from a masked column comes through as the server computes it (generated)', async () => {
    const expressions = ['upper(ssn)', "ssn || ''", 'reverse(ssn)', "translate(ssn, '9876543210', 'jihgfedcba')",
      "substr(card_number, 3, 12)", "replace(card_number, '1', 'x')", "encode(card_number::bytea, 'base64')", 'md5(ssn)',
      'to_hex(length(ssn) * 1000003)', "lpad(ssn, 20, '*')", "split_part(ssn, '-', 3)", "regexp_replace(ssn, '-', '', 'g')",
      "ssn::bytea::text", "array_to_string(ARRAY[ssn, ssn], ',')", 'json_agg(ssn)::text', "json_build_object('v', card_number)::text",
      'string_agg(ssn, \',\')', "format('%s!', card_number)", "concat(ssn, ssn)", 'left(card_number, 15)', 'ascii(ssn)'];
    const wrappers = [
      (e: string) => `SELECT ${e} AS v FROM customers`,
      (e: string) => `SELECT v FROM (SELECT ${e} AS v FROM customers) s`,
      (e: string) => `WITH w AS (SELECT ${e} AS v FROM customers) SELECT v FROM w`,
      (e: string) => `SELECT (SELECT ${e} FROM customers LIMIT 1) AS v`,
      (e: string) => `SELECT v FROM (SELECT ${e} AS v FROM customers UNION ALL SELECT NULL) s WHERE v IS NOT NULL`,
    ];
    let checked = 0;
    for (const wrap of wrappers) {
      for (const e of expressions) {
        const sql = wrap(e);
        const direct = await admin.query({ text: sql, rowMode: 'array' }).catch(() => null);
        if (direct === null) continue;
        const clear = direct.rows.flat().map(String).filter((v) => v.length >= 3);
        const through = await attempt(sql);
        const out = JSON.stringify(through.rows ?? through.error?.message ?? '');
        for (const v of clear) assert.equal(out.includes(v), false, `${sql} returned ${v} as the server computed it: ${out}`);
        checked++;
      }
    }
    assert.ok(checked >= expressions.length * wrappers.length - 5, `only ${checked} statements ran`);
  });

  test('views made by someone else are resolved through their definitions', async () => {
    const r = await attempt('SELECT * FROM v_cust');
    assert.equal(r.error, undefined, r.error?.message);
    const [id, u, plain, e, reversed, hex] = (r.rows as string[][])[0];
    assert.equal(id, 1);
    assert.deepEqual([u, plain, reversed], ['[REDACTED]', '[REDACTED]', '[REDACTED]']);
    assert.equal(e, '***@example.com', 'a plain reference keeps its column\'s partial strategy');
    assert.equal(hex, '[REDACTED]', 'a value derived from a hashed column is redacted, not hashed');
    assertClean(JSON.stringify(r.rows), 'the view');
    // A view over that view, made by the masked caller itself: its definition names no masked column, but what it
    // reads through the inner view does.
    const made = await attempt('CREATE VIEW v_outer AS SELECT u AS a, s AS b, r AS c, name FROM v_cust JOIN customers USING (id)');
    assert.equal(made.error, undefined, made.error?.message);
    const outer = await attempt('SELECT a, b, c, name FROM v_outer');
    assert.equal(outer.error, undefined, outer.error?.message);
    const [a, b, c] = (outer.rows as string[][])[0];
    assert.deepEqual([a, b, c], ['[REDACTED]', '[REDACTED]', '[REDACTED]']);
    assertClean(JSON.stringify(outer.rows), 'the view over a view');
  });

  test('a NOTIFY payload another session sends with a masked value is masked whole', async () => {
    const c = await stack.client({ user: 'mia', password: token });
    try {
      await c.query('LISTEN feed');
      const got = new Promise<pg.Notification>((resolve) => c.once('notification', resolve));
      await admin.query("SELECT pg_notify('feed', ssn) FROM customers");
      const n = await got;
      assert.equal(n.channel, 'feed');
      assert.equal(n.payload, '[REDACTED]');
    } finally {
      await c.end();
    }
  });

  test('one catalog connection for every masked session of a target', async () => {
    const clients = await Promise.all([1, 2, 3].map(() => stack.client({ user: 'mia', password: token })));
    try {
      await Promise.all(clients.map((c) => c.query(CUSTOMERS)));
      const r = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'warden-catalog'");
      assert.equal(r.rows[0].n, 1);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  test('psql sees the same', async () => {
    const r = await stack.psql(['-c', "SELECT translate(ssn, '9876543210', 'jihgfedcba'), name FROM customers"], { user: 'mia', token });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '[REDACTED]|Alice');
    // psql's FETCH_COUNT reads through a cursor (or in chunks, on newer psql): the rows are masked either way.
    const fetched = await stack.psql(['-v', 'FETCH_COUNT=1', '-c', "SELECT upper(ssn), ssn, name FROM customers"], { user: 'mia', token });
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.equal(fetched.stdout.trim(), '[REDACTED]|[REDACTED]|Alice');
    // A statement prepared in SQL and executed later, in SQL and over the extended protocol.
    const prepared = await stack.psql(['-c', 'PREPARE p AS SELECT upper(ssn), reverse(ssn) FROM customers',
      '-c', 'EXECUTE p'], { user: 'mia', token });
    assert.equal(prepared.code, 0, prepared.stderr);
    assert.match(prepared.stdout, /^\[REDACTED\]\|\[REDACTED\]$/m);
    assertClean(prepared.stdout, 'EXECUTE');
    const c = await stack.client({ user: 'mia', password: token });
    try {
      await c.query('PREPARE q AS SELECT upper(ssn) AS u FROM customers');
      const r = await c.query({ text: 'EXECUTE q', values: [] });
      assert.deepEqual(r.rows, [{ u: '[REDACTED]' }]);
    } finally {
      await c.end();
    }
    const refused = await stack.psql(['-c', 'INSERT INTO copies SELECT ssn FROM customers'], { user: 'mia', token });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /copies masked column "ssn"/);
  });

  test('the recording never holds a clear value', async () => {
    await new Promise((r) => setTimeout(r, 400));
    const sessions = JSON.parse((await stack.warden.cli(['sessions', 'list', '--json', '--subject', 'mia'])).stdout) as { id: string }[];
    assert.ok(sessions.length > 5);
    for (const s of sessions) {
      const shown = await stack.warden.cli(['sessions', 'show', s.id, '--json']);
      assertClean(shown.stdout, `recording of session ${s.id}`);
    }
    for (const file of await fs.readdir(stack.warden.dataDir)) {
      const stat = await fs.stat(path.join(stack.warden.dataDir, file));
      if (stat.isFile()) assertClean(await fs.readFile(path.join(stack.warden.dataDir, file)), file);
    }
  });
});

describe('a rule that masks by type follows no value through an expression: such results are refused (issue 9)', () => {
  test('psql under a date rule: whole columns masked, computed ones refused, in-place arithmetic allowed, nothing leaks', async () => {
    const typed = await stack.token('tess', '--groups', 'typed');
    const run = (sql: string) => stack.psql(['-A', '-t', '-c', sql], { user: 'tess', token: typed });
    const whole = await run('SELECT id, birth FROM people');
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal(whole.stdout.trim(), '1|', 'the date column itself is masked by its type (null)');
    for (const sql of ['SELECT birth::text FROM people', "SELECT to_char(birth, 'YYYY-MM-DD') FROM people",
      'SELECT extract(year FROM birth) FROM people', 'SELECT birth - 0 FROM people', "SELECT json_build_object('b', birth) FROM people",
      "SELECT birth FROM people UNION ALL SELECT NULL"]) {
      const r = await run(sql);
      assert.notEqual(r.code, 0, sql);
      assert.match(r.stderr, /masks values by column type \(date\)/, sql);
      assert.doesNotMatch(r.stdout + r.stderr, /1987|06-05/, sql);
    }
    const copy = await run('UPDATE people SET note = birth WHERE id = 1');
    assert.match(copy.stderr, /copying a column's value elsewhere is refused/);
    const bump = await run('UPDATE people SET visits = visits + 1 WHERE id = 1');
    assert.equal(bump.code, 0, bump.stderr);
    const { rows } = await admin.query('SELECT visits, note FROM public.people WHERE id = 1');
    assert.deepEqual(rows, [{ visits: 1, note: '' }], 'the counter moved; the refused copy never reached the server');
  });
});
