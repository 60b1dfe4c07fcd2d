/**
 * The SshKeyRepository of ssh-key-types.ts over kysely, shared by every dialect, with its row translation. Like
 * the other repositories it never opens connections; every operation runs inside the store's `guard` (handed in).
 */
import type { Kysely } from 'kysely';
import { WardenError } from '../errors.js';
import type { GuardedRun } from './policies.js';
import type { Database, SshKeysTable } from './schema.js';
import type { SshKeyOwnerKind, SshKeyRecord, SshKeyRepository } from './ssh-key-types.js';

function toRow(k: SshKeyRecord): SshKeysTable {
  return {
    id: k.id, fingerprint: k.fingerprint, owner_kind: k.ownerKind, owner: k.owner, name: k.name, algorithm: k.algorithm,
    public_key: k.publicKey, created_at: k.createdAt, created_by: k.createdBy, expires_at: k.expiresAt,
    last_used_at: k.lastUsedAt,
  };
}

function fromRow(r: SshKeysTable): SshKeyRecord {
  if (r.owner_kind !== 'user' && r.owner_kind !== 'service') {
    throw new Error(`column ssh_keys.owner_kind of "${r.id}" holds an unknown kind`);
  }
  return {
    id: r.id, fingerprint: r.fingerprint, ownerKind: r.owner_kind, owner: r.owner, name: r.name, algorithm: r.algorithm,
    publicKey: r.public_key, createdAt: r.created_at, createdBy: r.created_by, expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
  };
}

/** Builds the SshKeyRepository. */
export function sshKeyRepository(db: Kysely<Database>, run: GuardedRun): SshKeyRepository {
  const byFingerprint = async (fingerprint: string) => {
    const row = await db.selectFrom('ssh_keys').selectAll().where('fingerprint', '=', fingerprint).executeTakeFirst();
    return row === undefined ? undefined : fromRow(row);
  };
  return {
    insert: (key: SshKeyRecord) =>
      run('sshKeys.insert', async () => {
        // Checked first for a clear message; the unique index still stops two writers racing on one key.
        const existing = await byFingerprint(key.fingerprint);
        if (existing !== undefined) {
          throw new WardenError('WARDEN_ERR_CONFLICT', `this SSH key (${key.fingerprint}) is already registered as ${existing.id}`);
        }
        await db.insertInto('ssh_keys').values(toRow(key)).execute();
      }),
    get: (id: string) =>
      run('sshKeys.get', async () => {
        const row = await db.selectFrom('ssh_keys').selectAll().where('id', '=', id).executeTakeFirst();
        return row === undefined ? undefined : fromRow(row);
      }),
    byFingerprint: (fingerprint: string) => run('sshKeys.byFingerprint', () => byFingerprint(fingerprint)),
    list: (owner?: { kind: SshKeyOwnerKind; name: string }) =>
      run('sshKeys.list', async () => {
        let query = db.selectFrom('ssh_keys').selectAll();
        if (owner !== undefined) query = query.where('owner_kind', '=', owner.kind).where('owner', '=', owner.name);
        return (await query.orderBy('created_at').orderBy('id').execute()).map(fromRow);
      }),
    touch: (id: string, at: string) =>
      run('sshKeys.touch', async () => void (await db.updateTable('ssh_keys').set({ last_used_at: at }).where('id', '=', id).execute())),
    remove: (id: string) =>
      run('sshKeys.remove', async () => (await db.deleteFrom('ssh_keys').where('id', '=', id).executeTakeFirst()).numDeletedRows > 0n),
  };
}
