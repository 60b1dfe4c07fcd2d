/**
 * Migration `007_ssh_host_keys`: the host keys of SSH servers Warden has met (trust on first use), keyed like an
 * OpenSSH known_hosts entry by `host:port`, so a key seen once is enforced on every later connection. Only public
 * keys are kept. Portable column types only, like every migration; never edit once shipped.
 */
import type { Kysely, Migration } from 'kysely';

/** `007_ssh_host_keys`. */
export const sshHostKeysMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('ssh_host_keys')
      .addColumn('endpoint', 'text', (c) => c.primaryKey())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('first_seen_at', 'text', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('ssh_host_keys').ifExists().execute();
  },
};
