/**
 * Migration `004_identity`: who may hold Warden tokens and how they got them. Users (people, created on first
 * sign-in or by an operator to disable them), service accounts for agents and their API keys (only a hash is
 * kept), identity provider resources (OIDC and SAML), and the delegation columns of `tokens` (the parent token,
 * the chain of principals a token acts for and the statement classes it is narrowed to).
 * Portable column types only, like every migration; never edit once shipped.
 */
import type { Kysely, Migration } from 'kysely';

/** `004_identity`. */
export const identityMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('users')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('email', 'text')
      .addColumn('display_name', 'text')
      .addColumn('groups', 'text', (c) => c.notNull())
      .addColumn('provider', 'text')
      .addColumn('disabled_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('last_login_at', 'text')
      .execute();

    await db.schema
      .createTable('service_accounts')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('groups', 'text', (c) => c.notNull())
      .addColumn('targets', 'text', (c) => c.notNull())
      .addColumn('disabled_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('api_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('service_account', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('last_used_at', 'text')
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema.createIndex('api_keys_account_idx').on('api_keys').column('service_account').execute();

    await db.schema
      .createTable('identity_providers')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('document', 'text', (c) => c.notNull())
      .addColumn('secret_enc', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    // Delegation: a token minted from another names its parent, so revoking a link revokes everything below it.
    await db.schema.alterTable('tokens').addColumn('parent_id', 'text').execute();
    await db.schema.alterTable('tokens').addColumn('chain', 'text', (c) => c.notNull().defaultTo('[]')).execute();
    await db.schema.alterTable('tokens').addColumn('classes', 'text').execute();
    await db.schema.createIndex('tokens_parent_idx').on('tokens').column('parent_id').execute();
    await db.schema.createIndex('tokens_subject_idx').on('tokens').column('subject').execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    for (const table of ['identity_providers', 'api_keys', 'service_accounts', 'users']) {
      await db.schema.dropTable(table).ifExists().execute();
    }
  },
};
