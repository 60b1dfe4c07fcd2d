/**
 * The policy repository of types.ts over kysely, shared by every dialect, and the translation between PolicyRecord
 * and its row. It stores documents as JSON text and knows nothing of the policy language: validating a document is
 * the policy catalog's job (src/session/policy-catalog.ts). Like repositories.ts, it must never open connections
 * or know which database it talks to; every operation runs inside the store's `guard`, handed in by
 * createKyselyStore, so failures surface as WARDEN_ERR_STORE_UNAVAILABLE and a closed store refuses work.
 */
import type { Kysely } from 'kysely';
import type { Database, PoliciesTable } from './schema.js';
import type { PolicyRecord, PolicyRepository } from './types.js';

/** Runs one repository operation under the store's failure mapping and closed check (repositories.ts `guard`). */
export type GuardedRun = <T>(op: string, fn: () => Promise<T>) => Promise<T>;

/** A policy record as a row. */
export function policyToRow(p: PolicyRecord): PoliciesTable {
  return { name: p.name, document: JSON.stringify(p.document), created_at: p.createdAt, updated_at: p.updatedAt };
}

/** A policies row as a record; a document that is not a JSON object throws (the store is then unusable). */
export function policyFromRow(r: PoliciesTable): PolicyRecord {
  let document: unknown;
  try {
    document = JSON.parse(r.document);
  } catch {
    document = undefined; // a row that is not JSON at all is as corrupt as one holding the wrong JSON
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new Error(`column policies.document of "${r.name}" does not hold a JSON object`);
  }
  return { name: r.name, document: document as Record<string, unknown>, createdAt: r.created_at, updatedAt: r.updated_at };
}

/**
 * Builds the PolicyRepository. `put` is an upsert (ON CONFLICT, portable between SQLite and PostgreSQL) preceded
 * by a read in the same transaction, only to tell `created` from `updated`; two replicas racing on a brand-new name
 * may both say `created`, which is harmless because the row ends up the same either way.
 */
export function policyRepository(db: Kysely<Database>, run: GuardedRun): PolicyRepository {
  return {
    put: (record: PolicyRecord) =>
      run('policies.put', () =>
        db.transaction().execute(async (trx) => {
          const row = policyToRow(record);
          const existing = await trx.selectFrom('policies').select('name').where('name', '=', record.name)
            .executeTakeFirst();
          // created_at is left out of the update so the first apply's time survives every later one.
          await trx.insertInto('policies').values(row)
            .onConflict((oc) => oc.column('name').doUpdateSet({ document: row.document, updated_at: row.updated_at }))
            .execute();
          return existing === undefined ? 'created' : 'updated';
        }),
      ),
    get: (name: string) =>
      run('policies.get', async () => {
        const row = await db.selectFrom('policies').selectAll().where('name', '=', name).executeTakeFirst();
        return row === undefined ? undefined : policyFromRow(row);
      }),
    list: () =>
      run('policies.list', async () =>
        (await db.selectFrom('policies').selectAll().orderBy('name').execute()).map(policyFromRow),
      ),
    remove: (name: string) =>
      run('policies.remove', async () => {
        const result = await db.deleteFrom('policies').where('name', '=', name).executeTakeFirst();
        return result.numDeletedRows > 0n;
      }),
  };
}
