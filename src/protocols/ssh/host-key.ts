/**
 * Warden's own SSH host key: one ed25519 key created on first start in the data dir (`ssh_host_ed25519_key`, 0600)
 * and reused afterwards, so callers can pin its fingerprint. Owns that file only; it never logs the private key and
 * never replaces a key that exists (a changed host key would make every caller's known_hosts warn).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import { WardenError } from '../../errors.js';
import { generateEd25519 } from './keygen.js';

/** The file name of Warden's host key in the data dir. */
export const HOST_KEY_FILE = 'ssh_host_ed25519_key';

/** Warden's host key: the private key text for the SSH server and the public facts callers pin. */
export interface HostKey {
  privateKey: string;
  /** `ssh-ed25519 AAAA...` (OpenSSH's one-line public key, no comment). */
  publicKey: string;
  /** `SHA256:...` as `ssh-keygen -l` prints it. */
  fingerprint: string;
}

/** OpenSSH's SHA-256 fingerprint of a public key blob (unpadded base64). */
export function fingerprintOfBlob(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Loads the host key from `dataDir`, creating it (0600) when it does not exist yet. */
export async function loadOrCreateHostKey(dataDir: string): Promise<HostKey> {
  const file = path.join(dataDir, HOST_KEY_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const pair = generateEd25519();
    try {
      // `wx`: two processes starting on one data dir never overwrite each other's key; the loser reads the winner's.
      await fs.writeFile(file, pair.private, { mode: 0o600, flag: 'wx' });
      await fs.writeFile(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 });
    } catch (writeErr) {
      if ((writeErr as NodeJS.ErrnoException).code !== 'EEXIST') throw writeErr;
    }
    text = await fs.readFile(file, 'utf8');
  }
  const parsed = ssh2.utils.parseKey(text);
  if (parsed instanceof Error || Array.isArray(parsed)) {
    throw new WardenError('WARDEN_ERR_INTERNAL', `the SSH host key ${file} could not be read`, { public: false,
      detail: parsed instanceof Error ? parsed.message : 'several keys in one file' });
  }
  const blob = parsed.getPublicSSH();
  return { privateKey: text, publicKey: `${parsed.type} ${blob.toString('base64')}`, fingerprint: fingerprintOfBlob(blob) };
}
