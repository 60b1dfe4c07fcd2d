/**
 * The store's front door: `openStore` picks the database by its options and returns the Store contract of
 * types.ts. Callers import from here (or types.ts) only, never from a dialect module or from kysely, so adding
 * PostgreSQL is a new `kind` here and a new dialect module, with no change to any caller.
 */
import { WardenError } from '../errors.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export type {
  EventChunk, SessionEventRecord, SessionQuery, SessionRecord, SessionRepository, Store, TargetRecord, TargetRepository,
  TokenRecord, TokenRepository,
} from './types.js';
export { BUSY_RETRY_DEADLINE_MS, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, isStoreOutage, storeFailureCause } from './repositories.js';

/** Where the store lives. Only the embedded SQLite store exists today; PostgreSQL will be another `kind`. */
export type StoreOptions = { kind: 'sqlite'; path: string };

/** Opens the store described by `options`, migrated to the latest schema; WARDEN_ERR_STORE_UNAVAILABLE if it cannot. */
export async function openStore(options: StoreOptions): Promise<Store> {
  switch (options.kind) {
    case 'sqlite':
      return openSqliteStore(options.path);
    default:
      // Unreachable for typed callers; guards configuration read from YAML or the environment.
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', `unknown store kind "${String((options as { kind?: unknown }).kind)}"`);
  }
}
