/**
 * Migration `009_statement_windows`: an approval window covers the statement the approver saw, not every statement
 * of its classes. A statement request keeps the key of its statement (`statement_key`, a SHA-256 of the text the
 * server runs, see session/approval-wait.ts) and the grant it leaves carries it; a grant without one covers nothing.
 * A request also keeps the statement as recordings show it (`statement_recorded`, literals and values redacted), for
 * notifications that leave Warden. Portable column types only, like every migration; never edit once shipped.
 */
import type { Kysely, Migration } from 'kysely';

/** `009_statement_windows`. */
export const statementWindowsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('approval_requests').addColumn('statement_key', 'text').execute();
    await db.schema.alterTable('approval_requests').addColumn('statement_recorded', 'text').execute();
    await db.schema.alterTable('approval_grants').addColumn('statement_key', 'text').execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('approval_grants').dropColumn('statement_key').execute();
    await db.schema.alterTable('approval_requests').dropColumn('statement_recorded').execute();
    await db.schema.alterTable('approval_requests').dropColumn('statement_key').execute();
  },
};
