/**
 * End to end: the tools people already run work through Warden under read-only policies, because the analyser
 * knows what they really send (pg_dump's pinned `set_config`, `LOCK ... IN ACCESS SHARE MODE`, catalog queries),
 * never because a tool's name is allowed. Real pg_dump, pg_dumpall and psql against a real Warden process and a real
 * PostgreSQL: a dump through Warden is byte-for-byte the dump taken directly, restores into another database that
 * dumps the same, psql's meta-commands print what they print directly, and the dangerous settings those tools never
 * need stay refused however they are spelt.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { GUARDRAILS_YAML } from '../src/policy/test-fixtures.js';
import { LARGE_OBJECT_FUNCTIONS } from '../src/protocols/postgres/fastpath.js';
import { runProcess, type ProcessResult } from './harness/process.js';
import { startStack, type Stack } from './harness/stack.js';

/** Targets named like the server's databases (pg_dumpall connects to each by its name): reads only. */
const DATABASES = ['app', 'other', 'postgres', 'template1'];
const READ_ONLY = `kind: Policy
name: read-only
rules:
  - name: nothing-but-reads
    targets: ${JSON.stringify(DATABASES)}
    match: { classes: [write, ddl, destructive, privilege, admin, unknown] }
    effect: deny
    message: this target is read-only
  - name: reads
    targets: ${JSON.stringify(DATABASES)}
    match: { classes: [read] }
    effect: allow
`;
/** The README's guardrails example as written (it covers `pg-main`), and the read-only targets. */
const POLICY = `${GUARDRAILS_YAML}---\n${READ_ONLY}`;
const KEY = 'wardenToolsTestRestrictKey';

/** Objects of every kind pg_dump writes, owned by the target's role, with awkward values. */
const SCHEMA = `
SET ROLE warden_scram;
CREATE SCHEMA shop;
CREATE TYPE shop.mood AS ENUM ('happy', 'sad');
CREATE DOMAIN shop.posint AS integer CHECK (VALUE > 0);
CREATE TABLE shop.customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, mood shop.mood,
  qty shop.posint, created timestamptz DEFAULT '2024-01-02 03:04:05+00');
CREATE TABLE shop.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id int REFERENCES shop.customers(id) ON DELETE CASCADE, total numeric(10,2), note text);
CREATE INDEX orders_customer ON shop.orders (customer_id);
CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE total > 100;
CREATE MATERIALIZED VIEW shop.totals AS SELECT customer_id, sum(total) AS s FROM shop.orders GROUP BY 1;
CREATE SEQUENCE shop.counter START 42;
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := upper(NEW.note); RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE INSERT ON shop.orders FOR EACH ROW EXECUTE FUNCTION shop.touch();
CREATE FUNCTION shop.add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
COMMENT ON TABLE shop.customers IS 'people who buy';
CREATE TABLE shop.events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE shop.events_2024 PARTITION OF shop.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON shop.orders USING (true);
INSERT INTO shop.customers (name, email, mood, qty) VALUES ('Alice', 'alice@example.com', 'happy', 3),
  ('Bob', E'bob\\t"x"\\\\y', 'sad', 1);
INSERT INTO shop.orders (customer_id, total, note) VALUES (1, 120.50, 'big'), (2, 9.99, NULL);
INSERT INTO shop.events VALUES (1, '2024-05-01');
REFRESH MATERIALIZED VIEW shop.totals;
SELECT setval('shop.counter', 50);
CREATE TABLE public.plain (k text PRIMARY KEY, v jsonb, b bytea);
INSERT INTO public.plain VALUES ('a', '{"x": [1, 2]}', '\\xdeadbeef');
GRANT SELECT ON shop.orders TO PUBLIC;
SELECT lo_from_bytea(0, 'a large object, read by pg_dump through the fast-path protocol');
`;

let stack: Stack;
let token: string;
let workDir: string;

before(async () => {
  stack = await startStack({ policy: POLICY });
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'warden-tools-'));
  for (const name of DATABASES) {
    const r = await stack.warden.cli(['targets', 'add', name, '--type', 'postgres', '--host', stack.pg.host, '--port',
      String(stack.pg.port), '--database', name, '--user', stack.pg.scram.user, '--password-stdin', '--tls', 'disable'],
    { stdin: stack.pg.scram.password });
    assert.equal(r.code, 0, r.stderr);
  }
  await superuserQuery('app', SCHEMA);
  token = await stack.token('alice');
});

after(async () => {
  await stack?.stop();
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
});

/** Runs a statement as the superuser over the unix socket (setup and checks, never through Warden). */
async function superuserQuery(database: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Runs a libpq tool through Warden as alice (database = target name). */
function viaWarden(tool: string, database: string, args: string[]): Promise<ProcessResult> {
  return runProcess(tool, ['-h', '127.0.0.1', '-p', String(stack.warden.ports.postgres), '-U', 'alice', ...dbArgs(tool, database), ...args],
    { env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'require', PGCONNECT_TIMEOUT: '10' } });
}

/** Runs a libpq tool directly against PostgreSQL as the target's own role (what Warden logs in as). */
function direct(tool: string, database: string, args: string[]): Promise<ProcessResult> {
  return runProcess(tool, ['-h', stack.pg.host, '-p', String(stack.pg.port), '-U', stack.pg.scram.user, ...dbArgs(tool, database), ...args],
    { env: { ...process.env, PGPASSWORD: stack.pg.scram.password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' } });
}

function dbArgs(tool: string, database: string): string[] {
  return tool === 'pg_dumpall' ? ['-l', database] : ['-d', database];
}

function ok(r: ProcessResult, what: string): string {
  assert.equal(r.code, 0, `${what} failed: ${r.stderr}`);
  assert.equal(r.stderr, '', `${what} warned`);
  return r.stdout;
}

describe('pg_dump through Warden', () => {
  test('a plain dump under the read-only policy is the dump taken directly, and restores to an equal database', async (t) => {
    const dumped = ok(await viaWarden('pg_dump', 'app', ['--restrict-key', KEY]), 'pg_dump through Warden');
    const reference = ok(await direct('pg_dump', 'app', ['--restrict-key', KEY]), 'direct pg_dump');
    assert.ok(dumped.includes('COPY shop.customers') && dumped.includes('alice@example.com'), 'the dump holds the data');
    assert.equal(dumped, reference);

    await superuserQuery('postgres', 'CREATE DATABASE restored OWNER warden_scram');
    t.after(() => superuserQuery('postgres', 'DROP DATABASE restored'));
    const file = path.join(workDir, 'app.sql');
    await fs.writeFile(file, dumped);
    const restore = await runProcess('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', stack.pg.socketDir, '-p',
      String(stack.pg.port), '-U', stack.pg.superuser, '-d', 'restored', '-f', file]);
    assert.equal(restore.code, 0, restore.stderr);
    const again = ok(await direct('pg_dump', 'restored', ['--restrict-key', KEY]), 'pg_dump of the restored copy');
    assert.equal(again, reference);
    const rows = await superuserQuery('restored', 'SELECT name, email FROM shop.customers ORDER BY id');
    assert.deepEqual(rows.rows, [{ name: 'Alice', email: 'alice@example.com' }, { name: 'Bob', email: 'bob\t"x"\\y' }]);
    const blob = await superuserQuery('restored', "SELECT convert_from(lo_get(oid), 'UTF8') AS v FROM pg_largeobject_metadata");
    assert.deepEqual(blob.rows, [{ v: 'a large object, read by pg_dump through the fast-path protocol' }]);
  });

  test('the custom format with parallel-safe directory dumps too, and pg_restore gives an equal database', async (t) => {
    const archive = path.join(workDir, 'app.dump');
    ok(await viaWarden('pg_dump', 'app', ['-Fc', '-f', archive]), 'pg_dump -Fc through Warden');
    ok(await viaWarden('pg_dump', 'app', ['-Fd', '-j', '2', '-f', path.join(workDir, 'app.dir')]), 'pg_dump -Fd -j 2 through Warden');
    await superuserQuery('postgres', 'CREATE DATABASE restored_c OWNER warden_scram');
    t.after(() => superuserQuery('postgres', 'DROP DATABASE restored_c'));
    const restore = await runProcess('pg_restore', ['-h', stack.pg.socketDir, '-p', String(stack.pg.port), '-U',
      stack.pg.superuser, '-d', 'restored_c', '--exit-on-error', archive]);
    assert.equal(restore.code, 0, restore.stderr);
    const reference = ok(await direct('pg_dump', 'app', ['--restrict-key', KEY]), 'direct pg_dump');
    assert.equal(ok(await direct('pg_dump', 'restored_c', ['--restrict-key', KEY]), 'pg_dump of the restored copy'), reference);
  });

  test('large objects are reached by built-in function OIDs that the server names as Warden does', async () => {
    const rows = await superuserQuery('app', `SELECT oid::int AS oid, proname FROM pg_proc
      WHERE oid = ANY('{${[...LARGE_OBJECT_FUNCTIONS.keys()].join(',')}}'::oid[]) ORDER BY oid`);
    assert.deepEqual(rows.rows, [...LARGE_OBJECT_FUNCTIONS].sort((a, b) => a[0] - b[0]).map(([oid, proname]) => ({ oid, proname })));
  });

  test('--schema-only works under the guardrails example and under the read-only policy', async () => {
    const reference = ok(await direct('pg_dump', 'app', ['--schema-only', '--restrict-key', KEY]), 'direct pg_dump');
    assert.ok(reference.includes('CREATE TABLE shop.customers') && !reference.includes('alice@example.com'));
    for (const target of ['pg-main', 'app']) {
      const dumped = ok(await viaWarden('pg_dump', target, ['--schema-only', '--restrict-key', KEY]), `pg_dump via ${target}`);
      assert.equal(dumped, reference, target);
    }
  });

  test('pg_dumpall --schema-only, as a role that may, gives what it gives directly', async () => {
    const args = ['--schema-only', '--no-role-passwords', '--restrict-key', KEY];
    const reference = ok(await direct('pg_dumpall', 'app', args), 'direct pg_dumpall');
    const dumped = ok(await viaWarden('pg_dumpall', 'app', args), 'pg_dumpall through Warden');
    assert.ok(dumped.includes('\\connect other') && dumped.includes('CREATE TABLE shop.orders'));
    assert.equal(dumped, reference);
  });
});

describe('large objects through the fast-path protocol', () => {
  test('\\lo_import, \\lo_export and \\lo_unlink work where the guardrails allow writes', async () => {
    const source = path.join(workDir, 'blob.txt');
    const copy = path.join(workDir, 'blob-out.txt');
    await fs.writeFile(source, 'through Warden, in both directions\n');
    const imported = ok(await viaWarden('psql', 'pg-main', ['-X', '-c', `\\lo_import ${source}`]), 'lo_import');
    const oid = /^lo_import (\d+)$/m.exec(imported)?.[1];
    assert.ok(oid, imported);
    const stored = await superuserQuery('app', `SELECT convert_from(lo_get(${oid}), 'UTF8') AS v`);
    assert.deepEqual(stored.rows, [{ v: 'through Warden, in both directions\n' }]);
    ok(await viaWarden('psql', 'pg-main', ['-X', '-c', `\\lo_export ${oid} ${copy}`]), 'lo_export');
    assert.equal(await fs.readFile(copy, 'utf8'), 'through Warden, in both directions\n');
    ok(await viaWarden('psql', 'pg-main', ['-X', '-c', `\\lo_unlink ${oid}`]), 'lo_unlink');
    const left = await superuserQuery('app', `SELECT count(*)::int AS n FROM pg_largeobject_metadata WHERE oid = ${oid}`);
    assert.deepEqual(left.rows, [{ n: 0 }]);
  });
});

describe('psql meta-commands through Warden', () => {
  test('print under the read-only policy what they print directly', async () => {
    const commands = ['\\d', '\\dt shop.*', '\\d+ shop.customers', '\\d shop.totals', '\\d+ shop.events', '\\d shop.counter',
      '\\df shop.*', '\\df+ shop.add', '\\dn+', '\\du', '\\dg', '\\l', '\\dv shop.*', '\\di shop.*', '\\ds shop.*',
      '\\dT+ shop.*', '\\dD shop.*', '\\dp shop.*', '\\dx', '\\dm shop.*', '\\dd shop.*', '\\dL', '\\dy', '\\drds',
      '\\sf shop.add', '\\sv shop.big_orders', '\\x', 'SELECT * FROM shop.customers ORDER BY id', '\\x',
      '\\dP shop.*', '\\ddp', '\\z shop.orders'];
    const args = ['-X', '-v', 'ON_ERROR_STOP=1', ...commands.flatMap((c) => ['-c', c])];
    const reference = await direct('psql', 'app', args);
    const through = await viaWarden('psql', 'app', args);
    assert.equal(reference.code, 0, reference.stderr);
    assert.match(reference.stdout, /Table "shop\.customers"/);
    assert.match(reference.stdout, /-\[ RECORD 1 \]/);
    assert.deepEqual(through, reference); // exit code, output and messages (\drds: "Did not find any settings.")
  });
});

describe('dangerous settings stay refused on the same read-only target', () => {
  const refused: [string, RegExp][] = [
    ["SELECT set_config(name, 'replica', false) FROM pg_settings WHERE name = 'session_replication_role'", /read-only/],
    ["SELECT set_config(name, 'postgres', false) FROM pg_settings WHERE name = 'role'", /read-only/],
    ["SELECT set_config('ROLE', 'postgres', false)", /read-only/],
    ["SELECT set_config(s.name, 'x', false) FROM pg_settings s WHERE s.name LIKE 'rol%'", /cannot run through Warden/],
    ["SELECT set_config(name, 'off', false) FROM pg_settings WHERE name = 'standard_conforming_strings'", /standard_conforming_strings/],
    ['SET session_replication_role = replica', /read-only/],
    ['SET "Role" TO postgres', /read-only/],
    ['LOCK TABLE shop.orders IN EXCLUSIVE MODE', /read-only/],
    ['LOCK shop.orders', /read-only/],
    // libpq's lo_import creates and writes a large object through fast-path calls (lo_creat, lowrite).
    [`\\lo_import ${fileURLToPath(new URL('../package.json', import.meta.url))}`, /read-only/],
  ];
  for (const [sql, message] of refused) {
    test(sql, async () => {
      // One session: the refused statement, then what the session's role and replication role are afterwards.
      const r = await viaWarden('psql', 'app', ['-X', '-At', '-c', sql, '-c', 'SHOW session_replication_role',
        '-c', 'SELECT current_user']);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /WARDEN_ERR_ACCESS_DENIED/);
      assert.equal(r.stdout, `origin\n${stack.pg.scram.user}\n`, 'the refused statement changed nothing');
      const objects = await superuserQuery('app', 'SELECT count(*)::int AS n FROM pg_largeobject_metadata');
      assert.deepEqual(objects.rows, [{ n: 1 }], 'no large object was created');
    });
  }
});
