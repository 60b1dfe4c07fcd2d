/**
 * Names of result columns' source tables, for masking rules written as `schema.table.column`: a RowDescription
 * only carries the table's OID and the column number, so `SELECT email AS e` is resolved to
 * `public.users.email` here; and the columns of a table named by `COPY table TO STDOUT`, which sends no
 * RowDescription at all. One metadata connection per target and database, shared by every masked session of it
 * (TableCatalog.shared, counted: the last session to close it closes the connection), opened on first need with
 * the target's vaulted credentials through the same connector and TLS policy as every upstream connection
 * (catalog-connection.ts), with a cache (OIDs can be reused after DROP, so entries expire). It runs only its own
 * fixed queries: a caller's statements never reach it, only table names as query parameters.
 */
import { createHash } from 'node:crypto';
import { WardenError } from '../../errors.js';
import type { Credentials, PostgresTarget } from '../../session/types.js';
import { CatalogConnection } from './catalog-connection.js';

/** How long a resolved table stays cached. */
const TTL_MS = 5 * 60_000;
// A view's definition comes along: its columns may be computed from masked ones (masking/derived.ts).
const LOOKUP = `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS table, a.attnum AS num, a.attname AS name,
  CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END AS view
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
  WHERE c.oid = ANY($1::oid[]) AND a.attnum > 0`;

// The columns of stored relations a view reads through other views (transitively, up to 32 levels): a view over a
// view cannot be split by column, so its columns count as computed from all of them (masking/derived.ts).
const VIEW_DEPENDENCIES = `WITH RECURSIVE deps(top, rel, att, depth) AS (
    SELECT r.ev_class, d.refobjid, d.refobjsubid, 1
      FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass
       AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass
     WHERE r.ev_class = ANY($1::oid[]) AND d.refobjid <> r.ev_class
    UNION
    SELECT deps.top, d.refobjid, d.refobjsubid, deps.depth + 1
      FROM deps JOIN pg_catalog.pg_rewrite r ON r.ev_class = deps.rel
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
       AND d.refclassid = 'pg_catalog.pg_class'::regclass
     WHERE d.refobjid <> r.ev_class AND deps.depth < 32)
  SELECT DISTINCT deps.top::int8 AS oid, a.attname AS name
    FROM deps JOIN pg_catalog.pg_class c ON c.oid = deps.rel
    JOIN pg_catalog.pg_attribute a ON a.attrelid = deps.rel AND a.attnum = deps.att
   WHERE deps.depth > 1 AND deps.att > 0 AND c.relkind NOT IN ('v', 'm')`;

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

/** The catalogs in use, by target identity and database: one connection per target database for every session. */
const shared = new Map<string, TableCatalog>();

/** What identifies a target's connection: every field that changes where or how Warden connects. */
function sharedKey(target: PostgresTarget, database: string): string {
  const ca = target.ca ? createHash('sha256').update(target.ca).digest('hex') : '';
  return JSON.stringify([target.name, target.host, target.port, target.tls, ca, target.user, database]);
}

/** Column sources of one target database. */
export class TableCatalog {
  private readonly tables = new Map<number, { columns: Map<number, string>; view?: { definition: string; nested: string[] }; at: number }>();
  private client: CatalogConnection | null = null;
  private connecting: Promise<CatalogConnection> | null = null;
  /** Sessions holding this catalog when it is shared; undefined for a private one. */
  private holders: number | undefined;
  private key: string | undefined;

  constructor(private readonly target: PostgresTarget, private readonly database: string,
    private credentials: () => Promise<Credentials>) {}

  /**
   * The catalog of a target database shared by every session of it; each caller calls close() once when done,
   * and the last one closes the connection.
   */
  static shared(target: PostgresTarget, database: string, credentials: () => Promise<Credentials>): TableCatalog {
    const key = sharedKey(target, database);
    let catalog = shared.get(key);
    if (catalog === undefined) {
      catalog = new TableCatalog(target, database, credentials);
      catalog.key = key;
      catalog.holders = 0;
      shared.set(key, catalog);
    }
    // The newest session's credentials are used when the connection is opened again (a rotated secret).
    catalog.credentials = credentials;
    catalog.holders! += 1;
    return catalog;
  }

  /** How many catalog connections are open now, over every target (for tests and metrics). */
  static openConnections(): number {
    let n = 0;
    for (const catalog of shared.values()) if (catalog.client !== null && !catalog.client.closed) n++;
    return n;
  }

  /** `schema.table.column` of a result column, when its table is cached. */
  source(tableOid: number, columnNumber: number): string | undefined {
    return this.tables.get(tableOid)?.columns.get(columnNumber);
  }

  /**
   * The definition of a view or materialized view, when the relation is cached and is one, and the names of the
   * stored columns it reads through other views.
   */
  view(tableOid: number): { definition: string; nested: string[] } | undefined {
    return this.tables.get(tableOid)?.view;
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
      const rows = await client.query(LOOKUP, [`{${oids.join(',')}}`]);
      const now = Date.now();
      for (const oid of oids) this.tables.set(oid, { columns: new Map(), at: now });
      for (const row of rows) {
        const table = this.tables.get(Number(row.oid));
        table?.columns.set(Number(row.num), `${row.schema}.${row.table}.${row.name}`);
        if (table && row.view !== null && row.view !== undefined) table.view ??= { definition: row.view, nested: [] };
      }
      const views = oids.filter((oid) => this.tables.get(oid)?.view !== undefined);
      if (views.length > 0) {
        for (const row of await client.query(VIEW_DEPENDENCIES, [`{${views.join(',')}}`])) {
          this.tables.get(Number(row.oid))?.view?.nested.push(row.name!);
        }
      }
    } catch (err) {
      this.drop();
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
      const rows = await client.query(TABLES_NAMED, [table, schema ?? null]);
      const tables = new Map<string, TableColumns>();
      for (const row of rows) {
        const key = `${row.schema}.${row.table}`;
        let found = tables.get(key);
        if (found === undefined) tables.set(key, found = { schema: row.schema!, table: row.table!, columns: [] });
        found.columns.push({ name: row.name!, typeOid: Number(row.type), generated: row.generated === 't' });
      }
      return [...tables.values()];
    } catch (err) {
      this.drop();
      throw new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `could not read the catalog of target "${this.target.name}" for masking`,
        { detail: (err as Error).message });
    }
  }

  /** Releases this session's hold; the last holder of a shared catalog (or any holder of a private one) closes the connection. */
  async close(): Promise<void> {
    if (this.holders !== undefined) {
      this.holders = Math.max(0, this.holders - 1);
      if (this.holders > 0) return;
      if (this.key !== undefined && shared.get(this.key) === this) shared.delete(this.key);
    }
    this.drop();
  }

  /** Closes the connection (a later lookup opens a new one). */
  private drop(): void {
    const client = this.client;
    this.client = null;
    this.connecting = null;
    client?.close();
  }

  /** The connection, opened once however many lookups ask for it at the same time. */
  private connect(): Promise<CatalogConnection> {
    if (this.client !== null && !this.client.closed) return Promise.resolve(this.client);
    this.connecting ??= this.credentials()
      .then((credentials) => CatalogConnection.open(this.target, this.database, credentials))
      .then((client) => {
        this.client = client;
        this.connecting = null;
        return client;
      }, (err: unknown) => {
        this.connecting = null;
        throw err;
      });
    return this.connecting;
  }
}
