/**
 * The identity repositories of identity-types.ts over kysely (users, service accounts and API keys, identity
 * providers), shared by every dialect, with their row translation. Like repositories.ts it never opens connections;
 * every operation runs inside the store's `guard` (handed in) so failures surface as WARDEN_ERR_STORE_UNAVAILABLE.
 */
import type { Kysely } from 'kysely';
import { WardenError } from '../errors.js';
import type {
  ApiKeyRecord, IdentityProviderRecord, IdentityProviderRepository, ServiceAccountRecord, ServiceAccountRepository,
  UserLogin, UserRecord, UserRepository,
} from './identity-types.js';
import type { GuardedRun } from './policies.js';
import { jsonArray } from './rows.js';
import type { ApiKeysTable, Database, IdentityProvidersTable, ServiceAccountsTable, UsersTable } from './schema.js';

function userFromRow(r: UsersTable): UserRecord {
  return {
    name: r.name, email: r.email, displayName: r.display_name, groups: jsonArray<string>(r.groups, 'users.groups'),
    provider: r.provider, disabledAt: r.disabled_at, createdAt: r.created_at, updatedAt: r.updated_at,
    lastLoginAt: r.last_login_at,
  };
}

function accountToRow(a: ServiceAccountRecord): ServiceAccountsTable {
  return {
    name: a.name, kind: a.kind, description: a.description, groups: JSON.stringify(a.groups),
    targets: JSON.stringify(a.targets), disabled_at: a.disabledAt, created_at: a.createdAt, updated_at: a.updatedAt,
  };
}

function accountFromRow(r: ServiceAccountsTable): ServiceAccountRecord {
  return {
    name: r.name, kind: r.kind as ServiceAccountRecord['kind'], description: r.description,
    groups: jsonArray<string>(r.groups, 'service_accounts.groups'), targets: jsonArray<string>(r.targets, 'service_accounts.targets'),
    disabledAt: r.disabled_at, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

function keyToRow(k: ApiKeyRecord): ApiKeysTable {
  return {
    id: k.id, service_account: k.serviceAccount, secret_hash: k.secretHash, created_at: k.createdAt,
    expires_at: k.expiresAt, last_used_at: k.lastUsedAt, revoked_at: k.revokedAt,
  };
}

function keyFromRow(r: ApiKeysTable): ApiKeyRecord {
  return {
    id: r.id, serviceAccount: r.service_account, secretHash: r.secret_hash, createdAt: r.created_at,
    expiresAt: r.expires_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at,
  };
}

function providerFromRow(r: IdentityProvidersTable): IdentityProviderRecord {
  const document: unknown = JSON.parse(r.document);
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new Error(`column identity_providers.document of "${r.name}" does not hold a JSON object`);
  }
  return {
    name: r.name, type: r.type as IdentityProviderRecord['type'], document: document as Record<string, unknown>,
    secretEnc: r.secret_enc, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

/** Builds the UserRepository. */
export function userRepository(db: Kysely<Database>, run: GuardedRun): UserRepository {
  const get = async (name: string) => {
    const row = await db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return row === undefined ? undefined : userFromRow(row);
  };
  return {
    recordLogin: (login: UserLogin) =>
      run('users.recordLogin', async () => {
        const groups = JSON.stringify(login.groups);
        // disabled_at is left out of the update: signing in again must never re-enable a disabled user.
        await db.insertInto('users').values({
          name: login.name, email: login.email, display_name: login.displayName, groups, provider: login.provider,
          disabled_at: null, created_at: login.at, updated_at: login.at, last_login_at: login.at,
        }).onConflict((oc) => oc.column('name').doUpdateSet({
          email: login.email, display_name: login.displayName, groups, provider: login.provider,
          updated_at: login.at, last_login_at: login.at,
        })).execute();
        return (await get(login.name))!;
      }),
    get: (name: string) => run('users.get', () => get(name)),
    list: () => run('users.list', async () =>
      (await db.selectFrom('users').selectAll().orderBy('name').execute()).map(userFromRow)),
    setDisabled: (name: string, disabledAt: string | null, at: string) =>
      run('users.setDisabled', async () => {
        await db.insertInto('users').values({
          name, email: null, display_name: null, groups: '[]', provider: null, disabled_at: disabledAt,
          created_at: at, updated_at: at, last_login_at: null,
        }).onConflict((oc) => oc.column('name').doUpdateSet({ disabled_at: disabledAt, updated_at: at })).execute();
        return (await get(name))!;
      }),
  };
}

/** Builds the ServiceAccountRepository. */
export function serviceAccountRepository(db: Kysely<Database>, run: GuardedRun): ServiceAccountRepository {
  const get = async (name: string) => {
    const row = await db.selectFrom('service_accounts').selectAll().where('name', '=', name).executeTakeFirst();
    return row === undefined ? undefined : accountFromRow(row);
  };
  return {
    insert: (account: ServiceAccountRecord) =>
      run('serviceAccounts.insert', async () => {
        if (await get(account.name)) {
          throw new WardenError('WARDEN_ERR_CONFLICT', `service account "${account.name}" already exists`);
        }
        await db.insertInto('service_accounts').values(accountToRow(account)).execute();
      }),
    get: (name: string) => run('serviceAccounts.get', () => get(name)),
    list: () => run('serviceAccounts.list', async () =>
      (await db.selectFrom('service_accounts').selectAll().orderBy('name').execute()).map(accountFromRow)),
    setDisabled: (name: string, disabledAt: string | null, at: string) =>
      run('serviceAccounts.setDisabled', async () => {
        await db.updateTable('service_accounts').set({ disabled_at: disabledAt, updated_at: at }).where('name', '=', name)
          .execute();
        return get(name);
      }),
    insertKey: (key: ApiKeyRecord) =>
      run('serviceAccounts.insertKey', async () => void (await db.insertInto('api_keys').values(keyToRow(key)).execute())),
    getKey: (id: string) =>
      run('serviceAccounts.getKey', async () => {
        const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
        return row === undefined ? undefined : keyFromRow(row);
      }),
    listKeys: (serviceAccount: string) =>
      run('serviceAccounts.listKeys', async () =>
        (await db.selectFrom('api_keys').selectAll().where('service_account', '=', serviceAccount)
          .orderBy('created_at').orderBy('id').execute()).map(keyFromRow)),
    touchKey: (id: string, at: string) =>
      run('serviceAccounts.touchKey', async () =>
        void (await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute())),
    revokeKey: (id: string, at: string) =>
      run('serviceAccounts.revokeKey', async () => {
        await db.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null)
          .execute();
        return (await db.selectFrom('api_keys').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
      }),
  };
}

/** Builds the IdentityProviderRepository (an upsert keeps the first `createdAt`). */
export function identityProviderRepository(db: Kysely<Database>, run: GuardedRun): IdentityProviderRepository {
  return {
    put: (record: IdentityProviderRecord) =>
      run('identityProviders.put', () =>
        db.transaction().execute(async (trx) => {
          const document = JSON.stringify(record.document);
          const existing = await trx.selectFrom('identity_providers').select('name').where('name', '=', record.name)
            .executeTakeFirst();
          await trx.insertInto('identity_providers').values({
            name: record.name, type: record.type, document, secret_enc: record.secretEnc,
            created_at: record.createdAt, updated_at: record.updatedAt,
          }).onConflict((oc) => oc.column('name').doUpdateSet({
            type: record.type, document, secret_enc: record.secretEnc, updated_at: record.updatedAt,
          })).execute();
          return existing === undefined ? 'created' : 'updated';
        })),
    get: (name: string) =>
      run('identityProviders.get', async () => {
        const row = await db.selectFrom('identity_providers').selectAll().where('name', '=', name).executeTakeFirst();
        return row === undefined ? undefined : providerFromRow(row);
      }),
    list: () => run('identityProviders.list', async () =>
      (await db.selectFrom('identity_providers').selectAll().orderBy('name').execute()).map(providerFromRow)),
    remove: (name: string) =>
      run('identityProviders.remove', async () => {
        const result = await db.deleteFrom('identity_providers').where('name', '=', name).executeTakeFirst();
        return result.numDeletedRows > 0n;
      }),
  };
}
