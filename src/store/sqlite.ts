/**
 * The embedded SQLite store (better-sqlite3 through kysely): opens or creates the database file, tunes it for a
 * gateway (WAL so readers never block the recorder, NORMAL sync which WAL keeps crash-safe), runs the migrations and
 * hands back the shared repositories.
 * better-sqlite3 is synchronous: a busy timeout is a wait on Node's only thread, so while another process holds the
 * write lock every store write would freeze every session for that long. The busy timeout is therefore a few
 * milliseconds, and repositories.ts retries SQLITE_BUSY asynchronously, with backoff, off the event loop's clock.
 * This module must never hold SQL of its own beyond pragmas and transaction control: queries live in
 * repositories.ts for every dialect.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, SqliteDriver, CompiledQuery, type DatabaseConnection, type Driver } from 'kysely';
import { WardenError } from '../errors.js';
import { migrateToLatest } from './migrations.js';
import { createKyselyStore } from './repositories.js';
import type { Database } from './schema.js';
import type { Store } from './types.js';

/**
 * How long one statement may block the event loop waiting for another connection's lock (ms) before it fails with
 * SQLITE_BUSY and is retried asynchronously (see BUSY_RETRY_DEADLINE_MS in repositories.ts).
 */
const BUSY_TIMEOUT_MS = 5;
/** While opening and migrating, before any session exists, waiting for a lock blocks no one: wait like SQLite tools do. */
const STARTUP_BUSY_TIMEOUT_MS = 5000;

/** True for SQLite's special in-memory names, which have no file or parent directory. */
function isInMemory(file: string): boolean {
  return file === ':memory:' || file === '';
}

/** Opens the better-sqlite3 handle and applies the pragmas; any failure means the store is unavailable. */
async function openHandle(file: string): Promise<BetterSqlite3.Database> {
  try {
    if (!isInMemory(file)) await mkdir(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
    const sqlite = new BetterSqlite3(file);
    try {
      sqlite.pragma('journal_mode = WAL');
      sqlite.pragma(`busy_timeout = ${STARTUP_BUSY_TIMEOUT_MS}`);
      sqlite.pragma('synchronous = NORMAL');
    } catch (err) {
      sqlite.close();
      throw err;
    }
    return sqlite;
  } catch (err) {
    const detail = err instanceof Error ? err.stack ?? err.message : String(err);
    throw new WardenError('WARDEN_ERR_STORE_UNAVAILABLE', `cannot open the SQLite store at ${file}`, {
      detail,
      cause: err,
    });
  }
}

/**
 * Opens (creating when missing) the SQLite store at `file` (':memory:' for a throwaway one), migrates it to the
 * latest schema and returns the Store. Throws WARDEN_ERR_STORE_UNAVAILABLE when it cannot.
 */
export async function openSqliteStore(file: string): Promise<Store> {
  const sqlite = await openHandle(file);
  const db = new Kysely<Database>({ dialect: new WardenSqliteDialect(sqlite) });
  try {
    await migrateToLatest(db);
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw err;
  }
  sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  return createKyselyStore(db);
}

/**
 * kysely's SQLite driver with two changes. Transactions begin IMMEDIATE: they all write, and taking the write lock
 * up front fails fast with SQLITE_BUSY (retried by the repositories) instead of failing at the first write with a
 * snapshot that can never be upgraded. And a rollback after SQLite already rolled back by itself (SQLITE_FULL,
 * SQLITE_IOERR, SQLITE_BUSY do) is skipped, so the caller sees the real cause ("database or disk is full"), not
 * "cannot rollback - no transaction is active".
 */
class WardenSqliteDriver extends SqliteDriver {
  constructor(private readonly sqlite: BetterSqlite3.Database) {
    super({ database: sqlite });
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (!this.sqlite.inTransaction) return;
    await super.rollbackTransaction(connection);
  }
}

/** kysely's SqliteDialect with WardenSqliteDriver (exported for tests that need the raw handle too). */
export class WardenSqliteDialect extends SqliteDialect {
  constructor(private readonly sqlite: BetterSqlite3.Database) {
    super({ database: sqlite });
  }

  override createDriver(): Driver {
    return new WardenSqliteDriver(this.sqlite);
  }
}
