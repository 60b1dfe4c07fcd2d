/**
 * End to end: Warden and the server must read every statement alike (issue 9, items 1, 2, 5, 7, 10, and pg_dump's
 * pinned set_config). Real psql, the real `pg` driver and a raw protocol client over TLS, through a real Warden
 * process, to a real PostgreSQL, under the guardrails example policy (reads and writes allowed; destructive and
 * unknown denied; admin and privilege fall to the default deny). Each attack is checked by its effect on the real
 * server: the `victim` table still exists with all its rows. Every client encoding the server accepts is tried as
 * a startup parameter, in PGOPTIONS, with SET and with set_config; every way to change standard_conforming_strings
 * is tried, including role and database defaults, a login event trigger and a function behind a pipeline.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import pg from 'pg';
import { GUARDRAILS_YAML } from '../src/policy/test-fixtures.js';
import { message, rawTls, startup } from './harness/raw-pg.js';
import { startStack, type Stack } from './harness/stack.js';

/** The payload: one string with standard_conforming_strings on, a DROP after a string with it off. */
const SPLIT = "SELECT 'x\\''; DROP TABLE victim; -- '";
/** The same with an SJIS lead byte before the backslash: one string in UTF8, a DROP in SJIS. */
const SJIS_SPLIT = "SELECT E'\u0081\\'; DROP TABLE victim; --'";
const ROWS = 3;

let stack: Stack;
let token: string;

before(async () => {
  stack = await startStack({ policy: GUARDRAILS_YAML });
  token = await stack.token('alice');
  await admin(`CREATE TABLE victim (id int, v text);
    INSERT INTO victim SELECT i, 'row ' || i FROM generate_series(1, ${ROWS}) i;
    ALTER TABLE victim OWNER TO ${stack.pg.scram.user};
    CREATE FUNCTION public.flip() RETURNS text LANGUAGE sql AS $$ SELECT set_config('standard_conforming_strings', 'off', false) $$;
    CREATE FUNCTION public.to_sjis() RETURNS text LANGUAGE sql AS $$ SELECT set_config('client_encoding', 'SJIS', false) $$`);
});
after(async () => stack?.stop());

async function admin(sql: string): Promise<pg.QueryResult[]> {
  const c = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database: 'app' });
  await c.connect();
  try {
    const r = await c.query(sql);
    return Array.isArray(r) ? r : [r];
  } finally {
    await c.end();
  }
}

/** The effect every test checks on the real server: the victim table is there with every row. */
async function assertVictimIntact(context: string): Promise<void> {
  const [r] = await admin("SELECT to_regclass('public.victim') IS NOT NULL AS present");
  assert.equal(r.rows[0].present, true, `victim was dropped: ${context}`);
  const [count] = await admin('SELECT count(*)::int AS n FROM victim');
  assert.equal(count.rows[0].n, ROWS, `victim lost rows: ${context}`);
}

async function client(extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: stack.warden.ports.postgres, user: 'alice', password: token,
    database: stack.target, ssl: { rejectUnauthorized: false }, ...extra });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** Runs statements one by one on a fresh connection; returns each one's error message or 'ok'. */
async function tryEach(statements: string[], extra: Partial<pg.ClientConfig> = {}): Promise<string[]> {
  const c = await client(extra);
  const out: string[] = [];
  try {
    for (const sql of statements) out.push(await c.query(sql).then(() => 'ok', (err: Error) => err.message));
  } finally {
    await c.end().catch(() => {});
  }
  return out;
}

describe('standard_conforming_strings stays on', () => {
  test("the issue's instance with psql: SET ... off is refused and the payload stays one string", async () => {
    const r = await stack.psql([], { user: 'alice', token, stdin: [
      '\\set ON_ERROR_STOP 0', 'SET standard_conforming_strings = off;', `${SPLIT};`, 'SHOW standard_conforming_strings;', ''].join('\n') });
    assert.match(r.stderr, /standard_conforming_strings must stay on through Warden/);
    assert.match(r.stdout, /^on$/m);
    await assertVictimIntact('SET standard_conforming_strings = off');
  });

  test('every statement that could turn it off is refused, and the payload after each is harmless', async () => {
    const attempts = [
      'SET standard_conforming_strings = off', 'SET SESSION standard_conforming_strings TO false',
      "set STANDARD_CONFORMING_STRINGS = 'no'", 'SET "standard_conforming_strings" = 0',
      "SELECT set_config('standard_conforming_strings', 'off', false)",
      "SELECT pg_catalog.set_config(E'standard\\x5fconforming_strings', 'off', true)",
      "SELECT set_config(name, 'off', false) FROM pg_settings WHERE name = 'standard_conforming_strings'",
      "SELECT set_config(name, 'off', false) FROM pg_settings WHERE name LIKE 'standard%'",
      "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'",
      "DO $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); END $$",
      'CREATE FUNCTION f_off() RETURNS int LANGUAGE sql SET standard_conforming_strings = off AS $$ SELECT 1 $$',
      `ALTER ROLE ${stack.pg.scram.user} SET standard_conforming_strings = off`,
      'ALTER DATABASE app SET standard_conforming_strings = off',
    ];
    const statements = attempts.flatMap((a) => [a, SPLIT]);
    const results = await tryEach(statements);
    for (let i = 0; i < attempts.length; i++) assert.notEqual(results[2 * i], 'ok', `allowed: ${attempts[i]}`);
    for (let i = 0; i < attempts.length; i++) assert.equal(results[2 * i + 1], 'ok', `payload after: ${attempts[i]}`);
    // SET LOCAL inside a transaction block, then the payload in the same transaction.
    assert.deepEqual(await tryEach(['BEGIN', 'SET LOCAL standard_conforming_strings = off', SPLIT, 'ROLLBACK']).then((r) => r.map((x) => x === 'ok')),
      [true, false, true, true], 'the SET LOCAL never reached the server; the payload after it is one string');
    await assertVictimIntact('statements that change standard_conforming_strings');
  });

  test('the other settings that touch how literals are read change nothing Warden relies on', async () => {
    // backslash_quote and escape_string_warning only add errors or warnings; transform_null_equals turns x = NULL
    // into x IS NULL, which the analysis counts as well.
    const results = await tryEach(['SET backslash_quote = on', 'SET escape_string_warning = off', "SELECT E'x\\''", SPLIT,
      SJIS_SPLIT, 'SET transform_null_equals = on', 'DELETE FROM victim WHERE NOT (id = NULL)', 'SET array_nulls = off', SPLIT]);
    assert.deepEqual(results.map((r, i) => (i === 6 ? /destructive statements are blocked/.test(r) : r === 'ok')), results.map(() => true), results.join('\n'));
    await assertVictimIntact('backslash_quote, escape_string_warning, transform_null_equals, array_nulls');
  });

  test('startup parameters and PGOPTIONS cannot turn it off', async () => {
    for (const options of ['-c standard_conforming_strings=off', '--standard-conforming-strings=off', '-cstandard_conforming_strings=false',
      '-c standard\\_conforming_strings=off']) {
      const r = await stack.psql(['-c', SPLIT], { user: 'alice', token, env: { PGOPTIONS: options } });
      assert.notEqual(r.code, 0, options);
      assert.match(r.stderr, /not (allowed|supported) through Warden/, options);
    }
    const raw = await RawClient.open({ standard_conforming_strings: 'off' });
    assert.match(raw.errorText(), /standard_conforming_strings "off" is not supported through Warden/);
    raw.close();
    await assertVictimIntact('startup parameters');
  });

  test('role and database defaults are overridden at login: the session reads statements with it on', async () => {
    await admin(`ALTER ROLE ${stack.pg.scram.user} SET standard_conforming_strings = off;
      ALTER DATABASE app SET client_encoding = 'SJIS'`);
    try {
      const c = await client();
      try {
        assert.equal((await c.query('SHOW standard_conforming_strings')).rows[0].standard_conforming_strings, 'on');
        assert.equal((await c.query('SHOW client_encoding')).rows[0].client_encoding, 'UTF8');
        await c.query(SPLIT);
        await c.query(SJIS_SPLIT);
      } finally {
        await c.end();
      }
    } finally {
      await admin(`ALTER ROLE ${stack.pg.scram.user} RESET ALL; ALTER DATABASE app RESET ALL`);
    }
    await assertVictimIntact('role and database defaults');
  });

  test('a login event trigger that turns it off makes Warden refuse the session', async (t) => {
    const [v] = await admin("SELECT current_setting('server_version_num')::int AS v");
    if (v.rows[0].v < 170000) return t.skip('login event triggers need PostgreSQL 17');
    await admin(`CREATE FUNCTION public.login_off() RETURNS event_trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); END $$;
      CREATE EVENT TRIGGER login_off ON login EXECUTE FUNCTION public.login_off()`);
    try {
      await assert.rejects(client(), /standard_conforming_strings = "off"/);
    } finally {
      await admin('DROP EVENT TRIGGER login_off; DROP FUNCTION public.login_off()');
    }
    await assertVictimIntact('login event trigger');
  });

  test('a function that turns it off at run time ends the session (simple protocol)', async () => {
    const c = await client();
    await assert.rejects(c.query('SELECT public.flip()'), /standard_conforming_strings/);
    await assert.rejects(c.query(SPLIT));
    await c.end().catch(() => {});
    await assertVictimIntact('a function calling set_config');
  });

  test('a pipeline cannot slip the payload in behind that function: it waits, and the session ends first', async () => {
    const raw = await RawClient.open();
    raw.send(Buffer.concat([query('SELECT public.flip()'), query(SPLIT)]));
    await raw.closed();
    assert.match(raw.errorText(), /standard_conforming_strings/);
    assert.ok(raw.count('C') <= 1, 'the payload never completed');
    await assertVictimIntact('pipelined simple queries');
  });

  test('in an extended batch that ran the function, settings-dependent text is refused until a Sync', async () => {
    const raw = await RawClient.open();
    raw.send(Buffer.concat([parse('SELECT public.flip()'), bind(), execute(), parse("SELECT 'x\\'' AS a"), bind(), execute(), sync()]));
    await raw.closed();
    assert.match(raw.errorText(), /send a Sync before it/);
    assert.match(raw.errorText(), /standard_conforming_strings/, 'and the Sync then ended the session');
    await assertVictimIntact('extended batch');
  });

  test('ordinary pipelines with backslashes and non-ASCII text still run', async () => {
    const raw = await RawClient.open();
    raw.send(Buffer.concat([query('SELECT 1'), query("SELECT E'\\\\', 'é'"), parse("SELECT 'ü\\' AS b"), bind(), execute(), sync()]));
    await raw.readyCount(3);
    assert.equal(raw.errorText(), '');
    assert.equal(raw.count('C'), 3);
    raw.close();
  });
});

describe('client_encoding stays UTF8', () => {
  let encodings: string[] = [];
  before(async () => {
    const [r] = await admin("SELECT pg_encoding_to_char(i) AS e FROM generate_series(0, 100) i WHERE pg_encoding_to_char(i) <> ''");
    encodings = r.rows.map((row: { e: string }) => row.e);
  });

  test('every encoding the server accepts is tried as a startup parameter, in PGOPTIONS, with SET and set_config', async () => {
    assert.ok(encodings.length >= 40 && encodings.includes('SJIS') && encodings.includes('GB18030'), encodings.join(','));
    for (const e of encodings) {
      const accepted = e === 'UTF8' || e === 'SQL_ASCII';
      // Startup parameter (what libpq sends for PGCLIENTENCODING), from a raw client: the pg driver always sends UTF8.
      const raw = await RawClient.open({ client_encoding: e });
      if (accepted) {
        assert.equal(raw.errorText(), '', `${e} at startup`);
        assert.ok(raw.messages.some((m) => m.type === 'S' && m.body.toString() === 'client_encoding\0UTF8\0'), `${e}: server reports UTF8`);
        raw.close();
      } else assert.match(raw.errorText(), /not supported through Warden/, `${e} at startup`);
      // SET, SET NAMES and set_config on a UTF8 session, each followed by the SJIS payload.
      const results = await tryEach([`SET client_encoding = '${e}'`, SJIS_SPLIT, `SET NAMES '${e}'`, SJIS_SPLIT,
        `SELECT set_config('client_encoding', '${e}', false)`, SJIS_SPLIT, 'SHOW client_encoding']);
      for (const i of [0, 2, 4]) {
        if (e === 'UTF8') assert.equal(results[i], 'ok', `${e}: ${i}`);
        else assert.match(results[i], /client_encoding must stay UTF8/, `${e}: ${i}`);
        assert.equal(results[i + 1], 'ok', `payload after ${e}`);
      }
    }
    await assertVictimIntact('client encodings');
  });

  test('PGOPTIONS with each encoding', async () => {
    for (const e of encodings) {
      const r = await stack.psql(['-c', 'SHOW client_encoding'], { user: 'alice', token, env: { PGOPTIONS: `-c client_encoding=${e}` } });
      if (e === 'UTF8' || e === 'SQL_ASCII') assert.equal(r.stdout.trim(), 'UTF8', `${e}: ${r.stderr}`);
      else assert.match(r.stderr, /not supported through Warden/, e);
    }
  });

  test('psql with PGCLIENTENCODING=SJIS is refused; the SJIS split never reaches the server', async () => {
    const r = await stack.psql(['-c', SJIS_SPLIT], { user: 'alice', token, env: { PGCLIENTENCODING: 'SJIS' } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /client_encoding "SJIS" is not supported through Warden/);
    await assertVictimIntact('PGCLIENTENCODING=SJIS');
  });

  test('a function that switches to SJIS at run time ends the session before the payload', async () => {
    const raw = await RawClient.open();
    raw.send(Buffer.concat([query('SELECT public.to_sjis()'), query(SJIS_SPLIT)]));
    await raw.closed();
    assert.match(raw.errorText(), /client_encoding = "SJIS"/);
    await assertVictimIntact('a function calling set_config(client_encoding)');
  });
});

describe('other classes from the review', () => {
  test('functions that run SQL text are judged by that text, or refused when it is not a literal', async () => {
    const results = await tryEach([
      "SELECT * FROM ts_stat($$SELECT pg_read_file('PG_VERSION')::tsvector$$)",
      "SELECT * FROM ts_stat('SELECT to_tsvector(pg_terminate_backend(pid)::text) FROM pg_stat_activity WHERE pid <> pg_backend_pid()')",
      "SELECT query_to_xml('DROP TABLE victim', true, false, '')",
      "SELECT query_to_xml('DELETE FROM victim RETURNING id', true, false, '')",
      "SELECT * FROM ts_stat(current_setting('application_name'))",
      "SELECT table_to_xml('victim', true, false, '')",
      "SELECT query_to_xml('SELECT count(*) FROM victim', true, false, '')",
    ]);
    for (const [i, r] of results.slice(0, 6).entries()) assert.notEqual(r, 'ok', `statement ${i} ran`);
    assert.equal(results[6], 'ok', 'a literal read is a read');
    await assertVictimIntact('SQL-text functions');
  });

  test("the analysis cache cannot be primed with WHERE'\\'", async () => {
    const results = await tryEach([
      "DELETE FROM victim WHERE'\\' IS NULL OR '1' = '2'",
      "DELETE FROM victim WHERE'\\' IS NULL OR '1' = '1'",
      "DELETE FROM victim WHERE'\\' IS NULL OR '7' = '7'",
    ]);
    assert.equal(results[0], 'ok');
    assert.match(results[1], /destructive statements are blocked/);
    assert.match(results[2], /destructive statements are blocked/);
    await assertVictimIntact('cache priming');
  });

  test('predicates that hold for every non-null row are unbounded', async () => {
    const results = await tryEach(['DELETE FROM victim WHERE id IS NOT NULL', 'DELETE FROM victim WHERE id > -2147483648',
      'DELETE FROM victim WHERE NOT (id IS NULL)', "DELETE FROM victim WHERE v LIKE '%'", 'DELETE FROM victim WHERE id = id',
      'UPDATE victim SET v = NULL WHERE id < 2147483647', 'DELETE FROM victim WHERE NOT (id = NULL)',
      'DELETE FROM victim WHERE id IN (SELECT id FROM victim)']);
    for (const r of results) assert.match(r, /destructive statements are blocked/);
    assert.deepEqual(await tryEach(['DELETE FROM victim WHERE id > 100']), ['ok'], 'a real bound is a bounded write');
    await assertVictimIntact('unbounded predicates');
  });

  test("pg_dump's set_config on pg_settings is a read; naming a pinned setting that way is refused", async () => {
    const r = await stack.psql(['-c', "SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'"],
      { user: 'alice', token });
    assert.equal(r.code, 0, r.stderr);
    const refused = await stack.psql(['-c', "SELECT set_config(name, 'off', false) FROM pg_settings WHERE name = 'standard_conforming_strings'"],
      { user: 'alice', token });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /standard_conforming_strings must stay on/);
  });
});

// --- a raw protocol client over TLS -------------------------------------------------------------------------

const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const query = (sql: string) => message('Q', cstr(sql));
const parse = (sql: string) => message('P', Buffer.concat([cstr(''), cstr(sql), Buffer.from([0, 0])]));
const bind = () => message('B', Buffer.concat([cstr(''), cstr(''), Buffer.from([0, 0, 0, 0, 0, 0])]));
const execute = () => message('E', Buffer.concat([cstr(''), Buffer.from([0, 0, 0, 0])]));
const sync = () => message('S', Buffer.alloc(0));

/** Speaks the protocol byte by byte; keeps every backend message it received. */
class RawClient {
  private buffer = Buffer.alloc(0);
  readonly messages: { type: string; body: Buffer }[] = [];
  private waiters: (() => void)[] = [];
  private ended = false;

  private constructor(private readonly socket: tls.TLSSocket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => { this.ended = true; this.wake(); });
    socket.on('error', () => {});
  }

  /** Logs in as alice (startup `params` added); resolves after ReadyForQuery or a refusal. */
  static async open(params: Record<string, string> = {}): Promise<RawClient> {
    const socket = await rawTls(stack.warden.ports.postgres);
    const raw = new RawClient(socket);
    socket.write(startup({ user: 'alice', database: stack.target, ...params }));
    await raw.until(() => raw.count('R') > 0 || raw.count('E') > 0);
    if (raw.count('E') === 0) {
      socket.write(message('p', cstr(token)));
      await raw.until(() => raw.count('Z') > 0 || raw.count('E') > 0);
    }
    return raw;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  count(type: string): number {
    return this.messages.filter((m) => m.type === type).length;
  }

  /** The message fields of every ErrorResponse, joined. */
  errorText(): string {
    return this.messages.filter((m) => m.type === 'E').map((m) => m.body.toString('utf8').replace(/\0/g, ' ')).join('\n');
  }

  readyCount(n: number): Promise<void> {
    const base = this.count('Z');
    return this.until(() => this.count('Z') >= base + n);
  }

  closed(): Promise<void> {
    return this.until(() => this.ended);
  }

  close(): void {
    this.socket.end(message('X', Buffer.alloc(0)));
  }

  private until(done: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (done()) return resolve();
        if (this.ended) return reject(new Error(`connection closed; got ${this.messages.map((m) => m.type).join('')}: ${this.errorText()}`));
        this.waiters.push(check);
      };
      check();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private onData(d: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, d]);
    while (this.buffer.length >= 5) {
      const len = this.buffer.readInt32BE(1);
      if (this.buffer.length < len + 1) break;
      this.messages.push({ type: String.fromCharCode(this.buffer[0]), body: this.buffer.subarray(5, len + 1) });
      this.buffer = this.buffer.subarray(len + 1);
    }
    this.wake();
  }
}
