/**
 * End to end: who gets in and what a refused caller sees. Wrong, expired, revoked and mis-scoped tokens, unknown
 * targets, a dead upstream, refused startup options, TLS rules, upstream auth methods and TLS modes, and the check
 * that the backend password never reaches a caller, a log line or the data dir in plain text.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import os from 'node:os';
import pg from 'pg';
import { freePort } from './harness/ports.js';
import { startStack, type Stack } from './harness/stack.js';

let stack: Stack;

before(async () => {
  stack = await startStack({ pg: { extraConf: { log_connections: 'on' } } });
});
after(async () => stack?.stop());

/** Tries to connect with the pg driver; resolves with the error it got (or fails the test if it got in). */
async function refusedWith(config: { user: string; password: string; database?: string; ssl?: pg.ClientConfig['ssl'] }): Promise<pg.DatabaseError> {
  const client = new pg.Client({ host: '127.0.0.1', port: stack.warden.ports.postgres, database: stack.target,
    ssl: { rejectUnauthorized: false }, ...config });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    return err as pg.DatabaseError;
  }
  await client.end();
  throw new Error('connection was expected to be refused');
}

/** Connections the upstream has received so far (from its log_connections lines). */
function upstreamConnections(): number {
  return (stack.pg.log().match(/connection received/g) ?? []).length;
}

async function addTarget(name: string, flags: string[], password?: string): Promise<void> {
  const r = await stack.warden.cli(['targets', 'add', name, '--type', 'postgres', ...flags,
    ...(password === undefined ? [] : ['--password-stdin'])], { stdin: password === undefined ? '' : `${password}\n` });
  assert.equal(r.code, 0, r.stderr);
}

describe('refused callers reach nothing upstream', () => {
  test('wrong, expired, revoked, mismatched and mis-scoped tokens, unknown target', async () => {
    const good = await stack.token('alice');
    const expiring = await stack.token('alice', '--ttl', '1s');
    const revoked = await stack.token('alice');
    const scoped = await stack.token('alice', '--targets', 'other-*');
    assert.equal((await stack.warden.cli(['tokens', 'revoke', revoked])).code, 0);
    // Past the 1 s lifetime and Warden's 5 s clock tolerance.
    await new Promise((r) => setTimeout(r, 7000));
    const before = upstreamConnections();

    const garbage = await refusedWith({ user: 'alice', password: 'not-a-token' });
    assert.equal(garbage.code, '28P01');
    assert.match(garbage.message, /invalid Warden token/);
    const expired = await refusedWith({ user: 'alice', password: expiring });
    assert.equal(expired.code, '28P01');
    assert.match(expired.message, /expired/);
    const wasRevoked = await refusedWith({ user: 'alice', password: revoked });
    assert.equal(wasRevoked.code, '28P01');
    assert.match(wasRevoked.message, /revoked/);
    const otherUser = await refusedWith({ user: 'mallory', password: good });
    assert.equal(otherUser.code, '28P01');
    const outOfScope = await refusedWith({ user: 'alice', password: scoped });
    assert.equal(outOfScope.code, '28000');
    assert.match(outOfScope.message, /may not use target "pg-main"/);
    const unknown = await refusedWith({ user: 'alice', password: good, database: 'no-such-target' });
    assert.equal(unknown.code, '3D000');
    assert.match(unknown.message, /target "no-such-target" does not exist/);

    assert.equal(upstreamConnections(), before, 'a refused caller must not cause an upstream connection');
    const ok = await stack.psql(['-c', 'SELECT 1'], { user: 'alice', token: good });
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(upstreamConnections() > before, 'the upstream log does count connections');
    const sessions = JSON.parse((await stack.warden.cli(['sessions', 'list', '--json'])).stdout) as { endReason: string | null }[];
    const refusals = sessions.filter((s) => s.endReason?.startsWith('refused:')).map((s) => s.endReason);
    for (const code of ['TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_REVOKED', 'ACCESS_DENIED', 'TARGET_NOT_FOUND']) {
      assert.ok(refusals.some((r) => r!.includes(`WARDEN_ERR_${code}`)), `refusal ${code} recorded`);
    }
  });

  test('without TLS the password is never asked for', async () => {
    const r = await stack.psql(['-c', 'SELECT 1'], { user: 'alice', token: await stack.token('alice'), sslmode: 'disable' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Warden requires TLS/);
  });

  test('startup options that could change identity are refused', async () => {
    const r = await stack.psql(['-c', 'SELECT current_user'], { user: 'alice', token: await stack.token('alice'),
      env: { PGOPTIONS: '-c role=postgres' } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not allowed through Warden/);
  });
});

describe('upstream problems are reported, never leaked', () => {
  test('a dead upstream gives 08006 and the session is closed', async () => {
    await addTarget('pg-dead', ['--host', '127.0.0.1', '--port', String(await freePort()), '--database', 'app',
      '--user', 'x', '--tls', 'disable'], 'whatever');
    const err = await refusedWith({ user: 'alice', password: await stack.token('alice'), database: 'pg-dead' });
    assert.equal(err.code, '08006');
    assert.match(err.message, /target "pg-dead" is unreachable/);
  });

  test('a wrong upstream password gives 08004 without the password', async () => {
    await addTarget('pg-badpw', ['--host', '127.0.0.1', '--port', String(stack.pg.port), '--database', 'app',
      '--user', stack.pg.scram.user, '--tls', 'disable'], 'Wrong-Upstream-Secret-123');
    const err = await refusedWith({ user: 'alice', password: await stack.token('alice'), database: 'pg-badpw' });
    assert.equal(err.code, '08004');
    assert.match(err.message, /upstream authentication failed/);
    assert.doesNotMatch(JSON.stringify(err), /Wrong-Upstream-Secret-123/);
  });
});

describe('upstream authentication methods and TLS modes', () => {
  test('md5, trust, require and verify-full targets all work through Warden', async () => {
    const caFile = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'warden-ca-')), 'ca.pem');
    await fs.writeFile(caFile, stack.pg.caCert);
    const base = ['--host', '127.0.0.1', '--port', String(stack.pg.port), '--database', 'app'];
    await addTarget('pg-md5', [...base, '--user', stack.pg.md5.user, '--tls', 'disable'], stack.pg.md5.password);
    await addTarget('pg-trust', [...base, '--user', stack.pg.trust.user, '--tls', 'disable']);
    await addTarget('pg-tls', [...base, '--user', stack.pg.tlsOnly.user, '--tls', 'require'], stack.pg.tlsOnly.password);
    await addTarget('pg-verify', [...base, '--user', stack.pg.tlsOnly.user, '--tls', 'verify-full', '--ca-file', caFile],
      stack.pg.tlsOnly.password);
    await addTarget('pg-plain-tlsonly', [...base, '--user', stack.pg.tlsOnly.user, '--tls', 'disable'], stack.pg.tlsOnly.password);
    const token = await stack.token('alice');
    const expectations: [string, string][] = [
      ['pg-md5', stack.pg.md5.user], ['pg-trust', stack.pg.trust.user],
      ['pg-tls', stack.pg.tlsOnly.user], ['pg-verify', stack.pg.tlsOnly.user],
    ];
    for (const [target, role] of expectations) {
      const r = await stack.psql(['-c', 'SELECT current_user, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())'],
        { user: 'alice', token, database: target });
      assert.equal(r.code, 0, `${target}: ${r.stderr}`);
      const [user, ssl] = r.stdout.trim().split('|');
      assert.equal(user, role, target);
      assert.equal(ssl, target === 'pg-tls' || target === 'pg-verify' ? 't' : 'f', target);
    }
    const refused = await refusedWith({ user: 'alice', password: token, database: 'pg-plain-tlsonly' });
    assert.equal(refused.code, '08004');
  });
});

describe('secrets stay secret', () => {
  test('the backend password is in no byte a caller receives, no log line and no data-dir file', async () => {
    const secret = stack.pg.scram.password;
    const token = await stack.token('alice');
    const received = [
      await rawSession(token, 'SELECT current_user'),
      await rawSession(token, 'SELECT * FROM nope'),
      await rawSession('garbage-token', 'SELECT 1'),
    ];
    for (const bytes of received) {
      assert.ok(bytes.length > 0);
      assert.equal(bytes.includes(Buffer.from(secret)), false);
    }
    assert.ok(received[0].includes(Buffer.from(stack.pg.scram.user)), 'the session really ran');
    const { stdout, stderr } = stack.warden.output();
    assert.equal(stdout.includes(secret) || stderr.includes(secret), false, 'not in logs');
    for (const file of await filesUnder(stack.warden.dataDir)) {
      const content = await fs.readFile(file);
      assert.equal(content.includes(Buffer.from(secret)), false, `${file} holds the password in plain text`);
    }
    const listed = await stack.warden.cli(['targets', 'show', 'pg-main', '--json']);
    assert.equal(listed.stdout.includes(secret), false);
  });
});

describe('garbage on the wire', () => {
  test('random and mutated startup bytes get an error or a close, never a crash or a hang', async () => {
    let seed = 0x5eed1234;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const valid = Buffer.concat([len32(8), len32(80877103)]);
    const startup = Buffer.from('\0\0\0\x29\0\x03\0\0user\0alice\0database\0pg-main\0\0', 'latin1');
    startup.writeInt32BE(startup.length, 0);
    for (let i = 0; i < 150; i++) {
      const base = Buffer.from(i % 3 === 0 ? valid : i % 3 === 1 ? startup : Buffer.alloc(0));
      let bytes = Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
      if (base.length > 0) {
        bytes = Buffer.from(base);
        for (let k = 0; k < 3; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      }
      await sendAndWaitForClose(bytes);
    }
    const r = await stack.psql(['-c', 'SELECT 7'], { user: 'alice', token: await stack.token('alice') });
    assert.equal(r.stdout.trim(), '7', 'Warden still serves after the garbage');
  });
});

function len32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** Sends bytes, half-closes, and waits (bounded) for Warden to close; an answer, if any, must be PostgreSQL-shaped. */
function sendAndWaitForClose(bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(stack.warden.ports.postgres, '127.0.0.1');
    let answer = Buffer.alloc(0);
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no close within 10 s for ${bytes.toString('hex')}`)); }, 10_000);
    socket.on('data', (d) => (answer = Buffer.concat([answer, d])));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      if (answer.length > 0 && !['E', 'N', 'S', 'R', 'v'].includes(String.fromCharCode(answer[0]))) {
        reject(new Error(`unexpected answer ${answer.subarray(0, 16).toString('hex')}`));
      } else resolve();
    });
    socket.end(bytes);
  });
}

/** A whole session on a raw TLS socket (login, one query, terminate) returning every byte received. */
async function rawSession(password: string, sql: string): Promise<Buffer> {
  const tls = await import('node:tls');
  const { serialize } = await import('pg-protocol');
  const plain = net.connect(stack.warden.ports.postgres, '127.0.0.1');
  await new Promise((r) => plain.once('connect', r));
  plain.write(Buffer.concat([len32(8), len32(80877103)]));
  await new Promise((r) => plain.once('data', r));
  const socket = tls.connect({ socket: plain, rejectUnauthorized: false });
  await new Promise((r) => socket.once('secureConnect', r));
  const chunks: Buffer[] = [];
  let waiting: (() => void) | null = null;
  socket.on('data', (d: Buffer) => { chunks.push(d); waiting?.(); });
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.on('close', () => { waiting?.(); r(); }));
  /** Waits until the bytes received so far end with a message of one of `types`, or the socket closed. */
  const until = async (types: string) => {
    while (!socket.destroyed && !endsWithMessage(Buffer.concat(chunks), types)) await new Promise<void>((r) => (waiting = r));
  };
  socket.write(serialize.startup({ user: 'alice', database: stack.target }));
  await until('R');
  socket.write(serialize.password(password));
  await until('ZE');
  if (!socket.destroyed) {
    socket.write(serialize.query(sql));
    await until('Z');
    socket.end(serialize.end());
  }
  await closed;
  return Buffer.concat(chunks);
}

/** True when `bytes` is a whole sequence of messages whose last one has a type in `types`. */
function endsWithMessage(bytes: Buffer, types: string): boolean {
  let off = 0;
  let last = '';
  while (off + 5 <= bytes.length) {
    const next = off + 1 + bytes.readInt32BE(off + 1);
    if (next > bytes.length) return false;
    last = String.fromCharCode(bytes[off]);
    off = next;
  }
  return off === bytes.length && last !== '' && types.includes(last);
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await filesUnder(p));
    else out.push(p);
  }
  return out;
}
