/**
 * SSH key pairs made by the real `ssh-keygen`, for tests of key registration, certificates and logins: the keys
 * are exactly what a caller's `~/.ssh` holds. Also `ssh-keygen -L` of a certificate, as text.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { runProcess } from './process.js';

/** A generated key pair on disk. */
export interface KeyPair {
  privatePath: string;
  publicPath: string;
  /** The `.pub` line. */
  publicText: string;
}

/** Key types tests generate: ed25519, ecdsa with a curve size, rsa with a modulus size, dsa (refused by Warden). */
export type KeySpec = 'ed25519' | 'ecdsa-256' | 'ecdsa-384' | 'ecdsa-521' | `rsa-${number}` | 'dsa';

/** Runs `ssh-keygen -t ...` without passphrase into `dir/name`; throws with its stderr when it fails. */
export async function generateKey(dir: string, name: string, spec: KeySpec, comment = `${name}@test`): Promise<KeyPair> {
  const [type, bits] = spec.split('-');
  const privatePath = path.join(dir, name);
  const args = ['-q', '-t', type, ...(bits ? ['-b', bits] : []), '-N', '', '-C', comment, '-f', privatePath];
  const result = await runProcess('ssh-keygen', args);
  if (result.code !== 0) throw new Error(`ssh-keygen ${args.join(' ')} failed: ${result.stderr}`);
  const publicPath = `${privatePath}.pub`;
  return { privatePath, publicPath, publicText: await readFile(publicPath, 'utf8') };
}

/** `ssh-keygen -L -f file` (times in UTC): the certificate as OpenSSH understands it; throws when it does not parse. */
export async function describeCertificate(file: string): Promise<string> {
  const result = await runProcess('ssh-keygen', ['-L', '-f', file], { env: { ...process.env, TZ: 'UTC' } });
  if (result.code !== 0) throw new Error(`ssh-keygen -L refused ${file}: ${result.stderr}`);
  return result.stdout;
}
