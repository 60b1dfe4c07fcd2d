/**
 * Migration `006_target_specs`: targets of every protocol. A PostgreSQL target keeps its columns; another protocol's
 * target keeps its own fields as JSON in `spec` and its secrets besides the password (an SSH private key and its
 * passphrase, vault ciphertexts) as JSON in `secrets_enc`. Rows written before this migration have both NULL and
 * load as the PostgreSQL targets they are. Portable column types only, like every migration; never edit once shipped.
 */
import type { Kysely, Migration } from 'kysely';

/** `006_target_specs`. */
export const targetSpecsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('targets').addColumn('spec', 'text').execute();
    await db.schema.alterTable('targets').addColumn('secrets_enc', 'text').execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('targets').dropColumn('secrets_enc').execute();
    await db.schema.alterTable('targets').dropColumn('spec').execute();
  },
};
