/**
 * Migration `002_policies`: the table of policy resources. Kept in its own file so the migration list in
 * migrations.ts stays a short index that several features can append to without touching each other's schema.
 * Like every migration it uses portable column types only (text), runs unchanged on SQLite and PostgreSQL, and must
 * never be edited once shipped: add a new migration instead.
 */
import type { Kysely, Migration } from 'kysely';

/**
 * `002_policies`: one row per policy, keyed by its name. The document is the validated policy as JSON text rather
 * than columns per field, because the policy language grows (new match keys, new effects) faster than a schema
 * should; the catalog re-validates every document on load, so a stored document is never trusted blindly.
 */
export const policiesMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('policies')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('document', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('policies').ifExists().execute();
  },
};
