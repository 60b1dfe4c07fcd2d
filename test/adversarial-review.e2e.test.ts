/**
 * End to end: attacks from the adversarial review of the issue 9 and 10 fixes that worked, kept as regression
 * tests (see notes/h7-review.md for every attack tried). Real PostgreSQL behind a real `warden start`, driven by the
 * raw protocol client and psql, under the guardrails policy (writes by `agents` need approval; destructive and
 * unknown denied) plus masking for the `masked` group, which may also run DDL (masking must hold on its own).
 * Each test checks its effect on the real server or on every byte the caller received.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { errorFields, query, rawLogin, type RawMessage, type RawSession } from './harness/raw-pg.js';
import { startStack, type Stack } from './harness/stack.js';
import { guardrailRules } from '../src/policy/test-fixtures.js';

const SSN = '123-45-6789';
const POLICY = `kind: Policy
name: review
rules:
${guardrailRules('destructive statements are blocked')}  - name: masked-may-define
    targets: ["pg-*"]
    subjects: { groups: [masked] }
    match: { classes: [ddl] }
    effect: allow
  - name: reads-and-writes
    targets: ["pg-*"]
    match: { classes: [read, write] }
    effect: allow
  - name: mask
    targets: ["pg-*"]
    subjects: { groups: [masked] }
    mask:
      - columns: ["public.customers.ssn"]
        strategy: redact
`;

let stack: Stack;
let admin: pg.Client;
let agentToken: string;
let maskedToken: string;

before(async () => {
  stack = await startStack({ policy: POLICY });
  admin = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database: 'app' });
  await admin.connect();
  const owner = stack.pg.scram.user;
  await admin.query(`CREATE TABLE victim (id int PRIMARY KEY, v text);
    INSERT INTO victim SELECT i, 'row ' || i FROM generate_series(1, 3) i;
    CREATE TABLE public.customers (id int PRIMARY KEY, name text, ssn text);
    INSERT INTO public.customers VALUES (1, 'Alice', '${SSN}');
    ALTER TABLE victim OWNER TO ${owner};
    ALTER TABLE public.customers OWNER TO ${owner};
    GRANT CREATE ON SCHEMA public TO ${owner}`);
  agentToken = await stack.token('agent7', '--groups', 'agents');
  maskedToken = await stack.token('mia', '--groups', 'masked');
});
after(async () => {
  await admin?.end();
  await stack?.stop();
});

async function victim(): Promise<string[]> {
  return (await admin.query('SELECT v FROM victim ORDER BY id')).rows.map((r) => r.v as string);
}

function texts(messages: RawMessage[]): string {
  return messages.map((m) => (m.type === 'E' || m.type === 'N' ? `${m.type}(${errorFields(m).M})` : m.type)).join(' ');
}

/** Sends `bytes` and reads up to the next ReadyForQuery, or up to a NOTICE (an approval wait) when `orNotice`. */
async function round(s: RawSession, bytes: Buffer[], orNotice = false): Promise<RawMessage[]> {
  s.write(Buffer.concat(bytes));
  const seen: RawMessage[] = [];
  for (;;) {
    const m = await s.next();
    if (m === null) return seen;
    seen.push(m);
    if (m.type === 'Z' || (orNotice && m.type === 'N')) return seen;
  }
}

const UPDATE = "UPDATE victim SET v = 'pwned' WHERE id = 1";

describe('prepared statement names mean to Warden what they mean to the server', () => {
  test('a second Parse of a taken name (the server refuses it) does not replace what a Bind is judged as', async () => {
    const s = await rawLogin(stack.warden.ports.postgres, 'agent7', stack.target, agentToken);
    try {
      assert.equal(texts(await round(s, [serialize.parse({ name: 's1', text: UPDATE }), serialize.sync()])), '1 Z');
      assert.match(texts(await round(s, [serialize.parse({ name: 's1', text: 'SELECT 1' }), serialize.sync()])), /already exists/);
      const run = texts(await round(s, [serialize.bind({ statement: 's1' }), serialize.execute({}), serialize.sync()], true));
      assert.match(run, /^N\(Warden: this statement needs approval/, `the Bind runs the UPDATE: it needs approval (${run})`);
    } finally {
      s.socket.destroy();
    }
    assert.deepEqual(await victim(), ['row 1', 'row 2', 'row 3']);
  });

  test('a Close the server skipped after an error in its batch does not free the name', async () => {
    const s = await rawLogin(stack.warden.ports.postgres, 'agent7', stack.target, agentToken);
    try {
      assert.equal(texts(await round(s, [serialize.parse({ name: 's2', text: UPDATE }), serialize.sync()])), '1 Z');
      const failed = await round(s, [serialize.parse({ text: 'SELECT 1/0' }), serialize.bind({}), serialize.execute({}),
        serialize.close({ type: 'S', name: 's2' }), serialize.sync()]);
      assert.match(texts(failed), /division by zero/);
      // Warden must hold this Parse until it knows the Close was skipped; the server refuses it.
      assert.match(texts(await round(s, [serialize.parse({ name: 's2', text: 'SELECT 1' }), serialize.sync()])), /already exists/);
      const run = texts(await round(s, [serialize.bind({ statement: 's2' }), serialize.execute({}), serialize.sync()], true));
      assert.match(run, /^N\(Warden: this statement needs approval/, run);
    } finally {
      s.socket.destroy();
    }
    assert.deepEqual(await victim(), ['row 1', 'row 2', 'row 3']);
  });

  test('a SQL PREPARE the server refuses (protocol and SQL share the names) does not define what EXECUTE runs', async () => {
    const s = await rawLogin(stack.warden.ports.postgres, 'agent7', stack.target, agentToken);
    try {
      assert.equal(texts(await round(s, [serialize.parse({ name: 'w', text: UPDATE }), serialize.sync()])), '1 Z');
      assert.match(texts(await round(s, [query('PREPARE w AS SELECT 1')])), /already exists/);
      const run = texts(await round(s, [query('EXECUTE w')], true));
      assert.match(run, /^E\(destructive statements are blocked\)/, `EXECUTE of a name in doubt is unknown (${run})`);
      // After the server confirms a DEALLOCATE and a new PREPARE, EXECUTE is judged as that PREPARE.
      assert.match(texts(await round(s, [query('DEALLOCATE w')])), /^C Z$/);
      assert.match(texts(await round(s, [query('PREPARE w AS SELECT 2')])), /^C Z$/);
      assert.match(texts(await round(s, [query('EXECUTE w')])), /^T D C Z$/);
    } finally {
      s.socket.destroy();
    }
    assert.deepEqual(await victim(), ['row 1', 'row 2', 'row 3']);
  });

  test('ordinary drivers still reuse named statements (node-postgres prepared queries)', async () => {
    const c = await stack.client({ user: 'mia', password: maskedToken });
    try {
      const expected = await victim();
      for (let i = 1; i <= 3; i++) {
        const r = await c.query({ name: 'by-id', text: 'SELECT v FROM victim WHERE id = $1', values: [i] });
        assert.equal(r.rows[0].v, expected[i - 1]);
      }
    } finally {
      await c.end();
    }
  });
});

describe('masking knows which statement a name holds on the server', () => {
  const REVERSED = SSN.split('').reverse().join('');
  for (const [how, redefine] of [
    ['a second Parse', serialize.parse({ name: 'q', text: "SELECT 'a'::text AS x" })],
    ['a SQL PREPARE', query("PREPARE q AS SELECT 'a'::text AS x")],
  ] as const) {
    test(`${how} of a taken name does not give the server's statement harmless facts`, async () => {
      const s = await rawLogin(stack.warden.ports.postgres, 'mia', stack.target, maskedToken);
      const seen: Buffer[] = [];
      try {
        const first = await round(s, [serialize.parse({ name: 'q', text: 'SELECT reverse(ssn) AS x FROM customers' }), serialize.sync()]);
        assert.equal(texts(first), '1 Z');
        const second = await round(s, how === 'a SQL PREPARE' ? [redefine] : [redefine, serialize.sync()]);
        assert.match(texts(second), /already exists/);
        const run = await round(s, [serialize.bind({ statement: 'q' }), serialize.execute({}), serialize.sync()]);
        seen.push(...run.map((m) => m.body));
        assert.match(texts(run), /^2 D C Z$/, texts(run));
      } finally {
        s.socket.destroy();
      }
      assert.equal(Buffer.concat(seen).toString('latin1').includes(REVERSED), false, 'the reversed value came through in clear');
    });
  }
});

describe('masking knows which portal a name holds on the server', () => {
  test('a Bind to the name of a DECLAREd cursor (refused by the server) does not give the cursor harmless facts', async () => {
    const REVERSED = SSN.split('').reverse().join('');
    const s = await rawLogin(stack.warden.ports.postgres, 'mia', stack.target, maskedToken);
    const seen: Buffer[] = [];
    try {
      assert.equal(texts(await round(s, [query('DECLARE p CURSOR WITH HOLD FOR SELECT reverse(ssn) AS x FROM customers')])), 'C Z');
      const bind = await round(s, [serialize.parse({ text: "SELECT 'a'::text AS x" }), serialize.bind({ portal: 'p' }), serialize.sync()]);
      assert.match(texts(bind), /already exists/);
      const run = await round(s, [serialize.execute({ portal: 'p' }), serialize.sync()]);
      seen.push(...run.map((m) => m.body));
      await round(s, [query('CLOSE p')]);
    } finally {
      s.socket.destroy();
    }
    assert.equal(Buffer.concat(seen).toString('latin1').includes(REVERSED), false, 'the reversed value came through in clear');
  });
});

describe('masking trusts a built-in name only where the caller cannot redefine it', () => {
  test('an operator or aggregate of the caller bound to lo_from_bytea cannot copy a masked value out', async () => {
    const before = (await admin.query('SELECT count(*)::int AS n FROM pg_largeobject_metadata')).rows[0].n as number;
    const r = await stack.psql([], { user: 'mia', token: maskedToken, stdin: [
      '\\set ON_ERROR_STOP 0',
      'CREATE OPERATOR public.@@@ (LEFTARG = oid, RIGHTARG = bytea, FUNCTION = lo_from_bytea);',
      'SELECT 0::oid @@@ convert_to(ssn, \'UTF8\') FROM customers;',
      "CREATE AGGREGATE public.upper(bytea) (SFUNC = lo_from_bytea, STYPE = oid, INITCOND = '0');",
      "SELECT upper(convert_to(ssn, 'UTF8')) FROM customers;",
      "SELECT encode(lo_get(oid), 'escape') FROM pg_largeobject_metadata;", ''].join('\n') });
    assert.equal(r.stdout.includes(SSN), false, r.stdout);
    assert.match(r.stderr, /callable objects are refused/);
    const exists = await admin.query(`SELECT (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'public'::regnamespace)
      + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace)::int AS n`);
    assert.equal(Number(exists.rows[0].n), 0, 'neither the operator nor the aggregate reached the server');
    const after = (await admin.query('SELECT count(*)::int AS n FROM pg_largeobject_metadata')).rows[0].n as number;
    assert.equal(after, before, 'no large object was written');
  });
});

describe('masking holds against code the database runs on rows', () => {
  test('a trigger with a built-in trigger function copying the masked column into a column of the caller is refused', async () => {
    const r = await stack.psql([], { user: 'mia', token: maskedToken, stdin: [
      '\\set ON_ERROR_STOP 0',
      'ALTER TABLE customers ADD COLUMN tsv tsvector;',
      "CREATE TRIGGER tx BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(tsv, 'pg_catalog.simple', ssn, name);",
      "UPDATE customers SET name = 'Alice B' WHERE id = 1;", 'SELECT tsv::text FROM customers;', ''].join('\n') });
    const triggers = await admin.query("SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'public.customers'::regclass");
    await admin.query("DROP TRIGGER IF EXISTS tx ON customers; ALTER TABLE customers DROP COLUMN IF EXISTS tsv; UPDATE customers SET name = 'Alice' WHERE id = 1");
    assert.equal(r.stdout.includes('6789'), false, r.stdout);
    assert.match(r.stderr, /CREATE TRIGGER is refused/);
    assert.equal(triggers.rows[0].n, 0);
  });
});

describe('masking rules match names the caller cannot change', () => {
  test('renaming the column or table, moving it to another schema or reading it through a parent is refused', async () => {
    const r = await stack.psql([], { user: 'mia', token: maskedToken, stdin: [
      '\\set ON_ERROR_STOP 0',
      'ALTER TABLE customers RENAME COLUMN ssn TO foo;', 'SELECT foo FROM customers;',
      'ALTER TABLE customers RENAME TO people;', 'SELECT ssn FROM people;',
      'CREATE SCHEMA hideout;', 'ALTER TABLE customers SET SCHEMA hideout;', 'SELECT ssn FROM hideout.customers;',
      'CREATE TABLE par (id int, name text, ssn text);', 'ALTER TABLE customers INHERIT par;', 'SELECT ssn FROM par;',
      'SELECT ssn FROM customers;', ''].join('\n') });
    assert.equal(r.stdout.includes(SSN), false, r.stdout);
    assert.equal(r.stderr.match(/renaming or moving tables/g)?.length, 4, r.stderr);
    const columns = await admin.query(`SELECT attname FROM pg_attribute WHERE attrelid = 'public.customers'::regclass
      AND attnum > 0 AND NOT attisdropped ORDER BY attnum`);
    assert.deepEqual(columns.rows.map((c) => c.attname), ['id', 'name', 'ssn']);
    const parents = await admin.query("SELECT count(*)::int AS n FROM pg_inherits WHERE inhrelid = 'public.customers'::regclass");
    assert.equal(parents.rows[0].n, 0);
  });
});

describe('orderings: nothing a caller interleaves freezes its session or slips a row past masking', () => {
  test('a refused Query inside an open extended batch is answered (it waited for answers the server had not flushed)', { timeout: 30_000 }, async () => {
    const s = await rawLogin(stack.warden.ports.postgres, 'mia', stack.target, maskedToken);
    try {
      const answers = await round(s, [serialize.parse({ text: 'SELECT 1' }), query('DELETE FROM victim'), serialize.sync()]);
      assert.match(texts(answers), /^1 E\(destructive statements are blocked\) Z$/);
      assert.equal(texts(await s.until('Z')), 'Z', "the Sync's ReadyForQuery");
      assert.match(texts(await round(s, [query('SELECT 2')])), /^T D C Z$/);
    } finally {
      s.socket.destroy();
    }
    assert.deepEqual((await victim()).length, 3);
  });

  test('generated: random Parse/Bind/Describe/Execute/Close/Flush/Sync and SQL PREPARE, DECLARE, FETCH, EXECUTE interleavings', { timeout: 240_000 }, async () => {
    const REVERSED = SSN.split('').reverse().join('');
    const texts_ = ['SELECT reverse(ssn) AS x FROM customers', "SELECT 'a'::text AS x", 'SELECT ssn AS x FROM customers',
      'SELECT upper(ssn) AS x FROM customers', 'SELECT 1/0 AS x', 'SELECT name AS x FROM customers', 'SELECT $1::text AS x'];
    for (const seed of [11, 12, 13]) {
      const random = lcg(seed);
      const pick = <T>(a: readonly T[]): T => a[Math.floor(random() * a.length)];
      const names = ['', 'a', 'b'];
      const cursor = () => pick(['a', 'b']);
      const messages = [
        () => serialize.parse({ name: pick(names), text: pick(texts_) }),
        () => serialize.bind({ portal: pick(names), statement: pick(names), values: random() < 0.5 ? ['v'] : [] }),
        () => serialize.execute({ portal: pick(names), rows: Math.floor(random() * 3) }),
        () => serialize.describe({ type: random() < 0.5 ? 'P' : 'S', name: pick(names) }),
        () => serialize.close({ type: random() < 0.5 ? 'P' : 'S', name: pick(names) }),
        () => serialize.flush(), () => serialize.sync(),
        () => query(pick([`DECLARE ${cursor()} CURSOR WITH HOLD FOR ${pick(texts_.slice(0, 6))}`, `PREPARE ${cursor()} AS ${pick(texts_)}`,
          `DEALLOCATE ${cursor()}`, `CLOSE ${cursor()}`, `FETCH ALL FROM ${cursor()}`, `EXECUTE ${cursor()}`])),
      ];
      for (let session = 0; session < 8; session++) {
        const s = await rawLogin(stack.warden.ports.postgres, 'mia', stack.target, maskedToken);
        const seen: Buffer[] = [];
        try {
          for (let batch = 0; batch < 8; batch++) {
            const sent = Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(messages)());
            // A final Sync ends the batch; a marker query after it tells when everything before was answered.
            s.write(Buffer.concat([...sent, serialize.sync(), query("SELECT 'END' || 'MARK'")]));
            for (let marked = false; ;) {
              const m = await s.next();
              assert.ok(m, `seed ${seed}: the session ended`);
              seen.push(m.body);
              if (m.type === 'D' && m.body.includes('ENDMARK')) marked = true;
              if (m.type === 'Z' && marked) break;
            }
          }
        } finally {
          s.socket.destroy();
        }
        const all = Buffer.concat(seen).toString('latin1');
        assert.equal(all.includes(SSN) || all.includes(REVERSED), false, `seed ${seed}: a masked value came through`);
      }
    }
  });
});

/** A small deterministic generator (the test must replay the same interleavings). */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}
