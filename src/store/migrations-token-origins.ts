/**
 * Migration `005_token_origins`: where a token came from, so revocation reaches it. A token traded for an API key
 * names that key (`api_key_id`), and revoking the key revokes the tokens minted from it. Portable column types
 * only, like every migration; never edit once shipped.
 */
import type { Kysely, Migration } from 'kysely';

/** `005_token_origins`. */
export const tokenOriginsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('tokens').addColumn('api_key_id', 'text').execute();
    await db.schema.createIndex('tokens_api_key_idx').on('tokens').column('api_key_id').execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropIndex('tokens_api_key_idx').ifExists().execute();
    await db.schema.alterTable('tokens').dropColumn('api_key_id').execute();
  },
};
