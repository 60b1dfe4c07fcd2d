/**
 * Schema migrations, kept in code so a single `warden` binary carries them (no migration files on disk).
 * Every migration uses only portable column types (text, integer) and plain indexes, so the same list runs on
 * SQLite and PostgreSQL. Migrations are append-only: never edit one that has shipped, add a new one instead.
 */
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { WardenError } from '../errors.js';
import { approvalsMigration } from './migrations-approvals.js';
import { identityMigration } from './migrations-identity.js';
import { policiesMigration } from './migrations-policies.js';
import { sshHostKeysMigration } from './migrations-ssh-host-keys.js';
import { targetSpecsMigration } from './migrations-target-specs.js';
import { sshKeysMigration } from './migrations-ssh-keys.js';
import { tokenOriginsMigration } from './migrations-token-origins.js';
import { statementWindowsMigration } from './migrations-statement-windows.js';

/** `001_initial`: targets, tokens, sessions and session events. */
const initial: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('targets')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('port', 'integer', (c) => c.notNull())
      .addColumn('database', 'text', (c) => c.notNull())
      .addColumn('user', 'text', (c) => c.notNull())
      .addColumn('password_enc', 'text')
      .addColumn('tls', 'text', (c) => c.notNull())
      .addColumn('ca', 'text')
      .addColumn('labels', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('subject_kind', 'text', (c) => c.notNull())
      .addColumn('groups', 'text', (c) => c.notNull())
      .addColumn('targets', 'text', (c) => c.notNull())
      .addColumn('issued_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .execute();

    await db.schema
      .createTable('sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('protocol', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('subject_kind', 'text', (c) => c.notNull())
      .addColumn('groups', 'text', (c) => c.notNull())
      .addColumn('chain', 'text', (c) => c.notNull())
      .addColumn('token_id', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('database', 'text', (c) => c.notNull())
      .addColumn('client_address', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('ended_at', 'text')
      .addColumn('end_reason', 'text')
      .execute();
    // Listing is newest first, optionally per subject; both would otherwise scan the whole table.
    await db.schema.createIndex('sessions_started_at_idx').on('sessions').column('started_at').execute();
    await db.schema.createIndex('sessions_subject_idx').on('sessions').columns(['subject', 'started_at']).execute();

    // Events are stored in chunks: one row per session per recorder flush, holding a JSON array of events with
    // consecutive seq numbers. A row per event cost more CPU on the data path than the relay itself under load.
    // No foreign key to sessions: the recorder appends in batches and must not fail on ordering between writers.
    await db.schema
      .createTable('session_event_chunks')
      .addColumn('session_id', 'text', (c) => c.notNull())
      .addColumn('first_seq', 'integer', (c) => c.notNull())
      .addColumn('last_seq', 'integer', (c) => c.notNull())
      .addColumn('events', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('session_event_chunks_pk', ['session_id', 'first_seq'])
      .execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    for (const table of ['session_event_chunks', 'sessions', 'tokens', 'targets']) {
      await db.schema.dropTable(table).ifExists().execute();
    }
  },
};

/** All migrations by name; kysely runs them in name order. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '001_initial': initial,
  '002_policies': policiesMigration,
  '003_approvals': approvalsMigration,
  '004_identity': identityMigration,
  '005_token_origins': tokenOriginsMigration,
  '006_target_specs': targetSpecsMigration,
  '007_ssh_host_keys': sshHostKeysMigration,
  '008_ssh_keys': sshKeysMigration,
  '009_statement_windows': statementWindowsMigration,
};

/** Serves MIGRATIONS to kysely's Migrator without touching the file system. */
class InCodeMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...MIGRATIONS };
  }
}

/**
 * Brings the database to the latest schema. Warden's own bookkeeping table names keep it from clashing with
 * another kysely application sharing a PostgreSQL database. Throws WARDEN_ERR_STORE_UNAVAILABLE on failure.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new InCodeMigrationProvider(),
    migrationTableName: 'warden_migration',
    migrationLockTableName: 'warden_migration_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    const detail = error instanceof Error ? error.stack ?? error.message : String(error);
    throw new WardenError('WARDEN_ERR_STORE_UNAVAILABLE', `store migration ${failed} failed`, {
      detail,
      cause: error,
    });
  }
}
