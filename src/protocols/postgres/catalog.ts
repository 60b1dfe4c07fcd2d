/**
 * Names of result columns' source tables, for masking rules written as `schema.table.column`: a RowDescription
 * only carries the table's OID and the column number, so `SELECT email AS e` is resolved to
 * `public.users.email` here. One metadata connection per target and database, opened on first need with the
 * target's vaulted credentials, with a cache (OIDs can be reused after DROP, so entries expire). It never sees
 * a caller's statements.
 */
import pg from 'pg';
import { WardenError } from '../../errors.js';
import type { Credentials, Target } from '../../session/types.js';

/** How long a resolved table stays cached. */
const TTL_MS = 5 * 60_000;
const LOOKUP = `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS table, a.attnum AS num, a.attname AS name
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
  WHERE c.oid = ANY($1::oid[]) AND a.attnum > 0`;

/** Column sources of one target database. */
export class TableCatalog {
  private readonly tables = new Map<number, { columns: Map<number, string>; at: number }>();
  private client: pg.Client | null = null;

  constructor(private readonly target: Target, private readonly database: string,
    private readonly credentials: () => Promise<Credentials>) {}

  /** `schema.table.column` of a result column, when its table is cached. */
  source(tableOid: number, columnNumber: number): string | undefined {
    return this.tables.get(tableOid)?.columns.get(columnNumber);
  }

  /** The table OIDs among `oids` not cached (or expired). */
  missing(oids: number[]): number[] {
    const now = Date.now();
    return [...new Set(oids)].filter((oid) => oid !== 0 && !((this.tables.get(oid)?.at ?? -Infinity) > now - TTL_MS));
  }

  /** Looks the tables up; throws WARDEN_ERR_UPSTREAM_UNAVAILABLE when the catalog cannot be read (callers fail closed). */
  async resolve(oids: number[]): Promise<void> {
    try {
      const client = await this.connect();
      const result = await client.query<{ oid: string; schema: string; table: string; num: number; name: string }>(LOOKUP, [oids]);
      const now = Date.now();
      for (const oid of oids) this.tables.set(oid, { columns: new Map(), at: now });
      for (const row of result.rows) this.tables.get(Number(row.oid))?.columns.set(row.num, `${row.schema}.${row.table}.${row.name}`);
    } catch (err) {
      await this.close();
      throw new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `could not read the catalog of target "${this.target.name}" for masking`,
        { detail: (err as Error).message });
    }
  }

  /** Closes the metadata connection. */
  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    const { user, password } = await this.credentials();
    const { host, port, tls, ca } = this.target;
    const ssl = tls === 'disable' ? false : tls === 'verify-full'
      ? { rejectUnauthorized: true, servername: host, ...(ca ? { ca } : {}) } : { rejectUnauthorized: false };
    const connect = async (withSsl: typeof ssl) => {
      const client = new pg.Client({ host, port, user, password: password ?? undefined, database: this.database,
        ssl: withSsl, application_name: 'warden-catalog', connectionTimeoutMillis: 10_000 });
      client.on('error', () => void this.close());
      await client.connect();
      return client;
    };
    // `prefer` falls back to plaintext when the server offers no TLS, as libpq does.
    const client = await connect(ssl).catch((err: unknown) => (tls === 'prefer' ? connect(false) : Promise.reject(err)));
    this.client = client;
    return client;
  }
}
