/**
 * End to end: real psql and the real `pg` driver through a Warden process to a real PostgreSQL. Covers the whole
 * relay: simple and extended protocol, pipelining, portals, COPY both ways, LISTEN/NOTIFY, notices, parameter
 * status, a 1M-row result, cancel, and the recording of every statement.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import tls from 'node:tls';
import pg from 'pg';
import { pollUntil } from './harness/poll.js';
import { rawTls } from './harness/raw-pg.js';
import { startStack, type Stack } from './harness/stack.js';

let stack: Stack;
let token: string;

before(async () => {
  stack = await startStack();
  token = await stack.token('alice', '--ttl', '1h');
});
after(async () => stack?.stop());

async function sessionsOf(user: string): Promise<{ id: string; subject: string; endReason: string | null }[]> {
  const r = await stack.warden.cli(['sessions', 'list', '--json', '--limit', '500']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { id: string; subject: string; endReason: string | null }[]).filter((s) => s.subject === user);
}

async function eventsOf(id: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const r = await stack.warden.cli(['sessions', 'show', id, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).events;
}

describe('psql through Warden', () => {
  test('runs simple queries over TLS and reaches the target database as the vaulted role', async () => {
    const r = await stack.psql(['-c', 'SELECT current_user, current_database(), 1 + 1'], { user: 'alice', token });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${stack.pg.scram.user}|app|2`);
  });

  test('target/database picks another database on the same server', async () => {
    const r = await stack.psql(['-c', 'SELECT current_database()'], { user: 'alice', token, database: 'pg-main/other' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'other');
  });

  test('multi-statement query strings, errors with SQLSTATE, and the session stays usable', async () => {
    const r = await stack.psql([], { user: 'alice', token, stdin: [
      'CREATE TABLE IF NOT EXISTS t_multi (id int primary key, v text);',
      'INSERT INTO t_multi VALUES (1, \'a\'); INSERT INTO t_multi VALUES (2, \'b\');',
      '\\set ON_ERROR_STOP 0',
      'SELECT * FROM no_such_table;',
      'SELECT count(*) FROM t_multi;',
    ].join('\n'), env: { PGOPTIONS: '' } });
    assert.match(r.stderr, /relation "no_such_table" does not exist/);
    assert.match(r.stdout, /^2$/m);
  });

  test('COPY FROM STDIN and COPY TO STDOUT', async () => {
    const rows = Array.from({ length: 5000 }, (_, i) => `${i}\tvalue-${i}`).join('\n');
    const load = await stack.psql(['-c', 'CREATE TABLE t_copy (id int, v text)', '-c', '\\copy t_copy FROM STDIN'],
      { user: 'alice', token, stdin: `${rows}\n\\.\n` });
    assert.equal(load.code, 0, load.stderr);
    const out = await stack.psql(['-c', 'COPY (SELECT * FROM t_copy ORDER BY id) TO STDOUT'], { user: 'alice', token });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout.trim(), rows);
  });

  test('notices reach the caller', async () => {
    const r = await stack.psql(['-c', "DO $$ BEGIN RAISE NOTICE 'hello from upstream'; END $$"], { user: 'alice', token });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /NOTICE:\s+hello from upstream/);
  });
});

describe('the pg driver through Warden', () => {
  test('prepared statements with parameters, NULLs and named statements', async () => {
    const c = await stack.client({ user: 'alice', password: token });
    try {
      await c.query('CREATE TABLE IF NOT EXISTS t_prep (id int, name text)');
      for (let i = 0; i < 3; i++) {
        await c.query({ name: 'ins', text: 'INSERT INTO t_prep VALUES ($1, $2)', values: [i, i === 1 ? null : `n${i}`] });
      }
      const r = await c.query({ text: 'SELECT id, name FROM t_prep WHERE id >= $1 ORDER BY id', values: [0] });
      assert.deepEqual(r.rows, [{ id: 0, name: 'n0' }, { id: 1, name: null }, { id: 2, name: 'n2' }]);
      await assert.rejects(c.query('SELECT $1::int', ['not-a-number']), (e: pg.DatabaseError) => e.code === '22P02');
      assert.equal((await c.query('SELECT 42 AS x')).rows[0].x, 42);
    } finally {
      await c.end();
    }
  });

  test('LISTEN/NOTIFY between two sessions and parameter status changes', async () => {
    const listener = await stack.client({ user: 'alice', password: token });
    const sender = await stack.client({ user: 'alice', password: token });
    try {
      await listener.query('LISTEN warden_channel');
      const got = new Promise<pg.Notification>((resolve) => listener.once('notification', resolve));
      await sender.query("SELECT pg_notify('warden_channel', 'payload-1')");
      const n = await got;
      assert.equal(n.channel, 'warden_channel');
      assert.equal(n.payload, 'payload-1');
      await sender.query("SET application_name = 'renamed-app'");
      const app = await sender.query('SHOW application_name');
      assert.equal(app.rows[0].application_name, 'renamed-app');
    } finally {
      await listener.end();
      await sender.end();
    }
  });

  test('a 1M-row result arrives whole', async () => {
    const c = await stack.client({ user: 'alice', password: token });
    try {
      const r = await c.query('SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 1000000) g');
      assert.equal(r.rowCount, 1_000_000);
      assert.equal(r.rows[999_999].n, 1_000_000);
    } finally {
      await c.end();
    }
  });

});

describe('cancel', () => {
  test('psql interrupted during pg_sleep cancels through Warden\'s own cancel key', async () => {
    const child = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(stack.warden.ports.postgres), '-U', 'alice',
      '-d', stack.target, '-c', 'SELECT pg_sleep(60)'], { env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'require' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Wait until the statement runs upstream, then interrupt psql as a person pressing Ctrl-C would.
    const admin = new pg.Client({ host: stack.pg.socketDir, port: stack.pg.port, user: stack.pg.superuser, database: 'postgres' });
    await admin.connect();
    try {
      for (let i = 0; i < 100; i++) {
        const r = await admin.query("SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'");
        if (r.rowCount) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill('SIGINT');
      assert.equal(await exited, 1);
      assert.match(stderr, /canceling statement due to user request/);
      const left = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'");
      assert.equal(left.rows[0].n, 0);
    } finally {
      await admin.end();
    }
  });
});

describe('raw extended protocol', () => {
  test('pipelined batches, portals with row limits and the error-skips-to-Sync rule', async () => {
    const { serialize } = await import('pg-protocol');
    const socket = await rawLogin(token);
    const batch = Buffer.concat([
      serialize.parse({ name: 's1', text: 'SELECT g FROM generate_series(1, 5) g' }),
      serialize.bind({ portal: 'p1', statement: 's1' }),
      serialize.execute({ portal: 'p1', rows: 2 }),
      serialize.execute({ portal: 'p1', rows: 0 }),
      serialize.sync(),
      serialize.parse({ text: 'SELECT 1/g FROM generate_series(0, 1) g' }), serialize.bind({}), serialize.execute({}),
      serialize.parse({ text: 'SELECT 2' }), serialize.bind({}), serialize.execute({}),
      serialize.sync(),
      serialize.parse({ text: 'SELECT 3' }), serialize.bind({}), serialize.execute({}), serialize.sync(),
    ]);
    const types = await exchange(socket, batch, 3);
    // ParseComplete, BindComplete, 2 DataRows, PortalSuspended, 3 DataRows, CommandComplete, ReadyForQuery;
    // then the division error skips 'SELECT 2' until Sync; then 'SELECT 3' runs.
    assert.equal(types, '12DDs' + 'DDDCZ' + '12EZ' + '12DCZ');
    socket.end();
  });
});

describe('recording', () => {
  test('every statement is recorded with text, parameters, duration, rows and errors', async () => {
    const c = await stack.client({ user: 'alice', password: token });
    await c.query('SELECT 1 AS a');
    await c.query({ text: 'SELECT $1::text AS p', values: ['param-value'] });
    await c.query('SELECT * FROM missing_table_for_recording').catch(() => {});
    await c.end();
    // The recording reaches the store in batches: poll until this session's end is there, not for a fixed time.
    const sessions = await sessionsOf('alice');
    const events = await pollUntil('the recorded session', async () => {
      for (const s of await sessionsOf('alice')) {
        const found = await eventsOf(s.id);
        if (found.some((e) => e.data.text === 'SELECT 1 AS a') && found.at(-1)?.type === 'session.end') return found;
      }
      return undefined;
    });
    const stmts = events.filter((e) => e.type === 'statement');
    const first = stmts.find((e) => e.data.text === 'SELECT 1 AS a')!;
    assert.equal(first.data.rows, 1);
    assert.equal(first.data.tag, 'SELECT 1');
    assert.equal(typeof first.data.durationMs, 'number');
    const withParam = stmts.find((e) => e.data.text === 'SELECT $1::text AS p')!;
    assert.deepEqual(withParam.data.params, ['param-value']);
    const failed = stmts.find((e) => String(e.data.text).includes('missing_table_for_recording'))!;
    assert.equal((failed.data.error as { code: string }).code, '42P01');
    assert.equal(events[0].type, 'session.start');
    assert.equal(events.at(-1)!.type, 'session.end');
    const text = await stack.warden.cli(['sessions', 'show', sessions[0].id]);
    assert.equal(text.code, 0);
  });
});

/** Logs in with a raw TLS socket and returns it once ReadyForQuery arrived. */
async function rawLogin(password: string): Promise<tls.TLSSocket> {
  const { serialize } = await import('pg-protocol');
  const socket = await rawTls(stack.warden.ports.postgres);
  socket.write(serialize.startup({ user: 'alice', database: stack.target }));
  await readUntil(socket, (b) => b.includes(0x52));
  socket.write(serialize.password(password));
  await readUntil(socket, (b) => b.length >= 6 && b[b.length - 6] === 0x5a);
  return socket;
}

function readUntil(socket: tls.TLSSocket, done: (all: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve) => {
    let all: Buffer = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      all = Buffer.concat([all, d]);
      if (done(all)) { socket.off('data', onData); resolve(all); }
    };
    socket.on('data', onData);
  });
}

/** Writes `bytes`, reads until `readyCount` ReadyForQuery messages, returns the message type letters. */
async function exchange(socket: tls.TLSSocket, bytes: Buffer, readyCount: number): Promise<string> {
  socket.write(bytes);
  let types = '';
  let ready = 0;
  let buf: Buffer = Buffer.alloc(0);
  await readUntil(socket, (all) => {
    buf = all;
    types = '';
    ready = 0;
    let off = 0;
    while (off + 5 <= buf.length) {
      const len = buf.readInt32BE(off + 1);
      if (off + 1 + len > buf.length) break;
      const t = String.fromCharCode(buf[off]);
      types += t;
      if (t === 'Z') ready++;
      off += 1 + len;
    }
    return ready >= readyCount;
  });
  return types;
}
