/**
 * The masking catalog against a real PostgreSQL (the harness): one shared connection per target database however
 * many sessions use it, closed by the last one; the same TLS policy as every upstream connection (TLS required by
 * the server's pg_hba is met, TLS 1.2 or newer, verify-full against an IP address with the target's CA, another CA
 * refused); lookups by OID and by table name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { WardenError } from '../../errors.js';
import type { Credentials, PostgresTarget } from '../../session/types.js';
import { generateCertificates, startPostgres, type PgServer } from '../../../test/harness/postgres.js';
import { TableCatalog } from './catalog.js';

let server: PgServer;
let admin: pg.Client;
let customersOid: number;

function target(over: Partial<PostgresTarget> = {}): PostgresTarget {
  return { name: 'pg-catalog-test', type: 'postgres', host: server.host, port: server.port, database: 'app',
    user: server.scram.user, tls: 'disable', ca: null, labels: {}, ...over };
}

/** Catalog backends the server sees now, with their TLS state. */
async function catalogBackends(): Promise<{ usename: string; ssl: boolean | null; version: string | null }[]> {
  const r = await admin.query(`SELECT a.usename, s.ssl, s.version FROM pg_stat_activity a
    LEFT JOIN pg_stat_ssl s ON s.pid = a.pid WHERE a.application_name = 'warden-catalog' ORDER BY a.usename`);
  return r.rows;
}

/** Waits (polling the server) until the number of catalog backends is `n`. */
async function untilBackends(n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await catalogBackends()).length === n) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal((await catalogBackends()).length, n);
}

before(async () => {
  server = await startPostgres();
  admin = new pg.Client({ host: server.socketDir, port: server.port, user: server.superuser, database: 'app' });
  await admin.connect();
  await admin.query(`CREATE TABLE public.customers (id int, ssn text);
    GRANT SELECT ON public.customers TO ${server.tlsOnly.user}`);
  customersOid = Number((await admin.query(`SELECT 'public.customers'::regclass::oid AS oid`)).rows[0].oid);
});
after(async () => {
  await admin?.end();
  await server?.stop();
});

describe('one catalog connection per target database', () => {
  it('is shared by every session, opened once for concurrent lookups, and closed by the last holder', async () => {
    const credentials = async (): Promise<Credentials> => ({ ...server.scram });
    const sessions = Array.from({ length: 5 }, () => TableCatalog.shared(target(), 'app', credentials));
    assert.ok(sessions.every((c) => c === sessions[0]), 'the same catalog for the same target and database');
    await Promise.all(sessions.map((c) => c.resolve([customersOid])));
    assert.equal(sessions[0].source(customersOid, 2), 'public.customers.ssn');
    assert.equal((await catalogBackends()).length, 1);
    const tables = await sessions[3].tablesNamed(undefined, 'customers');
    assert.deepEqual(tables.map((t) => [t.schema, t.table, t.columns.map((c) => c.name)]), [['public', 'customers', ['id', 'ssn']]]);
    const other = TableCatalog.shared(target(), 'other', credentials);
    assert.notEqual(other, sessions[0], 'another database is another connection');
    await other.close();
    for (const c of sessions.slice(1)) await c.close();
    assert.equal((await catalogBackends()).length, 1, 'still held by one session');
    await sessions[0].close();
    await untilBackends(0);
    const again = TableCatalog.shared(target(), 'app', credentials);
    assert.notEqual(again, sessions[0], 'a catalog nobody holds is forgotten');
    await again.close();
  });
});

describe('the same TLS policy as every upstream connection', () => {
  it('meets a TLS-only role over TLS 1.2 or newer, and verify-full checks an IP address against the target CA', async () => {
    const credentials = async (): Promise<Credentials> => ({ ...server.tlsOnly });
    for (const over of [{ tls: 'require' as const }, { tls: 'verify-full' as const, ca: server.caCert, host: '127.0.0.1' }]) {
      const catalog = TableCatalog.shared(target({ ...over, user: server.tlsOnly.user, name: `tls-${over.tls}` }), 'app', credentials);
      try {
        await catalog.resolve([customersOid]);
        const backends = await catalogBackends();
        assert.equal(backends.length, 1);
        assert.equal(backends[0].ssl, true);
        assert.match(backends[0].version ?? '', /^TLSv1\.[23]$/);
      } finally {
        await catalog.close();
        await untilBackends(0);
      }
    }
  });

  it('fails closed without TLS where the server requires it, and against another CA', async () => {
    const other = await generateCertificates();
    for (const [over, pattern] of [
      [{ tls: 'disable' as const }, /could not read the catalog/],
      [{ tls: 'verify-full' as const, ca: other.caCert, host: '127.0.0.1' }, /could not read the catalog/],
    ] as const) {
      const catalog = TableCatalog.shared(target({ ...over, user: server.tlsOnly.user, name: `bad-${over.tls}` }), 'app',
        async () => ({ ...server.tlsOnly }));
      try {
        await assert.rejects(catalog.resolve([customersOid]), (e: unknown) =>
          e instanceof WardenError && e.code === 'WARDEN_ERR_UPSTREAM_UNAVAILABLE' && pattern.test(e.message));
        assert.equal(catalog.source(customersOid, 2), undefined);
      } finally {
        await catalog.close();
      }
    }
  });
});
