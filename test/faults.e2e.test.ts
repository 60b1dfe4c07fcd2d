/**
 * The fault suite: real Warden processes in front of a real PostgreSQL, each test breaking one dependency or
 * flooding one resource and asserting behaviour, not timings: kill -9 under load (the recording checked against
 * the rows PostgreSQL itself committed, nothing lost beyond the documented second), the store locked by another
 * process (bogus logins do not freeze a live probe session, ends are recorded when the store returns), the store's
 * disk full (reported as SQLITE_FULL, recorded once there is room), every upstream backend terminated as a restart
 * does (sessions end with the upstream's reason, new logins work at once) and many stalled connections (capped
 * per source and overall with SQLSTATE 53300, legitimate logins still work, stalled sockets closed early).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { startPostgres, type PgServer } from './harness/postgres.js';
import { ALLOW_ALL_POLICY, startWarden, type WardenProcess } from './harness/warden.js';

let server: PgServer;
before(async () => {
  server = await startPostgres();
  const admin = new pg.Client({ host: server.socketDir, port: server.port, user: server.superuser, database: 'app' });
  await admin.connect();
  await admin.query(`CREATE TABLE faults_load (id text PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
    GRANT ALL ON faults_load TO ${server.scram.user}`);
  await admin.end();
});
after(async () => server?.stop());

const TARGET = 'pg-faults';

/** A Warden with the target and an allow-all policy. */
async function setup(options: { dataDir?: string; args?: string[] } = {}): Promise<WardenProcess> {
  const warden = await startWarden({ dataDir: options.dataDir, args: ['--allow-plaintext-loopback', ...(options.args ?? [])] });
  const added = await warden.cli(['targets', 'add', TARGET, '--type', 'postgres', '--host', server.host, '--port',
    String(server.port), '--database', 'app', '--user', server.scram.user, '--password-stdin', '--tls', 'disable'],
  { stdin: `${server.scram.password}\n` });
  if (added.code !== 0) throw new Error(added.stderr);
  await warden.applyPolicy(ALLOW_ALL_POLICY);
  return warden;
}

async function mint(warden: WardenProcess, user: string): Promise<string> {
  const r = await warden.cli(['tokens', 'create', '--user', user]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

/** A `pg` client through Warden (plaintext on loopback); failures are collected, never thrown as events. */
async function connect(warden: WardenProcess, user: string, password: string): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port: warden.ports.postgres, user, password, database: TARGET, ssl: false });
  client.on('error', () => {});
  await client.connect();
  return client;
}

interface ApiSession { id: string; subject: string; endedAt: string | null; endReason: string | null }
interface ApiEvent { seq: number; type: string; data: Record<string, unknown> }

async function api<T>(warden: WardenProcess, route: string): Promise<T> {
  const res = await fetch(`${warden.url}/api${route}`, { headers: { authorization: `Bearer ${warden.adminToken}` } });
  if (!res.ok) throw new Error(`${route}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function sessionsOf(warden: WardenProcess, subject: string): Promise<ApiSession[]> {
  return api<ApiSession[]>(warden, `/sessions?subject=${subject}&limit=1000`);
}

async function eventsOf(warden: WardenProcess, id: string): Promise<ApiEvent[]> {
  return (await api<{ events: ApiEvent[] }>(warden, `/sessions/${id}`)).events;
}

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
async function until<T>(what: string, check: () => Promise<T | undefined>, deadlineMs = 30_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('kill -9 under load loses no more than the last second of recording, and a restart closes what was open', async () => {
  const warden = await setup();
  const token = await mint(warden, 'loader');
  const clients = await Promise.all([0, 1, 2, 3].map(() => connect(warden, 'loader', token)));
  let committed = 0;
  let reached: () => void;
  const loaded = new Promise<void>((resolve) => { reached = resolve; });
  const loops = clients.map(async (client, c) => {
    for (let n = 0; ; n++) {
      try {
        await client.query('INSERT INTO faults_load (id) VALUES ($1)', [`${c}-${n}`]);
      } catch {
        return; // the gateway died under us
      }
      if (++committed === 2000) reached();
    }
  });
  await loaded;
  const killedAt = Date.now();
  warden.child.kill('SIGKILL');
  await Promise.all(loops);
  await new Promise((r) => (warden.child.exitCode !== null || warden.child.signalCode !== null ? r(null) : warden.child.once('exit', r)));

  const again = await startWarden({ dataDir: warden.dataDir, args: ['--allow-plaintext-loopback'] });
  try {
    const direct = new pg.Client({ host: server.socketDir, port: server.port, user: server.superuser, database: 'app' });
    await direct.connect();
    const rows = (await direct.query<{ id: string; at: Date }>('SELECT id, at FROM faults_load')).rows;
    await direct.end();
    const sessions = await sessionsOf(again, 'loader');
    assert.equal(sessions.length, 4);
    const recorded = new Map<string, ApiEvent>();
    for (const s of sessions) {
      assert.equal(s.endReason, 'Warden stopped before the session ended', 'a restart ends what the crash left open');
      for (const e of await eventsOf(again, s.id)) {
        if (e.type === 'statement') recorded.set(String((e.data.params as string[])[0]), e);
      }
    }
    const byId = new Map(rows.map((r) => [r.id, r.at.getTime()]));
    // Nothing recorded that PostgreSQL did not commit...
    for (const [id, e] of recorded) assert.ok(byId.has(id) && e.data.error === undefined, `recorded ${id} was committed`);
    // ...and nothing committed more than the promised second before the kill is missing from the recording.
    const lostEarly = rows.filter((r) => r.at.getTime() < killedAt - 1000 && !recorded.has(r.id)).map((r) => r.id);
    assert.deepEqual(lostEarly, []);
    assert.ok(recorded.size >= 2000 - rows.filter((r) => r.at.getTime() >= killedAt - 1000).length);
    const probe = await connect(again, 'loader', token);
    assert.equal((await probe.query('SELECT 1 AS one')).rows[0].one, 1);
    await probe.end();
  } finally {
    await again.stop();
  }
});

test('a store locked by another process: bogus logins do not freeze a live session, ends are recorded after', async () => {
  const warden = await setup();
  try {
    const token = await mint(warden, 'prober');
    const probe = await connect(warden, 'prober', token);
    const closer = await connect(warden, 'closer', await mint(warden, 'closer'));
    const lock = new BetterSqlite3(path.join(warden.dataDir, 'warden.db'));
    lock.exec('BEGIN IMMEDIATE');
    let answered = 0;
    let stop = false;
    const probing = (async () => {
      while (!stop) {
        await probe.query("SELECT 'probe' AS p");
        answered++;
      }
    })();
    // Each refused login is recorded; before, each one blocked Node's only thread for the 5 s busy timeout.
    const bogus = Promise.allSettled([1, 2, 3, 4].map((k) => connect(warden, `intruder${k}`, 'not-a-token')));
    await closer.end();
    const results = await bogus;
    const answeredDuringLock = answered;
    stop = true;
    await probing;
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r.reason as pg.DatabaseError).code, '28P01');
    }
    assert.ok(answeredDuringLock >= 100, `the probe kept being served while the store was locked (${answeredDuringLock} queries)`);
    // The closer's end could not be stored while the lock held; it must not stay `active` once the store returns.
    await until('the end of the closer to be deferred', async () =>
      (/could not record the end of a session yet/.test(warden.output().stderr) ? true : undefined));
    lock.exec('ROLLBACK');
    lock.close();
    await probe.end();
    const [closed] = await until('the closer session to be ended', async () => {
      const s = await sessionsOf(warden, 'closer');
      return s.length === 1 && s[0].endedAt !== null ? s : undefined;
    });
    assert.match(closed.endReason ?? '', /client/);
    const [probed] = await until('the probe session to be ended', async () => {
      const s = await sessionsOf(warden, 'prober');
      return s.length === 1 && s[0].endedAt !== null ? s : undefined;
    });
    const statements = (await eventsOf(warden, probed.id)).filter((e) => e.type === 'statement');
    assert.equal(statements.length, answered, 'every statement of the probe is recorded once the store returns');
  } finally {
    await warden.stop();
  }
});

test('a full disk under the store: sessions go on, the cause is logged as SQLITE_FULL, recording resumes', async (t) => {
  const mnt = await fs.mkdtemp(path.join(os.tmpdir(), 'warden-full-'));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', mnt]).status !== 0) {
    await fs.rm(mnt, { recursive: true, force: true });
    t.skip('cannot mount a small tmpfs here (needs root): the store-full case is covered by src/recording/recorder.test.ts');
    return;
  }
  let warden: WardenProcess | undefined;
  try {
    warden = await setup({ dataDir: path.join(mnt, 'data') });
    const token = await mint(warden, 'filler');
    const probe = await connect(warden, 'filler', token);
    const closer = await connect(warden, 'closer', await mint(warden, 'closer'));
    await fillDisk(path.join(mnt, 'filler'));
    for (let k = 0; k < 200; k++) await probe.query(`SELECT '${'z'.repeat(1000)}' AS k${k}`);
    await closer.end();
    await until('the store-full cause in the log', async () =>
      (/SQLITE_FULL/.test(warden!.output().stderr) ? true : undefined));
    assert.doesNotMatch(warden.output().stderr, /cannot rollback/);
    await fs.rm(path.join(mnt, 'filler'));
    await probe.end();
    for (const subject of ['filler', 'closer']) {
      await until(`session of ${subject} ended`, async () => {
        const s = await sessionsOf(warden!, subject);
        return s.length === 1 && s[0].endedAt !== null ? true : undefined;
      });
    }
    const [filled] = await sessionsOf(warden, 'filler');
    // The session's end is stored by the pipeline at once, its events by the recorder when its outage backoff (up to
    // 5 s) next retries: wait for them, then check that none was lost.
    const statements = await until('the filler\'s statements to be recorded', async () => {
      const n = (await eventsOf(warden!, filled.id)).filter((e) => e.type === 'statement').length;
      return n >= 200 ? n : undefined;
    });
    assert.equal(statements, 200);
  } finally {
    await warden?.stop();
    spawnSync('umount', ['-l', mnt]);
    await fs.rm(mnt, { recursive: true, force: true });
  }
});

/** Writes a file until the file system has no room left. */
async function fillDisk(file: string): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const block = Buffer.alloc(size, 0x66);
      for (;;) {
        try {
          await handle.write(block);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    await handle.close();
  }
}

test('every upstream backend terminated (as a restart does): sessions end with the reason, new logins work', async () => {
  const warden = await setup();
  try {
    const token = await mint(warden, 'victim');
    const victims = await Promise.all([1, 2, 3].map(() => connect(warden, 'victim', token)));
    const errors = victims.map((c) => new Promise<pg.DatabaseError>((resolve) => c.once('error', (e) => resolve(e as pg.DatabaseError))));
    const direct = new pg.Client({ host: server.socketDir, port: server.port, user: server.superuser, database: 'app' });
    await direct.connect();
    await direct.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [server.scram.user]);
    await direct.end();
    for (const err of await Promise.all(errors)) assert.equal(err.code, '57P01');
    const after = await connect(warden, 'victim', token);
    assert.equal((await after.query('SELECT 2 AS two')).rows[0].two, 2);
    const ended = await until('the three victim sessions to end', async () => {
      const s = (await sessionsOf(warden, 'victim')).filter((x) => x.endedAt !== null);
      return s.length >= 3 ? s : undefined;
    });
    assert.deepEqual(ended.map((x) => x.endReason), Array<string>(3)
      .fill('upstream ended the session: terminating connection due to administrator command'));
    assert.equal((await after.query('SELECT 3 AS three')).rows[0].three, 3, 'the session after is untouched');
    await after.end();
  } finally {
    await warden.stop();
  }
});

/** Opens a raw TCP connection from `localAddress` that sends nothing. */
function stall(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(socket));
    socket.once('error', reject);
    socket.resume(); // read, so Warden's close is seen
  });
}

/** Connects from `localAddress` and returns the SQLSTATE of the ErrorResponse Warden answers with before any byte. */
function refusedCode(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    let bytes = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => { bytes = Buffer.concat([bytes, d]); });
    socket.once('error', reject);
    socket.once('close', () => {
      if (bytes[0] !== 0x45) return reject(new Error(`expected an ErrorResponse, got ${bytes.toString('hex')}`));
      const fields = bytes.subarray(5).toString('utf8').split('\0');
      const code = fields.find((f) => f.startsWith('C'));
      resolve(code ? code.slice(1) : '');
    });
  });
}

test('many stalled connections: capped per source and overall with 53300, logins still work, stallers closed', async () => {
  const warden = await setup({ args: ['--max-unauthenticated-per-source', '20', '--max-unauthenticated', '40',
    '--first-byte-timeout', '3'] });
  const stalled: net.Socket[] = [];
  try {
    const token = await mint(warden, 'legit');
    const port = warden.ports.postgres;
    for (let k = 0; k < 20; k++) stalled.push(await stall(port, '127.0.0.2'));
    assert.equal(await refusedCode(port, '127.0.0.2'), '53300', 'the 21st from one source is refused');
    const legit = await connect(warden, 'legit', token);
    assert.equal((await legit.query('SELECT 1 AS one')).rows[0].one, 1, 'another source still logs in');
    for (let k = 0; k < 20; k++) stalled.push(await stall(port, '127.0.0.3'));
    assert.equal(await refusedCode(port, '127.0.0.4'), '53300', 'past the overall cap everyone waits');
    const refused = await connect(warden, 'legit', token).then(() => null, (err: pg.DatabaseError) => err);
    assert.equal(refused?.code, '53300');
    assert.match(refused?.message ?? '', /too many connections/);
    // Stalled sockets are closed by Warden once their time to the first byte is up, freeing every place.
    await Promise.all(stalled.map((s) => (s.destroyed ? null : new Promise((r) => s.once('close', r)))));
    const again = await connect(warden, 'legit', token);
    assert.equal((await again.query('SELECT 3 AS three')).rows[0].three, 3);
    await again.end();
    assert.equal((await legit.query('SELECT 2 AS two')).rows[0].two, 2, 'the live session was never disturbed');
    await legit.end();
  } finally {
    for (const s of stalled) s.destroy();
    await warden.stop();
  }
});

/** Sends a CancelRequest for a session's Warden cancel key over a connection of its own. */
function sendCancel(port: number, processId: number, secretKey: number): Promise<void> {
  return new Promise((resolve) => {
    const packet = Buffer.alloc(16);
    packet.writeInt32BE(16, 0);
    packet.writeInt32BE(80877102, 4);
    packet.writeInt32BE(processId, 8);
    packet.writeInt32BE(secretKey, 12);
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(packet));
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.resume();
  });
}

test('a flood of cancels and closes at once never stops the recording of later sessions', async () => {
  const warden = await setup();
  try {
    const token = await mint(warden, 'canceller');
    const clients = await Promise.all(Array.from({ length: 30 }, () => connect(warden, 'canceller', token)));
    await Promise.all(clients.map(async (client) => {
      const running = client.query('SELECT pg_sleep(30)').catch(() => null);
      const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
      // Cancel and close at once: the cancel event is recorded after the session's end.
      await Promise.all([sendCancel(warden.ports.postgres, processID, secretKey), client.end().catch(() => null)]);
      await running;
    }));
    const later = await connect(warden, 'later', await mint(warden, 'later'));
    await later.query("SELECT 'recorded after the flood' AS s");
    await later.end();
    const [session] = await until('the later session to be recorded', async () => {
      const s = await sessionsOf(warden, 'later');
      return s.length === 1 && s[0].endedAt !== null ? s : undefined;
    });
    const events = await eventsOf(warden, session.id);
    assert.ok(events.some((e) => e.type === 'statement' && e.data.text === "SELECT 'recorded after the flood' AS s"));
    for (const s of await sessionsOf(warden, 'canceller')) {
      const seqs = (await eventsOf(warden, s.id)).map((e) => e.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `${s.id}: unique, consecutive event numbers`);
    }
    assert.doesNotMatch(warden.output().stderr, /refused by the store|flush failed/);
  } finally {
    await warden.stop();
  }
});

test('a long bound parameter and a long statement are recorded as prefix, length and hash, not whole', async () => {
  const warden = await setup();
  try {
    const token = await mint(warden, 'bulky');
    const client = await connect(warden, 'bulky', token);
    // Words, so the recorded prefix shows something: the prefix is cut back before a token the cut split (it could
    // be the first digits of a card number), which for one 8 MiB word would leave nothing.
    const param = 'pppp '.repeat(8 * 1024 * 1024 / 4);
    assert.equal((await client.query('SELECT length($1::text) AS n', [param])).rows[0].n, param.length);
    const literal = `SELECT length('${'q'.repeat(2 * 1024 * 1024)}') AS n`;
    assert.equal((await client.query(literal)).rows[0].n, 2 * 1024 * 1024);
    await client.end();
    const [session] = await until('the session to end', async () => {
      const s = await sessionsOf(warden, 'bulky');
      return s.length === 1 && s[0].endedAt !== null ? s : undefined;
    });
    const statements = (await eventsOf(warden, session.id)).filter((e) => e.type === 'statement');
    const [bound, long] = statements;
    const recordedParam = (bound.data.params as Array<{ prefix: string; bytes: number; sha256: string }>)[0];
    assert.equal(recordedParam.bytes, param.length);
    assert.ok(param.startsWith(recordedParam.prefix) && recordedParam.prefix.endsWith(' '), recordedParam.prefix);
    assert.ok(recordedParam.prefix.length > 250 && recordedParam.prefix.length <= 256, `${recordedParam.prefix.length} characters kept`);
    assert.equal(recordedParam.sha256, createHash('sha256').update(param).digest('hex'));
    const text = long.data.text as { prefix: string; bytes: number; sha256: string };
    assert.equal(text.bytes, Buffer.byteLength(literal));
    assert.equal(text.prefix, literal.slice(0, 64 * 1024));
    assert.ok(JSON.stringify(statements).length < 100 * 1024, 'the recording holds no megabytes of caller data');
  } finally {
    await warden.stop();
  }
});
