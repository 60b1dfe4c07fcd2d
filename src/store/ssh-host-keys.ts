/**
 * The SshHostKeyRepository of ssh-host-key-types.ts over kysely, shared by every dialect. Like the other
 * repositories it never opens connections; every operation runs inside the store's `guard` (handed in).
 */
import type { Kysely } from 'kysely';
import type { GuardedRun } from './policies.js';
import { isUniqueViolation } from './repositories.js';
import type { Database, SshHostKeysTable } from './schema.js';
import type { SshHostKeyRecord, SshHostKeyRepository } from './ssh-host-key-types.js';

function fromRow(r: SshHostKeysTable): SshHostKeyRecord {
  return { endpoint: r.endpoint, fingerprint: r.fingerprint, publicKey: r.public_key, target: r.target, firstSeenAt: r.first_seen_at };
}

/** Builds the SshHostKeyRepository. */
export function sshHostKeyRepository(db: Kysely<Database>, run: GuardedRun): SshHostKeyRepository {
  const get = async (endpoint: string) => {
    const row = await db.selectFrom('ssh_host_keys').selectAll().where('endpoint', '=', endpoint).executeTakeFirst();
    return row === undefined ? undefined : fromRow(row);
  };
  return {
    get: (endpoint) => run('sshHostKeys.get', () => get(endpoint)),
    recordIfAbsent: (k) => run('sshHostKeys.recordIfAbsent', async () => {
      try {
        await db.insertInto('ssh_host_keys').values({ endpoint: k.endpoint, fingerprint: k.fingerprint,
          public_key: k.publicKey, target: k.target, first_seen_at: k.firstSeenAt }).execute();
        return k;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        return (await get(k.endpoint))!;
      }
    }),
    remove: (endpoint) => run('sshHostKeys.remove', async () =>
      (await db.deleteFrom('ssh_host_keys').where('endpoint', '=', endpoint).executeTakeFirst()).numDeletedRows > 0n),
  };
}
