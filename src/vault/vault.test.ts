/**
 * Vault tests: round trips, every kind of tampering, context binding, key handling (file created 0600, reused
 * on reload, environment key preferred, malformed keys refused) and that ciphertexts reveal nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WardenError } from '../errors.js';
import { readOrCreateSecretFile } from './keyfile.js';
import { VAULT_KEY_FILE, Vault } from './vault.js';

const CTX = 'target:prod-db';

function decryptFails(err: unknown): boolean {
  assert.ok(err instanceof WardenError, `expected WardenError, got ${String(err)}`);
  assert.equal(err.code, 'WARDEN_ERR_INTERNAL');
  assert.equal(err.public, false);
  return true;
}

/** Replaces the first character of one dot-separated part, keeping it valid base64url. */
function tamper(ciphertext: string, part: number): string {
  const parts = ciphertext.split('.');
  const text = parts[part];
  parts[part] = (text[0] === 'A' ? 'B' : 'A') + text.slice(1);
  return parts.join('.');
}

describe('Vault', () => {
  let dir: string;
  let vault: Vault;

  before(async () => {
    // loadOrCreate falls back to reading WARDEN_VAULT_KEY; these tests must not depend on the runner's env.
    delete process.env.WARDEN_VAULT_KEY;
    dir = await mkdtemp(path.join(tmpdir(), 'warden-vault-'));
    vault = await Vault.loadOrCreate(path.join(dir, 'data'), undefined);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('round trips secrets, including empty and unicode ones', () => {
    for (const secret of ['s3cr3t', '', 'pässwörd 🔑', 'x'.repeat(10_000)]) {
      assert.equal(vault.decrypt(vault.encrypt(secret, CTX), CTX), secret);
    }
  });

  it('produces the v1 format with a fresh IV each time and no plaintext inside', () => {
    const secret = 'correct-horse-battery-staple';
    const a = vault.encrypt(secret, CTX);
    const b = vault.encrypt(secret, CTX);
    assert.match(a, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    assert.notEqual(a, b);
    assert.notEqual(a.split('.')[1], b.split('.')[1]);
    for (const encoding of ['utf8', 'base64', 'base64url', 'hex'] as const) {
      assert.ok(!a.includes(Buffer.from(secret).toString(encoding)), `plaintext visible as ${encoding}`);
    }
  });

  it('fails on tampering with the IV, the tag or the ciphertext', () => {
    const sealed = vault.encrypt('s3cr3t', CTX);
    for (const part of [1, 2, 3]) assert.throws(() => vault.decrypt(tamper(sealed, part), CTX), decryptFails);
  });

  it('fails on a changed version, truncation, extra parts, non-canonical base64url and junk', () => {
    const sealed = vault.encrypt('s3cr3t', CTX);
    const [, iv, tag, body] = sealed.split('.');
    const bad = [
      `v2.${iv}.${tag}.${body}`, `v1.${iv}.${tag}`, `${sealed}.x`, `v1.${iv}.${tag}.${body.slice(0, -2)}`,
      `v1.${iv}.${tag.slice(0, -1)}${tag.endsWith('A') ? 'B' : 'A'}.${body}`, `v1.${iv}=.${tag}.${body}`,
      `v1.${iv}.${tag}.${body}!`, '', 'abc', 'v1...', 'a.b.c.d',
    ];
    for (const text of bad) assert.throws(() => vault.decrypt(text, CTX), decryptFails, text);
  });

  it('binds a ciphertext to its context', () => {
    const sealed = vault.encrypt('s3cr3t', CTX);
    assert.throws(() => vault.decrypt(sealed, 'target:stage-db'), decryptFails);
    assert.throws(() => vault.decrypt(sealed, `${CTX} `), decryptFails);
    assert.throws(() => vault.encrypt('s3cr3t', ''), (err: unknown) => err instanceof WardenError);
  });

  it('fails with another key', () => {
    const sealed = vault.encrypt('s3cr3t', CTX);
    assert.throws(() => Vault.fromKey(randomBytes(32)).decrypt(sealed, CTX), decryptFails);
  });

  it('keeps no secret in the error it throws', () => {
    const sealed = vault.encrypt('s3cr3t', CTX);
    try {
      vault.decrypt(tamper(sealed, 3), CTX);
      assert.fail('decrypt should have thrown');
    } catch (err) {
      assert.ok(err instanceof WardenError);
      assert.equal(err.callerMessage, 'internal error in Warden');
      assert.ok(!`${err.message} ${err.detail}`.includes('s3cr3t'));
    }
  });

  it('creates the key file with mode 0600 and reuses it on reload', async () => {
    const file = path.join(dir, 'data', VAULT_KEY_FILE);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64').length, 32);
    const sealed = vault.encrypt('s3cr3t', CTX);
    const reloaded = await Vault.loadOrCreate(path.join(dir, 'data'), undefined);
    assert.equal(reloaded.source, 'file');
    assert.equal(reloaded.keyFingerprint, vault.keyFingerprint);
    assert.equal(reloaded.decrypt(sealed, CTX), 's3cr3t');
  });

  it('prefers the environment key over the file', async () => {
    const key = randomBytes(32);
    const fromEnv = await Vault.loadOrCreate(path.join(dir, 'data'), key.toString('base64'));
    assert.equal(fromEnv.source, 'env');
    assert.notEqual(fromEnv.keyFingerprint, vault.keyFingerprint);
    assert.equal(Vault.fromKey(key).decrypt(fromEnv.encrypt('s3cr3t', CTX), CTX), 's3cr3t');
    const urlSafe = await Vault.loadOrCreate(path.join(dir, 'data'), key.toString('base64url'));
    assert.equal(urlSafe.keyFingerprint, fromEnv.keyFingerprint);
    // An env key never creates a key file where there was none.
    const envOnly = path.join(dir, 'env-only');
    await Vault.loadOrCreate(envOnly, key.toString('base64'));
    await assert.rejects(stat(path.join(envOnly, VAULT_KEY_FILE)), { code: 'ENOENT' });
  });

  it('refuses malformed keys without echoing them', async () => {
    for (const bad of ['', 'c2hvcnQ=', randomBytes(31).toString('base64'), randomBytes(33).toString('base64'), '!!!']) {
      await assert.rejects(Vault.loadOrCreate(dir, bad), (err: unknown) => {
        assert.ok(err instanceof WardenError);
        assert.equal(err.code, 'WARDEN_ERR_BAD_REQUEST');
        assert.ok(bad === '' || !err.message.includes(bad));
        return true;
      });
    }
    const corrupt = path.join(dir, 'corrupt');
    await readOrCreateSecretFile(path.join(corrupt, VAULT_KEY_FILE), () => 'not a key\n');
    await assert.rejects(Vault.loadOrCreate(corrupt, undefined), { code: 'WARDEN_ERR_INTERNAL' });
  });

  it('lets concurrent creators agree on one key file', async () => {
    const file = path.join(dir, 'race', 'k');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => readOrCreateSecretFile(file, () => `key-${i}`)),
    );
    const text = await readFile(file, 'utf8');
    assert.ok(results.every((r) => r.text === text));
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.deepEqual(await readdir(path.join(dir, 'race')), ['k'], 'temporary files left behind');
  });
});
