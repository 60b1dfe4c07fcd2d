/**
 * Migration `003_approvals`: the tables of just-in-time approvals, `approval_requests` and `approval_grants`.
 * Portable column types only (text, integer) and plain indexes, so the same migration runs on SQLite and PostgreSQL.
 * It must never be edited once shipped: a later change to these tables is a new migration.
 */
import type { Kysely, Migration } from 'kysely';

/** `003_approvals`: approval requests and the grants approvals leave behind. */
export const approvalsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('approval_requests')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('requester', 'text', (c) => c.notNull())
      .addColumn('requester_kind', 'text', (c) => c.notNull())
      .addColumn('requester_groups', 'text', (c) => c.notNull())
      .addColumn('chain', 'text', (c) => c.notNull())
      .addColumn('session_id', 'text')
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('statement', 'text')
      .addColumn('classes', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('rule', 'text')
      .addColumn('approvers', 'text', (c) => c.notNull())
      .addColumn('timeout_seconds', 'integer', (c) => c.notNull())
      .addColumn('access_seconds', 'integer')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('decided_at', 'text')
      .addColumn('decisions', 'text', (c) => c.notNull())
      // Redundant with the length of `decisions`, kept as a column so a compare-and-set update can match on it
      // portably (comparing JSON text would depend on how each database stores it).
      .addColumn('decision_count', 'integer', (c) => c.notNull())
      .addColumn('status_reason', 'text')
      .execute();
    // The approver's inbox (`status = pending`, newest first) and listings by kind are the common reads.
    await db.schema.createIndex('approval_requests_status_idx').on('approval_requests')
      .columns(['status', 'created_at']).execute();
    await db.schema.createIndex('approval_requests_created_idx').on('approval_requests').column('created_at').execute();

    await db.schema
      .createTable('approval_grants')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('classes', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('granted_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .execute();
    // The data path asks "does this subject hold a live grant on this target?" before holding a statement.
    await db.schema.createIndex('approval_grants_lookup_idx').on('approval_grants')
      .columns(['subject', 'target', 'kind', 'expires_at']).execute();
    await db.schema.createIndex('approval_grants_request_idx').on('approval_grants').column('request_id').execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    for (const table of ['approval_grants', 'approval_requests']) {
      await db.schema.dropTable(table).ifExists().execute();
    }
  },
};
