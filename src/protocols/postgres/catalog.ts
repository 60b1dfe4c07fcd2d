/**
 * Names of result columns' source tables, for masking rules written as `schema.table.column`: a RowDescription
 * only carries the table's OID and the column number, so `SELECT email AS e` is resolved to
 * `public.users.email` here; and the columns of a table named by `COPY table TO STDOUT`, which sends no
 * RowDescription at all. One metadata connection per target and database, opened on first need with the
 * target's vaulted credentials, with a cache (OIDs can be reused after DROP, so entries expire). It runs only its
 * own fixed queries: a caller's statements never reach it, only table names as query parameters.
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

// Tables COPY can read (COPY refuses views, materialized views and foreign tables). attgenerated is read through
// to_jsonb so that servers older than 12, which lack the column, still answer.
const TABLES_NAMED = `SELECT n.nspname AS schema, c.relname AS table, a.attname AS name, a.atttypid::int8 AS type,
  coalesce(to_jsonb(a) ->> 'attgenerated', '') <> '' AS generated
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
  WHERE c.relname = $1 AND ($2::text IS NULL OR n.nspname = $2) AND c.relkind IN ('r', 'p')
    AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY n.nspname, a.attnum`;

/** A table's columns in their order, as COPY lists them. */
export interface TableColumns {
  schema: string;
  table: string;
  columns: Array<{ name: string; typeOid: number; generated: boolean }>;
}

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

  /** Until when (epoch ms) every table among `oids` stays cached; Infinity when none is a table (all 0). */
  freshUntil(oids: number[]): number {
    let until = Infinity;
    for (const oid of oids) {
      if (oid === 0) continue;
      until = Math.min(until, (this.tables.get(oid)?.at ?? -Infinity) + TTL_MS);
    }
    return until;
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

  /**
   * Every table named `table` (in `schema`, or in any schema when undefined: the caller's search_path is unknown
   * here), with its columns. Never cached: a COPY must see the table as it is now. Throws
   * WARDEN_ERR_UPSTREAM_UNAVAILABLE when the catalog cannot be read (callers fail closed).
   */
  async tablesNamed(schema: string | undefined, table: string): Promise<TableColumns[]> {
    try {
      const client = await this.connect();
      const result = await client.query<{ schema: string; table: string; name: string; type: string; generated: boolean }>(
        TABLES_NAMED, [table, schema ?? null]);
      const tables = new Map<string, TableColumns>();
      for (const row of result.rows) {
        const key = `${row.schema}.${row.table}`;
        let found = tables.get(key);
        if (found === undefined) tables.set(key, found = { schema: row.schema, table: row.table, columns: [] });
        found.columns.push({ name: row.name, typeOid: Number(row.type), generated: row.generated });
      }
      return [...tables.values()];
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
      client.on('error', () => { this.close().catch(() => undefined); }); // close() never rejects
      await client.connect();
      return client;
    };
    // `prefer` falls back to plaintext when the server offers no TLS, as libpq does.
    const client = await connect(ssl).catch((err: unknown) => (tls === 'prefer' ? connect(false) : Promise.reject(err)));
    this.client = client;
    return client;
  }
}
