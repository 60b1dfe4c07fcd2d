/**
 * Upstream connections against a real PostgreSQL (the harness) for every auth method and TLS mode, plus small fake
 * servers for what a real one never does (garbage, skipped SCRAM steps, silence, unsupported methods).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { WardenError } from '../../errors.js';
import type { Credentials, PostgresTarget } from '../../session/types.js';
import { freePort } from '../../../test/harness/ports.js';
import { generateCertificates, startPostgres, type PgServer } from '../../../test/harness/postgres.js';
import { cancelUpstream, connectUpstream, UpstreamStartupError, type UpstreamConnection,
  type UpstreamOptions } from './upstream.js';

let server: PgServer;

function target(over: Partial<PostgresTarget> = {}): PostgresTarget {
  return { name: 'pg-test', type: 'postgres', host: server.host, port: server.port, database: 'app',
    user: server.scram.user, tls: 'disable', ca: null, labels: {}, ...over };
}

function connect(credentials: Credentials, over: Partial<PostgresTarget> = {},
  extra: Partial<UpstreamOptions> = {}): Promise<UpstreamConnection> {
  return connectUpstream({ target: target(over), credentials, database: 'app', startupParams: {}, ...extra });
}

const scram = (): Credentials => ({ ...server.scram });

/** One frame from a buffer, or null if incomplete. */
function takeFrame(buf: Buffer): { type: string; body: Buffer; rest: Buffer } | null {
  if (buf.length < 5) return null;
  const len = buf.readUInt32BE(1);
  if (buf.length < len + 1) return null;
  return { type: String.fromCharCode(buf[0]), body: buf.subarray(5, len + 1), rest: buf.subarray(len + 1) };
}

function fieldsOf(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    out[String.fromCharCode(body[at])] = body.toString('utf8', at + 1, end);
    at = end + 1;
  }
  return out;
}

/** Runs a simple Query written raw on the upstream socket; returns text rows or the error's fields. */
function rawQuery(conn: UpstreamConnection, sql: string): Promise<{ rows: (string | null)[][]; error?: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    let buf = conn.leftover;
    const rows: (string | null)[][] = [];
    let error: Record<string, string> | undefined;
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      for (let f = takeFrame(buf); f !== null; f = takeFrame(buf)) {
        buf = f.rest;
        if (f.type === 'E') error = fieldsOf(f.body);
        if (f.type === 'D') rows.push(decodeRow(f.body));
        if (f.type === 'Z') {
          conn.socket.off('data', onData);
          conn.socket.pause();
          resolve({ rows, error });
          return;
        }
      }
    };
    conn.socket.on('data', onData).once('error', reject);
    conn.socket.write(Buffer.concat([Buffer.from('Q'), int32(Buffer.byteLength(sql) + 5), Buffer.from(`${sql}\0`)]));
    conn.socket.resume();
  });
}

function decodeRow(body: Buffer): (string | null)[] {
  const row: (string | null)[] = [];
  let at = 2;
  for (let i = 0; i < body.readInt16BE(0); i++) {
    const len = body.readInt32BE(at);
    at += 4;
    row.push(len < 0 ? null : body.toString('utf8', at, at + len));
    if (len > 0) at += len;
  }
  return row;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

async function scalar(conn: UpstreamConnection, sql: string): Promise<string | null> {
  const { rows, error } = await rawQuery(conn, sql);
  assert.equal(error, undefined, JSON.stringify(error));
  return rows[0][0];
}

function close(conn: UpstreamConnection): void {
  conn.socket.end(Buffer.from([0x58, 0, 0, 0, 4])); // Terminate
  conn.socket.destroy();
}

/** Asserts a WardenError with this code whose message and detail never contain `secret`. */
/** Like wardenError, but `expected` is matched against the caller-visible message alone. */
function callerError(code: string, secret: string | undefined, expected: string | RegExp) {
  return (err: unknown): boolean => {
    wardenError(code, secret)(err);
    const { message } = err as WardenError;
    if (typeof expected === 'string') assert.equal(message, expected);
    else assert.match(message, expected);
    return true;
  };
}

function wardenError(code: string, secret?: string, pattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof WardenError, `expected a WardenError, got ${String(err)}`);
    assert.equal(err.code, code, `${err.code}: ${err.message} (${err.detail})`);
    if (secret !== undefined) {
      assert.ok(!err.message.includes(secret), 'password in message');
      assert.ok(!(err.detail ?? '').includes(secret), 'password in detail');
    }
    if (pattern) assert.match(`${err.message} ${err.detail ?? ''}`, pattern);
    return true;
  };
}

before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

describe('connectUpstream authentication', () => {
  it('logs in with SCRAM-SHA-256 and hands over a usable, paused socket', async () => {
    const conn = await connect(scram());
    try {
      assert.equal(conn.tls, false);
      assert.equal(conn.readyStatus, 'I');
      assert.ok(conn.processId > 0);
      assert.equal(conn.secretKey.length, 4);
      assert.match(conn.parameters.server_version, /^\d+/);
      assert.equal(conn.parameters.session_authorization, server.scram.user);
      assert.equal(conn.leftover.length, 0);
      assert.equal(conn.socket.isPaused(), true);
      assert.equal(conn.socket.listenerCount('data'), 0);
      assert.equal(await scalar(conn, 'SELECT current_user'), server.scram.user);
      assert.equal(await scalar(conn, 'SELECT current_database()'), 'app');
    } finally {
      close(conn);
    }
  });

  it('logs in with MD5, cleartext and trust', async () => {
    for (const credentials of [server.md5, server.cleartext, { user: server.trust.user, password: null }]) {
      const conn = await connect({ ...credentials });
      try {
        assert.equal(await scalar(conn, 'SELECT current_user'), credentials.user);
      } finally {
        close(conn);
      }
    }
  });

  it('maps a wrong password to UPSTREAM_AUTH without ever echoing it', async () => {
    for (const role of [server.scram, server.md5, server.cleartext]) {
      const wrong = `wrong-${role.password}-x`;
      await assert.rejects(connect({ user: role.user, password: wrong }),
        callerError('WARDEN_ERR_UPSTREAM_AUTH', wrong,
        'upstream authentication failed for target "pg-test": the target\'s credentials were rejected by the server (28P01)'));
    }
  });

  it('fails with UPSTREAM_AUTH when the server wants a password and the vault has none', async () => {
    await assert.rejects(connect({ user: server.scram.user, password: null }),
      callerError('WARDEN_ERR_UPSTREAM_AUTH', undefined,
        'upstream authentication failed for target "pg-test": the server asked for a password but none is stored for the target'));
  });

  it('relays other startup errors with their fields (unknown database: 3D000)', async () => {
    await assert.rejects(connect(scram(), {}, { database: 'no_such_db' }), (err: unknown) => {
      assert.ok(err instanceof UpstreamStartupError);
      assert.equal(err.fields.C, '3D000');
      assert.match(err.fields.M, /no_such_db/);
      assert.ok(!err.message.includes(server.scram.password) && !(err.detail ?? '').includes(server.scram.password));
      return true;
    });
  });

  it('reports a closed port as UPSTREAM_UNAVAILABLE with the system error in detail', async () => {
    const port = await freePort();
    await assert.rejects(connect(scram(), { port }), wardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE',
      server.scram.password, /target "pg-test" is unreachable.*ECONNREFUSED/s));
    await assert.rejects(connect(scram(), { port }), callerError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', server.scram.password,
      `target "pg-test" is unreachable: connection refused by ${server.host}:${port}`));
  });

  it('says when the host name does not resolve', async () => {
    await assert.rejects(connect(scram(), { host: 'no-such-host.invalid' }), callerError('WARDEN_ERR_UPSTREAM_UNAVAILABLE',
      server.scram.password, /^target "pg-test" is unreachable: host name no-such-host\.invalid could not be resolved( \(temporary DNS failure\))?$/));
  });

  it('forwards the caller startup parameters but never user, database or replication', async () => {
    const conn = await connect(scram(), {}, { startupParams: { application_name: 'warden-upstream-test',
      client_encoding: 'LATIN1', DateStyle: 'German', user: 'postgres', database: 'other', replication: 'database' } });
    try {
      assert.equal(conn.parameters.application_name, 'warden-upstream-test');
      assert.equal(conn.parameters.client_encoding, 'LATIN1');
      assert.equal(await scalar(conn, 'SHOW application_name'), 'warden-upstream-test');
      assert.match(conn.parameters.DateStyle, /German/);
      assert.equal(await scalar(conn, 'SELECT current_user'), server.scram.user);
      assert.equal(await scalar(conn, 'SELECT current_database()'), 'app');
      assert.equal(await scalar(conn, "SELECT backend_type FROM pg_stat_activity WHERE pid = pg_backend_pid()"),
        'client backend');
    } finally {
      close(conn);
    }
  });
});

describe('connectUpstream TLS modes', () => {
  const sslOf = (conn: UpstreamConnection): Promise<string | null> =>
    scalar(conn, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');

  it('disable, prefer, require and verify-full behave as libpq', async () => {
    const cases: Array<[Partial<PostgresTarget>, boolean]> = [
      [{ tls: 'disable' }, false],
      [{ tls: 'prefer' }, true],
      [{ tls: 'require' }, true],
      [{ tls: 'verify-full', ca: server.caCert }, true],
      [{ tls: 'verify-full', ca: server.caCert, host: 'localhost' }, true],
    ];
    for (const [over, secure] of cases) {
      const conn = await connect(scram(), over);
      try {
        assert.equal(conn.tls, secure, JSON.stringify(over.tls));
        assert.equal(await sslOf(conn), secure ? 't' : 'f');
      } finally {
        close(conn);
      }
    }
  });

  it('verify-full refuses a server signed by another CA, and by no system CA', async () => {
    const other = await generateCertificates('Some Other CA');
    await assert.rejects(connect(scram(), { tls: 'verify-full', ca: other.caCert }),
      callerError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', server.scram.password, /^TLS connection to target "pg-test" failed: the server's certificate (is not signed by a CA the target trusts|chains to a CA the target does not trust) \([A-Z_]+\)/));
    await assert.rejects(connect(scram(), { tls: 'verify-full', ca: null }),
      wardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', server.scram.password, /TLS/));
  });

  it('the TLS-only role fails without TLS and works with require', async () => {
    await assert.rejects(connect({ ...server.tlsOnly }, { tls: 'disable' }),
      callerError('WARDEN_ERR_UPSTREAM_AUTH', server.tlsOnly.password, 'upstream authentication failed for target "pg-test": ' +
        'the server requires TLS for the target\'s login but the target connects without it (28000, pg_hba.conf)'));
    const conn = await connect({ ...server.tlsOnly }, { tls: 'require' });
    try {
      assert.equal(await sslOf(conn), 't');
      assert.equal(await scalar(conn, 'SELECT current_user'), server.tlsOnly.user);
    } finally {
      close(conn);
    }
  });
});

describe('cancelUpstream', () => {
  for (const tls of ['disable', 'require'] as const) {
    it(`cancels a running query (tls ${tls})`, async () => {
      const conn = await connect(scram(), { tls });
      try {
        const running = rawQuery(conn, 'SELECT pg_sleep(30)');
        await waitUntilActive(conn.processId);
        await cancelUpstream(target({ tls }), conn.processId, conn.secretKey);
        const result = await withTimeout(running, 10_000);
        assert.equal(result.error?.C, '57014');
        assert.equal(await scalar(conn, 'SELECT 1'), '1'); // the session survives
      } finally {
        close(conn);
      }
    });
  }

  it('fails with UPSTREAM_UNAVAILABLE when the target is down', async () => {
    const port = await freePort();
    await assert.rejects(cancelUpstream(target({ port }), 1, Buffer.alloc(4)), wardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE'));
  });
});

async function waitUntilActive(pid: number): Promise<void> {
  const su = new pg.Client({ host: server.socketDir, port: server.port, user: server.superuser, database: 'postgres' });
  await su.connect();
  try {
    for (let i = 0; i < 200; i++) {
      const { rows } = await su.query(`SELECT state FROM pg_stat_activity WHERE pid = $1`, [pid]);
      if (rows[0]?.state === 'active') return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('query never became active');
  } finally {
    await su.end();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result within ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}

describe('SASLprep against the real server', () => {
  const passwords = ['p\u00E4ssw\u00F6rd-1', 'pa\u0308ss-decomposed', '\uFF50\uFF41\uFF53\uFF53-fullwidth',
    'pass\u00A0word-nbsp', 'I\u00ADX-soft-hyphen', '\u05E9\u05DC\u05D5\u05DD', '\u05D0\uFB2A\u05D1',
    '\uFF41\u05E9-mixed-bidi', '\uFF41\u{1F600}-emoji', '\uFF41\u0221-unassigned-in-3.2', '\u2168-roman'];
  // Each case either needs normalisation or needs the raw fallback: a client doing only one of them fails some.

  before(async () => {
    const su = new pg.Client({ host: server.socketDir, port: server.port, user: server.superuser, database: 'postgres' });
    await su.connect();
    try {
      await su.query(`SET password_encryption = 'scram-sha-256'`);
      for (const [i, password] of passwords.entries()) {
        await su.query(`CREATE ROLE prep_${i} LOGIN PASSWORD ${su.escapeLiteral(password)}`);
      }
    } finally {
      await su.end();
    }
  });

  for (const [i, password] of passwords.entries()) {
    it(`authenticates with ${JSON.stringify(password)}`, async () => {
      close(await connect({ user: `prep_${i}`, password }));
    });
  }
});

type FakeHandler = (socket: net.Socket, first: Buffer) => void;

/** A TCP server that reads the first packet (startup or SSLRequest) and lets the test answer however it likes. */
async function fakeServer(handler: FakeHandler): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', (first) => handler(socket, first));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  return { port, close: () => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    srv.close(() => resolve());
  }) };
}

function msg(type: string, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([Buffer.from(type), int32(b.length + 4), b]);
}

const authCode = (code: number, rest: Buffer | string = Buffer.alloc(0)): Buffer =>
  msg('R', Buffer.concat([int32(code), typeof rest === 'string' ? Buffer.from(rest) : rest]));

async function withFake(handler: FakeHandler, run: (port: number) => Promise<void>): Promise<void> {
  const fake = await fakeServer(handler);
  try {
    await run(fake.port);
  } finally {
    await fake.close();
  }
}

describe('connectUpstream against misbehaving servers', () => {
  const creds: Credentials = { user: 'u', password: 'fake-secret-password' };

  it('passes notices through raw and keeps bytes after ReadyForQuery as leftover', async () => {
    const notice = msg('N', 'SNOTICE\0C00000\0Mhello\0\0');
    const after = msg('N', 'SNOTICE\0C00000\0Mlater\0\0');
    await withFake((s) => s.write(Buffer.concat([authCode(0), notice, msg('S', 'server_version\x0099.0\0'),
      msg('K', Buffer.concat([int32(42), int32(7)])), msg('Z', 'T'), after])), async (port) => {
      const conn = await connect(creds, { port });
      close(conn);
      assert.deepEqual(conn.notices, [notice]);
      assert.equal(conn.parameters.server_version, '99.0');
      assert.equal(conn.processId, 42);
      assert.deepEqual(conn.secretKey, int32(7));
      assert.equal(conn.readyStatus, 'T');
      assert.deepEqual(conn.leftover, after);
    });
  });

  it('rejects garbage as UPSTREAM_PROTOCOL', async () => {
    await withFake((s) => s.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')), async (port) => {
      await assert.rejects(connect(creds, { port }), wardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', creds.password!));
    });
    await withFake((s) => s.write(msg('Z', 'I')), async (port) => {
      await assert.rejects(connect(creds, { port }), wardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', creds.password!));
    });
  });

  it('rejects data injected after the TLS answer (CVE-2021-23222)', async () => {
    await withFake((s) => s.write(Buffer.concat([Buffer.from('S'), authCode(0)])), async (port) => {
      await assert.rejects(connect(creds, { port, tls: 'require' }), wardenError('WARDEN_ERR_UPSTREAM_PROTOCOL'));
    });
  });

  it('require refuses a server without TLS; prefer falls back to plain', async () => {
    const handler: FakeHandler = (s) => {
      s.write('N');
      s.once('data', () => s.write(Buffer.concat([authCode(0), msg('Z', 'I')])));
    };
    await withFake(handler, async (port) => {
      await assert.rejects(connect(creds, { port, tls: 'require' }), callerError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', undefined,
        'target "pg-test" is unreachable: the server does not accept TLS but the target requires it (tls require)'));
      const conn = await connect(creds, { port, tls: 'prefer' });
      assert.equal(conn.tls, false);
      close(conn);
    });
  });

  it('refuses unsupported methods and SCRAM-SHA-256-PLUS only', async () => {
    await withFake((s) => s.write(authCode(7)), async (port) => {
      await assert.rejects(connect(creds, { port }), callerError('WARDEN_ERR_UPSTREAM_AUTH', creds.password!,
        'upstream authentication failed for target "pg-test": the server asked for GSSAPI, which Warden does not support ' +
        '(use scram-sha-256, md5, password or trust)'));
    });
    await withFake((s) => s.write(authCode(10, 'SCRAM-SHA-256-PLUS\0\0')), async (port) => {
      await assert.rejects(connect(creds, { port }), wardenError('WARDEN_ERR_UPSTREAM_AUTH', creds.password!, /PLUS/));
    });
  });

  it('refuses AuthenticationOk before the SCRAM server signature was verified', async () => {
    await withFake((s) => {
      s.write(authCode(10, 'SCRAM-SHA-256\0\0'));
      s.once('data', () => s.write(Buffer.concat([authCode(0), msg('Z', 'I')])));
    }, async (port) => {
      await assert.rejects(connect(creds, { port }), wardenError('WARDEN_ERR_UPSTREAM_AUTH', creds.password!,
        /the server skipped the end of the SCRAM exchange/));
    });
  });

  it('refuses a SCRAM server nonce that does not extend ours', async () => {
    await withFake((s) => {
      s.write(authCode(10, 'SCRAM-SHA-256\0\0'));
      s.once('data', () => s.write(authCode(11, 'r=attacker-nonce,s=QUJDRA==,i=4096')));
    }, async (port) => {
      await assert.rejects(connect(creds, { port }), wardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', creds.password!,
        /nonce/));
    });
  });

  it('times out on a silent server and honours an AbortSignal', async () => {
    await withFake(() => undefined, async (port) => {
      await assert.rejects(connect(creds, { port }, { connectTimeoutMs: 200 }),
        callerError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', creds.password!,
          `target "pg-test" is unreachable: no answer from 127.0.0.1:${port} within 0.2 s while authenticating`));
      const controller = new AbortController();
      const pending = connect(creds, { port }, { signal: controller.signal });
      setTimeout(() => controller.abort(new Error('session closed')), 50);
      await assert.rejects(pending, wardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', undefined, /cancelled/));
      const reason = new WardenError('WARDEN_ERR_SHUTTING_DOWN', 'Warden is shutting down');
      await assert.rejects(connect(creds, { port }, { signal: AbortSignal.abort(reason) }), (err) => err === reason);
    });
  });
});
