/**
 * Targets of every protocol in the store: a PostgreSQL target row written before migration 006 loads unchanged
 * after it (and validates against the postgres spec), SSH targets round-trip with their spec and vaulted secrets
 * apart from the PostgreSQL columns, and the protocol specs (zod) refuse what they must.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration } from 'kysely';
import { WardenError } from '../errors.js';
import { builtinProtocols } from '../protocols/builtin.js';
import { postgresTargetSpec } from '../protocols/postgres/definition.js';
import { sshTargetSpec } from '../protocols/ssh/definition.js';
import { MIGRATIONS, migrateToLatest } from './migrations.js';
import { createKyselyStore } from './repositories.js';
import type { Database } from './schema.js';
import type { TargetRecord } from './types.js';

const NOW = '2025-01-01T00:00:00.000Z';

function memoryDb(): Kysely<Database> {
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });
}

describe('migration 006_target_specs', () => {
  it('an old PostgreSQL target row loads unchanged afterwards and is a valid postgres target', async () => {
    const db = memoryDb();
    // The schema as of 005: what every existing installation has on disk.
    const migrator = new Migrator({ db, migrationTableName: 'warden_migration', migrationLockTableName: 'warden_migration_lock',
      provider: { getMigrations: async (): Promise<Record<string, Migration>> => ({ ...MIGRATIONS }) } });
    const to005 = await migrator.migrateTo('005_token_origins');
    assert.equal(to005.error, undefined);
    const columns = (await db.introspection.getTables()).find((t) => t.name === 'targets')!.columns.map((c) => c.name);
    assert.ok(!columns.includes('spec'), 'the old schema has no spec column');
    await (db as Kysely<any>).insertInto('targets').values({
      name: 'pg-old', type: 'postgres', host: 'db.internal', port: 5432, database: 'app', user: 'app_rw',
      password_enc: 'v1.aaa.bbb.ccc', tls: 'verify-full', ca: null, labels: '{"env":"prod"}', created_at: NOW, updated_at: NOW,
    }).execute();
    await migrateToLatest(db);
    const store = createKyselyStore(db);
    const loaded = await store.targets.get('pg-old');
    assert.deepEqual(loaded, {
      name: 'pg-old', type: 'postgres', host: 'db.internal', port: 5432, database: 'app', user: 'app_rw',
      passwordEnc: 'v1.aaa.bbb.ccc', tls: 'verify-full', ca: null, labels: { env: 'prod' }, createdAt: NOW, updatedAt: NOW,
    });
    assert.deepEqual(builtinProtocols().target(loaded!), {
      name: 'pg-old', type: 'postgres', host: 'db.internal', port: 5432, database: 'app', user: 'app_rw', tls: 'verify-full',
      ca: null, labels: { env: 'prod' },
    }, 'the target the pipeline sees carries no secret and no bookkeeping');
    await store.close();
  });
});

describe('ssh targets in the store', () => {
  const ssh: TargetRecord = {
    name: 'web-1', type: 'ssh', host: 'web.internal', port: 22, user: 'deploy', hostKeyFingerprint: null,
    labels: { env: 'prod' }, passwordEnc: null, secretsEnc: { privateKey: 'v1.k.k.k', passphrase: 'v1.p.p.p' },
    createdAt: NOW, updatedAt: NOW,
  };

  it('round-trip with their own fields and secrets; PostgreSQL columns stay neutral', async () => {
    const db = memoryDb();
    await migrateToLatest(db);
    const store = createKyselyStore(db);
    await store.targets.insert(ssh);
    assert.deepEqual(await store.targets.get('web-1'), ssh);
    const row = await db.selectFrom('targets').selectAll().where('name', '=', 'web-1').executeTakeFirstOrThrow();
    assert.deepEqual([row.database, row.tls, row.ca, row.host, row.port, row.user], ['', '', null, 'web.internal', 22, 'deploy']);
    assert.deepEqual(JSON.parse(row.spec!), { host: 'web.internal', port: 22, user: 'deploy', hostKeyFingerprint: null });
    assert.ok(!row.spec!.includes('v1.'), 'no secret in the spec column');
    const pinned = { ...ssh, hostKeyFingerprint: `SHA256:${'b'.repeat(43)}`, secretsEnc: undefined, updatedAt: '2026-01-01T00:00:00.000Z' };
    assert.equal(await store.targets.update(pinned), true);
    const { secretsEnc: _none, ...withoutSecrets } = pinned;
    assert.deepEqual(await store.targets.get('web-1'), withoutSecrets);
    assert.deepEqual(builtinProtocols().target(pinned), { name: 'web-1', type: 'ssh', host: 'web.internal', port: 22,
      user: 'deploy', hostKeyFingerprint: `SHA256:${'b'.repeat(43)}`, labels: { env: 'prod' } });
    await store.close();
  });

  it('a stored target the registry cannot read is refused, never guessed', () => {
    const registry = builtinProtocols();
    const badSpec = { ...ssh, port: 0 } as TargetRecord;
    assert.throws(() => registry.target(badSpec), (err: unknown) => err instanceof WardenError
      && err.code === 'WARDEN_ERR_TARGET_NOT_FOUND' && err.message === 'target "web-1" is not a valid ssh target');
    const unknownType = { ...ssh, type: 'mysql' } as unknown as TargetRecord;
    assert.throws(() => registry.target(unknownType), /has type "mysql", which this Warden does not speak/);
  });
});

describe('target specs', () => {
  it('postgres: every field required, TLS one of the modes, no foreign field', () => {
    const ok = { host: 'h', port: 5432, database: 'd', user: 'u', tls: 'prefer', ca: null };
    assert.equal(postgresTargetSpec.safeParse(ok).success, true);
    assert.equal(postgresTargetSpec.safeParse({ ...ok, tls: 'allow' }).success, false);
    assert.equal(postgresTargetSpec.safeParse({ ...ok, hostKeyFingerprint: null }).success, false);
    const { database: _d, ...noDatabase } = ok;
    assert.equal(postgresTargetSpec.safeParse(noDatabase).success, false);
  });

  it('ssh: a port in range, OpenSSH fingerprints only, no database', () => {
    const ok = { host: 'h', port: 22, user: 'u', hostKeyFingerprint: null };
    assert.equal(sshTargetSpec.safeParse(ok).success, true);
    assert.equal(sshTargetSpec.safeParse({ ...ok, hostKeyFingerprint: `SHA256:${'x'.repeat(43)}` }).success, true);
    for (const bad of ['SHA256:short', `sha256:${'x'.repeat(43)}`, `SHA256:${'x'.repeat(43)}=`, 'MD5:aa:bb']) {
      assert.equal(sshTargetSpec.safeParse({ ...ok, hostKeyFingerprint: bad }).success, false, bad);
    }
    assert.equal(sshTargetSpec.safeParse({ ...ok, port: 65536 }).success, false);
    assert.equal(sshTargetSpec.safeParse({ ...ok, database: 'd' }).success, false);
    assert.equal(sshTargetSpec.safeParse({ ...ok, user: '' }).success, false);
  });
});
