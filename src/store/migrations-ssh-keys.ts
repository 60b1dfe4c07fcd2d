/**
 * Migration `008_ssh_keys`: SSH public keys registered to a user or a service account, so a caller can reach SSH
 * targets through Warden with `ssh -i key` instead of a token. Only the public key is kept (never a private key);
 * the SHA-256 fingerprint is unique, so one key can never stand for two owners.
 * Portable column types only, like every migration; never edit once shipped.
 */
import type { Kysely, Migration } from 'kysely';

/** `008_ssh_keys`. */
export const sshKeysMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('ssh_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('fingerprint', 'text', (c) => c.notNull().unique())
      .addColumn('owner_kind', 'text', (c) => c.notNull())
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('name', 'text')
      .addColumn('algorithm', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .addColumn('expires_at', 'text')
      .addColumn('last_used_at', 'text')
      .execute();
    await db.schema.createIndex('ssh_keys_owner_idx').on('ssh_keys').columns(['owner_kind', 'owner']).execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('ssh_keys').ifExists().execute();
  },
};
