/**
 * Proves the PostgreSQL harness: a real server starts, every role authenticates over TCP with the method its
 * pg_hba line names, the TLS-only role needs TLS, the CA verifies the server, and two servers run side by side.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startPostgres, type PgServer } from './postgres.js';

interface Login {
  user: string;
  password?: string;
  ssl?: pg.ClientConfig['ssl'];
  database?: string;
}

async function query(server: PgServer, login: Login, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ host: server.host, port: server.port, database: login.database ?? server.database,
    user: login.user, password: login.password, ssl: login.ssl ?? false, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The methods of the non-local pg_hba rules naming this user (pg_stat_activity does not record the method). */
async function authMethod(server: PgServer, login: Login): Promise<string> {
  // pg_hba_file_rules needs superuser; ask over the unix socket which rules a TCP login of this user matches.
  const su = new pg.Client({ host: server.socketDir, port: server.port, user: server.superuser, database: 'postgres' });
  await su.connect();
  try {
    const res = await su.query<{ auth_method: string }>(
      `SELECT auth_method FROM pg_hba_file_rules WHERE $1 = ANY(user_name) AND type <> 'local' ORDER BY line_number`,
      [login.user]);
    return res.rows.map((r) => r.auth_method).join(',');
  } finally {
    await su.end();
  }
}

describe('PostgreSQL harness', () => {
  let server: PgServer;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });

  it('starts a real server with the expected layout', async () => {
    assert.match(server.version, /^\d+/);
    assert.equal(server.host, '127.0.0.1');
    assert.ok(server.port > 0);
    assert.ok(fs.existsSync(server.dataDir));
    assert.match(server.caCert, /BEGIN CERTIFICATE/);
    const { rows } = await query(server, server.scram, 'SELECT current_database() AS db, current_user AS u');
    assert.deepEqual(rows[0], { db: 'app', u: 'warden_scram' });
  });

  it('scram role authenticates with SCRAM-SHA-256 and rejects a wrong password', async () => {
    assert.equal(await authMethod(server, server.scram), 'scram-sha-256');
    await query(server, server.scram, 'SELECT 1');
    await assert.rejects(query(server, { ...server.scram, password: 'wrong' }, 'SELECT 1'), { code: '28P01' });
  });

  it('md5 role authenticates with md5 and its password is stored as md5', async () => {
    assert.equal(await authMethod(server, server.md5), 'md5');
    await query(server, server.md5, 'SELECT 1');
    await assert.rejects(query(server, { ...server.md5, password: 'wrong' }, 'SELECT 1'), { code: '28P01' });
    const su = new pg.Client({ host: server.socketDir, port: server.port, user: server.superuser, database: 'postgres' });
    await su.connect();
    const { rows } = await su.query(`SELECT rolpassword FROM pg_authid WHERE rolname = $1`, [server.md5.user]);
    await su.end();
    assert.match(rows[0].rolpassword, /^md5[0-9a-f]{32}$/);
  });

  it('cleartext role authenticates with the password method', async () => {
    assert.equal(await authMethod(server, server.cleartext), 'password');
    await query(server, server.cleartext, 'SELECT 1');
    await assert.rejects(query(server, { ...server.cleartext, password: 'wrong' }, 'SELECT 1'), { code: '28P01' });
  });

  it('trust role connects without a password', async () => {
    assert.equal(await authMethod(server, server.trust), 'trust');
    await query(server, server.trust, 'SELECT 1');
  });

  it('tlsOnly role is rejected without TLS and accepted with verify-full against caCert', async () => {
    await assert.rejects(query(server, server.tlsOnly, 'SELECT 1'), { code: '28000' });
    const ssl = { ca: server.caCert, rejectUnauthorized: true };
    const { rows } = await query(server, { ...server.tlsOnly, ssl }, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    assert.equal(rows[0].ssl, true);
    const viaName = await query(server, { ...server.tlsOnly, ssl: { ...ssl, servername: 'localhost' } }, 'SELECT 1 AS one');
    assert.equal(viaName.rows[0].one, 1);
  });

  it('the scram role owns app and may create tables; database other exists', async () => {
    await query(server, server.scram, 'CREATE TABLE harness_t (id int); DROP TABLE harness_t');
    const { rows } = await query(server, { ...server.scram, database: 'other' }, 'SELECT current_database() AS db');
    assert.equal(rows[0].db, 'other');
  });

  it('runs two servers at once, each with its own port and data', async () => {
    const second = await startPostgres({ maxConnections: 20, extraConf: { work_mem: '8MB' } });
    try {
      assert.notEqual(second.port, server.port);
      assert.notEqual(second.dataDir, server.dataDir);
      const { rows } = await query(second, second.scram, 'SHOW max_connections');
      assert.equal(rows[0].max_connections, '20');
      const mem = await query(second, second.scram, 'SHOW work_mem');
      assert.equal(mem.rows[0].work_mem, '8MB');
      await query(server, server.scram, 'SELECT 1');
      assert.notEqual(second.scram.password, server.scram.password);
    } finally {
      await second.stop();
    }
    assert.equal(fs.existsSync(second.dataDir), false);
    await second.stop(); // idempotent
  });
});
