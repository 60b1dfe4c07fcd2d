/**
 * The stored login of `warden login` (credentials.ts) and how the CLI's connection lookup (client.ts) uses it:
 * private file and directory modes, the lookup order (--token, $WARDEN_TOKEN, the stored login for that URL, the
 * admin.token file), when a refresh is due, and the lock that keeps two processes from spending one refresh token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConnection } from './client.js';
import { credentialsPath, deleteCredentials, needsRefresh, readCredentials, REFRESH_MARGIN_MS, withCredentialsLock,
  writeCredentials, type StoredCredentials } from './credentials.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const creds = (over: Partial<StoredCredentials> = {}): StoredCredentials => ({
  version: 1, url: 'http://127.0.0.1:9100', provider: 'corp', issuer: 'http://127.0.0.1:9200', clientId: 'warden-cli',
  scopes: ['openid'], token: 'stored.token.value', expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  user: 'alice', groups: [], refreshToken: 'rt', ...over,
});

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-creds-'));
  env = { XDG_CONFIG_HOME: join(dir, 'config') };
});
after(async () => rm(dir, { recursive: true, force: true }));

describe('credentials file', () => {
  test('written 0600 in a 0700 directory (tightened if it existed), read back, deleted', async () => {
    await mkdir(join(dir, 'config', 'warden'), { recursive: true, mode: 0o755 });
    await chmod(join(dir, 'config', 'warden'), 0o755);
    writeCredentials({ env }, creds());
    assert.equal((await stat(credentialsPath({ env }))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'config', 'warden'))).mode & 0o777, 0o700);
    assert.equal(readCredentials({ env })?.token, 'stored.token.value');
    assert.equal(deleteCredentials({ env }), true);
    assert.equal(readCredentials({ env }), undefined);
    assert.equal(deleteCredentials({ env }), false);
  });

  test('default location is ~/.config/warden; a foreign file is reported, not trusted', async () => {
    assert.equal(credentialsPath({ env: { HOME: '/home/x' } }), '/home/x/.config/warden/credentials.json');
    await mkdir(join(dir, 'config', 'warden'), { recursive: true });
    await writeFile(credentialsPath({ env }), '{"token": 1}');
    assert.throws(() => readCredentials({ env }), /not a credentials file/);
    deleteCredentials({ env });
  });

  test('a refresh is due within 5 minutes of the end, or after it', () => {
    const now = Date.now();
    assert.equal(needsRefresh({ expiresAt: new Date(now + REFRESH_MARGIN_MS + 10_000).toISOString() }, now), false);
    assert.equal(needsRefresh({ expiresAt: new Date(now + REFRESH_MARGIN_MS - 10_000).toISOString() }, now), true);
    assert.equal(needsRefresh({ expiresAt: new Date(now - 1000).toISOString() }, now), true);
    assert.equal(needsRefresh({ expiresAt: 'garbage' }, now), true);
  });
});

describe('connection lookup', () => {
  test('--token, then $WARDEN_TOKEN, then the stored login for that URL, then admin.token', async () => {
    const cwd = join(dir, 'work');
    await mkdir(join(cwd, '.warden'), { recursive: true });
    await writeFile(join(cwd, '.warden', 'admin.token'), 'admin.token.value\n');
    writeCredentials({ env }, creds());
    const io = (extra: NodeJS.ProcessEnv = {}) => ({ env: { ...env, ...extra }, cwd });
    assert.equal(resolveConnection({ token: 'flag' }, io({ WARDEN_TOKEN: 'envtok' })).token, 'flag');
    assert.equal(resolveConnection({}, io({ WARDEN_TOKEN: 'envtok' })).token, 'envtok');
    const stored = resolveConnection({}, io());
    assert.deepEqual([stored.url, stored.token, stored.refresh], ['http://127.0.0.1:9100', 'stored.token.value', undefined]);
    assert.equal(resolveConnection({}, io({ WARDEN_URL: 'http://127.0.0.1:9100/' })).token, 'stored.token.value');
    const elsewhere = resolveConnection({ url: 'http://127.0.0.1:9999' }, io());
    assert.deepEqual([elsewhere.url, elsewhere.token], ['http://127.0.0.1:9999', 'admin.token.value']);
    deleteCredentials({ env });
    assert.equal(resolveConnection({}, io()).token, 'admin.token.value');
  });

  test('a stored token about to expire comes with a refresh step; a broken file is ignored by other commands', async () => {
    writeCredentials({ env }, creds({ expiresAt: new Date(Date.now() + 60_000).toISOString() }));
    const c = resolveConnection({}, { env, cwd: dir });
    assert.equal(typeof c.refresh, 'function');
    await writeFile(credentialsPath({ env }), 'not json');
    assert.equal(resolveConnection({}, { env, cwd: dir }).token, undefined);
    deleteCredentials({ env });
  });
});

describe('credentials lock', () => {
  test('serialises refreshes between callers and takes over a stale lock', async () => {
    const order: string[] = [];
    const body = (name: string) => async () => {
      order.push(`${name}+`);
      await new Promise((r) => setTimeout(r, 50));
      order.push(`${name}-`);
    };
    await Promise.all([withCredentialsLock({ env }, body('a')), withCredentialsLock({ env }, body('b'))]);
    assert.ok(order.join() === 'a+,a-,b+,b-' || order.join() === 'b+,b-,a+,a-', order.join());

    const lock = `${credentialsPath({ env })}.lock`;
    await writeFile(lock, '');
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    assert.equal(await withCredentialsLock({ env }, async () => 'ran'), 'ran');
    await assert.rejects(stat(lock), /ENOENT/);
  });
});
