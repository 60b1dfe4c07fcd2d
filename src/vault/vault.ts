/**
 * The vault: backend secrets (target passwords) encrypted at rest with AES-256-GCM. Each secret gets a random
 * 12-byte IV and is bound to a context string (e.g. `target:prod-db`) as associated data, so a ciphertext copied
 * onto another target, or altered in any byte, fails to decrypt instead of yielding a secret.
 * Format: `v1.<base64url iv>.<base64url tag>.<base64url ciphertext>`; the version leaves room for key rotation.
 * This module must never log, return in an error, or persist a plaintext secret or the key.
 */
import {
  hkdfSync, createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { WardenError } from '../errors.js';
import { readOrCreateSecretFile } from './keyfile.js';

/** Name of the key file inside the data directory when no WARDEN_VAULT_KEY is given. */
export const VAULT_KEY_FILE = 'vault.key';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';

/** Decodes base64 or base64url text into exactly 32 key bytes, or returns undefined. */
function decodeKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return undefined;
  const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return key.length === KEY_BYTES ? key : undefined;
}

/** Strict base64url decoding: rejects text that does not re-encode identically, so no character is ignored. */
function fromB64url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

/** Associated data: the format version and the caller's context, so both are authenticated. */
function aad(context: string): Buffer {
  if (typeof context !== 'string' || context.length === 0) {
    throw new WardenError('WARDEN_ERR_INTERNAL', 'vault context must be a non-empty string', { public: false });
  }
  return Buffer.from(`warden-vault:${VERSION}:${context}`, 'utf8');
}

function decryptFailure(reason: string, context: string, cause?: unknown): WardenError {
  return new WardenError('WARDEN_ERR_INTERNAL', 'cannot decrypt a vault secret', {
    public: false,
    detail: `vault: ${reason} (context ${JSON.stringify(context)})`,
    cause,
  });
}

/** Encrypts and decrypts backend secrets with one AES-256-GCM key. */
export class Vault {
  readonly #key: Buffer;
  /** Where the key came from, for the startup log. */
  readonly source: 'env' | 'file' | 'memory';
  /** A short, non-secret key fingerprint (SHA-256 prefix) to tell replicas' keys apart in logs. */
  readonly keyFingerprint: string;

  private constructor(key: Buffer, source: 'env' | 'file' | 'memory') {
    this.#key = key;
    this.source = source;
    this.keyFingerprint = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  /**
   * Loads the key: from `envKey` (the value of WARDEN_VAULT_KEY, base64 of 32 bytes; defaults to reading that
   * variable) when set, else from `<dataDir>/vault.key`, created with 32 random bytes and mode 0600 on first use.
   * A set but malformed key is an error rather than a silent fallback: a replica with another key could not
   * read the secrets its peers wrote.
   */
  static async loadOrCreate(dataDir: string, envKey: string | undefined = process.env.WARDEN_VAULT_KEY): Promise<Vault> {
    if (envKey !== undefined) {
      const key = decodeKey(envKey);
      if (key === undefined) {
        throw new WardenError('WARDEN_ERR_BAD_REQUEST', 'WARDEN_VAULT_KEY must be the base64 encoding of 32 bytes');
      }
      return new Vault(key, 'env');
    }
    const file = path.join(dataDir, VAULT_KEY_FILE);
    const { text } = await readOrCreateSecretFile(file, () => `${randomBytes(KEY_BYTES).toString('base64')}\n`);
    const key = decodeKey(text);
    if (key === undefined) {
      throw new WardenError('WARDEN_ERR_INTERNAL', `vault key file ${file} does not hold base64 of 32 bytes`);
    }
    return new Vault(key, 'file');
  }

  /** A vault over raw key bytes (tests, tooling); the key must be 32 bytes. */
  static fromKey(key: Uint8Array): Vault {
    if (key.length !== KEY_BYTES) {
      throw new WardenError('WARDEN_ERR_INTERNAL', 'vault key must be 32 bytes', { public: false });
    }
    return new Vault(Buffer.from(key), 'memory');
  }

  /**
   * A key for another purpose derived from the vault key (HKDF-SHA256 with `label` as info), e.g. the keyed hash of
   * masking. Derived keys differ per label, so one use can never reveal another's key or the vault key.
   */
  deriveKey(label: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `warden:${label}`, 32));
  }

  /** Encrypts `plaintext` bound to `context` (e.g. `target:NAME`); the result is safe to store. */
  encrypt(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
  }

  /**
   * Decrypts a value made by `encrypt` with the same key and context. Any tampering, another key or another
   * context throws WardenError WARDEN_ERR_INTERNAL (not public: callers only learn that it failed).
   */
  decrypt(ciphertext: string, context: string): string {
    const associated = aad(context);
    const parts = typeof ciphertext === 'string' ? ciphertext.split('.') : [];
    if (parts.length !== 4 || parts[0] !== VERSION) throw decryptFailure('unknown format', context);
    const [iv, tag, body] = [fromB64url(parts[1]), fromB64url(parts[2]), fromB64url(parts[3])];
    if (iv?.length !== IV_BYTES || tag?.length !== TAG_BYTES || body === undefined) {
      throw decryptFailure('malformed parts', context);
    }
    try {
      const decipher = createDecipheriv(ALGORITHM, this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(associated);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch (err) {
      throw decryptFailure('authentication failed (tampered, wrong key or wrong context)', context, err);
    }
  }
}
