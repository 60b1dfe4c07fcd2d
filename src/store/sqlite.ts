/**
 * The embedded SQLite store (better-sqlite3 through kysely): opens or creates the database file, tunes it for a
 * gateway (WAL so readers never block the recorder, a busy timeout instead of instant SQLITE_BUSY, NORMAL sync
 * which WAL keeps crash-safe), runs the migrations and hands back the shared repositories.
 * This module must never hold SQL of its own beyond pragmas: queries live in repositories.ts for every dialect.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { WardenError } from '../errors.js';
import { migrateToLatest } from './migrations.js';
import { createKyselyStore } from './repositories.js';
import type { Database } from './schema.js';
import type { Store } from './types.js';

/** How long a writer waits for another process's lock before failing (ms). */
const BUSY_TIMEOUT_MS = 5000;

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
      sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
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
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    await migrateToLatest(db);
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw err;
  }
  return createKyselyStore(db);
}
